import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadManifest } from '../../lib/manifest/load';

// loadManifestOffThread runs its worker only from compiled code (dist/, made by `npm run build`,
// which `npm test` runs first): the compiled module is what this tests.
const DIST = path.resolve(__dirname, '../../dist/lib');
type OffThread = typeof import('../../lib/manifest/load-off-thread');
type Load = typeof import('../../lib/manifest/load');
type Errors = typeof import('../../lib/util/errors');

function compiled<T>(rel: string): T {
  const file = path.join(DIST, `${rel}.js`);
  if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the compiled module, on purpose
  return require(file) as T;
}

describe('loadManifestOffThread (compiled, on a worker thread)', () => {
  const { loadManifestOffThread } = compiled<OffThread>('manifest/load-off-thread');
  const { ManifestError } = compiled<Load>('manifest/load');
  const { UserError } = compiled<Errors>('util/errors');
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'ket-manifest-thread-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has its worker script beside it', () => {
    expect(existsSync(path.join(DIST, 'manifest/load-worker.js'))).toBe(true);
  });

  it('returns what loadManifest returns', async () => {
    const file = path.resolve(__dirname, '../../release.yaml');
    expect(await loadManifestOffThread(file)).toEqual(loadManifest(file));
  });

  it('rejects an invalid manifest with a ManifestError holding every problem', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'metadata: {}\npackages: []\nsurprise: 1\n');
    const error = await loadManifestOffThread(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    const expected = (() => {
      try {
        loadManifest(file);
      } catch (e) {
        return e as Error & { problems: readonly string[] };
      }
      throw new Error('loadManifest accepted the bad manifest');
    })();
    expect((error as typeof expected).problems).toEqual(expected.problems);
    expect((error as Error).message).toBe(expected.message);
  });

  it('rejects a YAML syntax error with the reason, line, column and code frame, as loadManifest does', async () => {
    const file = path.join(dir, 'syntax.yaml');
    writeFileSync(file, 'metadata:\n  vendor: a: b\n');
    const error = await loadManifestOffThread(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as Error).message).toBe(
      `${file}: invalid release manifest:\n` +
        '  - YAML syntax error at line 2, column 11: Nested mappings are not allowed in compact mappings\n' +
        '        vendor: a: b\n' +
        '                ^',
    );
  });

  it('rejects a missing file with a UserError naming it', async () => {
    const file = path.join(dir, 'absent.yaml');
    const error = await loadManifestOffThread(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/absent\.yaml: cannot read the release manifest/);
  });
});
