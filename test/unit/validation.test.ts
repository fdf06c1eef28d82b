import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadValidator, specHash } from '../../lib/validation/lazy-validator';
import { VALIDATORS, ValidatorName } from '../../lib/validation/specs';
import { standaloneModule } from '../../lib/validation/standalone';

const names = Object.keys(VALIDATORS) as ValidatorName[];

/** The validator as ajv compiles it at run time (what the project did before the standalone code). */
function compiled(name: ValidatorName) {
  const spec: (typeof VALIDATORS)[ValidatorName] = VALIDATORS[name];
  const ajv = new Ajv({ ...spec.options });
  if ('formats' in spec) addFormats(ajv, [...spec.formats]);
  return ajv.compile(spec.schema);
}

/** Documents that break each schema in several ways at once (allErrors reports them all). */
const invalid: Record<ValidatorName, unknown[]> = {
  manifest: [
    {},
    {
      metadata: { vendor: 3, arch: { rpm: 'x86_64' } },
      packages: [{ name: 'Bad Name', version: '1.x', sources: [{ id: 'a', sha256: 'zz' }] }],
      extra: 1,
    },
    { metadata: {}, packages: [{ name: 'p', version: '1', versionFrom: 'q', images: [{ name: 'i', digest: 'sha256:x' }] }] },
  ],
  'deployment-config': [
    {},
    { source: { type: 'svn', bucket: 'xn--bad' }, repositories: [{ name: 'UPPER' }], notificationEmails: ['not-an-email'], region: 'mars' },
  ],
  'release-manifest': [{ schemaVersion: 2, packages: [{ name: '', rpm: { version: '1' }, deb: 'x', images: [{ digest: 'sha1:0' }] }] }, []],
};

describe('standalone validators', () => {
  let tmp: string;
  beforeAll(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'ket-validators-'))));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it.each(names)('%s: gives the errors run-time compilation gives', (name) => {
    // No build output in `tmp`: the code is generated now, as from the TypeScript sources.
    const standalone = loadValidator(name, tmp);
    const reference = compiled(name);
    for (const doc of invalid[name]) {
      expect(standalone(doc)).toBe(false);
      expect(reference(doc)).toBe(false);
      expect(standalone.errors).toEqual(reference.errors);
      expect(standalone.errors!.length).toBeGreaterThan(0);
    }
  });

  it.each(names)('%s: needs only ajv runtime helpers, not ajv itself', (name) => {
    const requires = [...standaloneModule(VALIDATORS[name]).matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]);
    for (const r of requires) expect(r).toMatch(/^(ajv\/dist\/runtime\/|ajv-formats\/dist\/formats$)/);
  });

  it("uses the build's module only when it was made from the current spec", () => {
    // Modules standing in for the build's output accept everything, so which code ran shows.
    const built = (dir: string, hash: string) => {
      mkdirSync(path.join(tmp, dir));
      writeFileSync(
        path.join(tmp, dir, 'release-manifest.js'),
        `module.exports = () => true;\nmodule.exports.specHash = ${JSON.stringify(hash)};\n`,
      );
      return path.join(tmp, dir);
    };
    expect(loadValidator('release-manifest', built('current', specHash(VALIDATORS['release-manifest'])))({})).toBe(true);
    // Made from another schema or other options: generated afresh instead, which refuses {}.
    expect(loadValidator('release-manifest', built('stale', '0'.repeat(64)))({})).toBe(false);
  });
});

describe('validators inside a bundle', () => {
  // The clone engine CodeBuild runs is the CLI bundled by esbuild (lib/infra/clone.ts): no
  // node_modules next to it, and no build-written validator files, so the code is generated there.
  test('each validator works from an esbuild bundle with no node_modules around it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ket-validator-bundle-'));
    try {
      const entry = path.join(dir, 'entry.ts');
      const lazy = path.resolve(__dirname, '../../lib/validation/lazy-validator');
      writeFileSync(
        entry,
        `import { loadValidator } from ${JSON.stringify(lazy)};\n` +
          `const out = ${JSON.stringify(names)}.map((n) => { const v = loadValidator(n as never); return [n, v({}), v.errors?.length ?? 0]; });\n` +
          `process.stdout.write(JSON.stringify(out));\n`,
      );
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- devDependency, as lib/infra/clone.ts loads it
      const esbuild = require('esbuild') as typeof import('esbuild');
      const outfile = path.join(dir, 'out', 'bundle.js');
      esbuild.buildSync({ entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', outfile, logLevel: 'error' });
      const result = JSON.parse(execFileSync(process.execPath, [outfile], { cwd: path.dirname(outfile), encoding: 'utf8' })) as [
        string,
        boolean,
        number,
      ][];
      expect(result.map(([n]) => n)).toEqual(names);
      for (const [, valid, errors] of result) {
        expect(valid).toBe(false); // {} lacks required fields in every schema
        expect(errors).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
