import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { newApp, synthesize, Synthesized } from './support';

let outdir: string;
let s: Synthesized;
beforeAll(() => {
  outdir = mkdtempSync(path.join(os.tmpdir(), 'ket-cdk-'));
  s = synthesize(undefined, outdir);
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('cdk-nag AwsSolutions', () => {
  test('synthesis with the pack passes and its report lists no unacknowledged finding, error or warning', () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations?: unknown[] }>;
    };
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
    for (const stack of [s.repositories, s.pipelines]) {
      expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
      expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
    }
  });

  test('every acknowledgement carries a reason', () => {
    const acks = [s.repositories, s.pipelines]
      .flatMap((st) => st.node.findAll())
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    const ids = new Set(acks.map(([id]) => id.replace(/^[^:]+::/, '').replace(/\[.*$/, '')));
    // The rules accepted on purpose, and only these (IAM5 finding by finding).
    expect([...ids].sort()).toEqual([
      'AwsSolutions-CB4',
      'AwsSolutions-CFR1',
      'AwsSolutions-CFR2',
      'AwsSolutions-CFR4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-SF2',
      'AwsSolutions-SMG4',
    ]);
    for (const [, reason] of acks) expect(reason.length).toBeGreaterThan(40);
  });

  test('control: the same pack fails synthesis on an unacknowledged finding', () => {
    const app = newApp();
    const stack = new Stack(app, 'Control');
    new s3.Bucket(stack, 'Plain');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });
});

/** Asset and content hashes change with unrelated edits (or cdk-lib versions); the shape must not. */
function normalise(template: unknown): unknown {
  return JSON.parse(JSON.stringify(template).replace(/[a-f0-9]{64}/g, '<HASH>'));
}

describe('templates', () => {
  test.each(['repositories', 'pipelines'] as const)('%s stack matches the snapshot', (which) => {
    const stack = which === 'repositories' ? s.repositories : s.pipelines;
    expect(normalise(Template.fromStack(stack).toJSON())).toMatchSnapshot();
  });
});
