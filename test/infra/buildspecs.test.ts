import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { BUILDSPECS } from '../../lib/infra/projects';
import { ARTIFACTS } from '../../lib/infra/release-pipeline';
import { logicalId, ROOT, synthesize, Synthesized } from './support';

interface BuildSpec {
  version: number;
  phases: { install: { 'runtime-versions': Record<string, unknown>; commands: string[] }; build: { commands: string[] } };
  artifacts?: { files: string[] };
  cache?: { paths: string[] };
}

const spec = (file: string) => parse(readFileSync(path.join(ROOT, file), 'utf8')) as BuildSpec;

let s: Synthesized;
beforeAll(() => {
  s = synthesize();
});

describe('buildspecs: tools, then one ket-packages call', () => {
  test.each(Object.entries(BUILDSPECS))('%s: install phase installs tools only, build phase is one ket-packages command', (name, file) => {
    const b = spec(file);
    expect(b.version).toBe(0.2);
    expect(b.phases.install['runtime-versions']).toEqual({ nodejs: 20 });
    for (const c of b.phases.install.commands)
      expect(c).toMatch(/^(apt-get update|DEBIAN_FRONTEND=noninteractive apt-get install -y|npm ci|test -x \/usr\/bin\/aws \|\| ln -s)/);
    expect(b.phases.build.commands).toHaveLength(1);
    expect(b.phases.build.commands[0]).toMatch(new RegExp(`^npx ket-packages ${name} `));
  });

  test('build: signs with the secret the project names, caches downloads in S3, hands on build/ and release.yaml', () => {
    const b = spec(BUILDSPECS.build);
    expect(b.phases.build.commands[0]).toBe('npx ket-packages build --out build');
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
    const projects = [
      [BUILDSPECS.build, s.pipelines.buildProject],
      [BUILDSPECS.publish, s.pipelines.publishProjects.staging],
      [BUILDSPECS.publish, s.pipelines.publishProjects.production],
      [BUILDSPECS.verify, s.pipelines.verifyProjects.staging],
      [BUILDSPECS.verify, s.pipelines.verifyProjects.production],
    ] as const;
    for (const [file, p] of projects) {
      const props = resources[logicalId(p.project)].Properties;
      expect(props.Source.BuildSpec).toBe(file);
      const set = new Set<string>(props.Environment.EnvironmentVariables.map((v: { Name: string }) => v.Name));
      const used = [
        ...spec(file)
          .phases.build.commands.join(' ')
          .matchAll(/\$([A-Z_][A-Za-z0-9_]*)/g),
      ].map((m) => m[1]);
      for (const v of used.filter((x) => !x.startsWith('CODEBUILD_'))) expect([file, v, set.has(v)]).toEqual([file, v, true]);
    }
    // The build gets the secret's ARN to read the key itself, never the key.
    expect(spec(BUILDSPECS.build).phases.build.commands.join()).not.toContain('KET_GPG_KEY_SECRET');
  });
});
