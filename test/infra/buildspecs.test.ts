import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { ARTIFACT_SHA256_VARIABLE, BUILDSPECS } from '../../lib/infra/projects';
import { ARTIFACTS } from '../../lib/infra/release-pipeline';
import { logicalId, ROOT, synthesize, Synthesized } from './support';

interface BuildSpec {
  version: number;
  env: { shell: string; 'exported-variables'?: string[] };
  phases: { install: { 'runtime-versions'?: Record<string, unknown>; commands: string[] }; build: { commands: string[] } };
  artifacts?: { files: string[] };
  cache?: { paths: string[] };
}

const spec = (file: string) => parse(readFileSync(path.join(ROOT, file), 'utf8')) as BuildSpec;

let s: Synthesized;
beforeAll(() => {
  s = synthesize();
});

describe('buildspecs: tools, then ket-packages', () => {
  test.each(Object.entries(BUILDSPECS))('%s: installs with scripts/install-deps.sh (as CI does), then calls ket-packages', (name, file) => {
    const b = spec(file);
    expect(b.version).toBe(0.2);
    expect(b.env.shell).toBe('bash');
    // runtime-versions works only on CodeBuild's curated images; the projects run Docker's Node image.
    expect(b.phases.install['runtime-versions']).toBeUndefined();
    expect(b.phases.install.commands).toEqual(['bash scripts/install-deps.sh']);
    // The CLI that npm ci compiled (its prepare step), started directly: npx would resolve the
    // project's own bin through its cache on every call.
    expect(b.phases.build.commands[0]).toMatch(new RegExp(`^node dist/bin/ket-packages.js ${name} `));
    for (const c of b.phases.build.commands) expect(c).toMatch(/^(export [A-Z_0-9]+="\$\()?node dist\/bin\/ket-packages\.js /);
  });

  test('build: signs with the secret the project names, caches downloads in S3, exports the artifact sha256, hands on build/ and release.yaml', () => {
    const b = spec(BUILDSPECS.build);
    expect(b.phases.build.commands).toEqual([
      'node dist/bin/ket-packages.js build --out build',
      `export ${ARTIFACT_SHA256_VARIABLE}="$(node dist/bin/ket-packages.js artifact-sha256 build)"`,
    ]);
    expect(b.env['exported-variables']).toEqual([ARTIFACT_SHA256_VARIABLE]);
    expect(b.cache?.paths).toEqual(['.cache/ket-packages/**/*']);
    expect(b.artifacts?.files).toEqual(['build/**/*', 'release.yaml']);
  });

  test('publish and verify read the Build artifact through its secondary-input directory', () => {
    const dir = `$CODEBUILD_SRC_DIR_${ARTIFACTS.build}`;
    expect(spec(BUILDSPECS.publish).phases.build.commands[0]).toContain(`--from "${dir}/build"`);
    expect(spec(BUILDSPECS.verify).phases.build.commands[0]).toContain(`--manifest "${dir}/release.yaml"`);
  });

  test('every variable a buildspec uses is set by each project that runs it', () => {
    const resources = s.pipelinesTemplate.toJSON().Resources;
    const projects = (['staging', 'production'] as const).flatMap((z) => {
      const zone = s.pipelines.zones[z];
      return [
        [BUILDSPECS.build, zone.build],
        [BUILDSPECS.publish, zone.publish],
        [BUILDSPECS.verify, zone.verify],
      ] as const;
    });
    for (const [file, p] of projects) {
      const props = resources[logicalId(p.project)].Properties;
      expect(props.Source.BuildSpec).toBe(file);
      const set = new Set<string>(props.Environment.EnvironmentVariables.map((v: { Name: string }) => v.Name));
      const exported = new Set(spec(file).env['exported-variables'] ?? []);
      const used = [
        ...spec(file)
          .phases.build.commands.join(' ')
          .matchAll(/\$([A-Z_][A-Za-z0-9_]*)/g),
      ].map((m) => m[1]);
      for (const v of used.filter((x) => !x.startsWith('CODEBUILD_') && !exported.has(x)))
        expect([file, v, set.has(v)]).toEqual([file, v, true]);
    }
    // The build gets the secret's ARN to read the key itself, never the key.
    expect(spec(BUILDSPECS.build).phases.build.commands.join()).not.toContain('KET_GPG_KEY_SECRET');
  });
});
