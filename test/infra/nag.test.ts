import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { addKetStacks } from '../../lib/infra/stacks';
import { committedConfig, editedConfig, newApp, synthesize, Synthesized } from './support';

let outdir: string;
let s: Synthesized;
beforeAll(() => {
  outdir = mkdtempSync(path.join(os.tmpdir(), 'ket-cdk-'));
  s = synthesize(undefined, outdir);
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('cdk-nag AwsSolutions', () => {
  test('synthesis with the pack passes and its report lists no unacknowledged finding or error', () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations?: unknown[] }>;
    };
    expect(report.pluginReports.flatMap((r) => r.violations ?? [])).toEqual([]);
    for (const stack of [s.repositories, s.pipelines]) expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });

  test('the only warning is the placeholder one, and only while the example values are in place', () => {
    expect(Annotations.fromStack(s.repositories).findWarning('*', Match.anyValue())).toEqual([]);
    const warnings = Annotations.fromStack(s.pipelines).findWarning('*', Match.anyValue());
    expect(warnings.map((w) => String(w.entry.data))).toEqual([
      expect.stringMatching(
        /^deploy\.config\.yaml: replace the example values before deploying: field "source\.connectionArn" is the example's all-zero connection ARN .*; field "notificationEmails\[0\]" is an example address \(release-engineering@example\.com\)/,
      ),
    ]);
    const edited = synthesize(editedConfig());
    for (const stack of [edited.repositories, edited.pipelines])
      expect(Annotations.fromStack(stack).findWarning('*', Match.anyValue())).toEqual([]);
  });

  test('every acknowledgement carries a reason; wildcards are acknowledged finding by finding, never by rule', () => {
    const acks = [s.repositories, s.pipelines]
      .flatMap((st) => st.node.findAll())
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    const ids = acks.map(([id]) => id.replace(/^[^:]+::/, ''));
    expect([...new Set(ids.map((id) => id.replace(/\[.*$/, '')))].sort()).toEqual([
      'AwsSolutions-CB4',
      'AwsSolutions-CB5',
      'AwsSolutions-CFR1',
      'AwsSolutions-CFR2',
      'AwsSolutions-CFR4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-SF2',
      'AwsSolutions-SMG4',
    ]);
    expect(ids.filter((id) => id === 'AwsSolutions-IAM5')).toEqual([]);
    for (const [, reason] of acks) expect(reason.length).toBeGreaterThan(40);
  });

  test('control: the same pack fails synthesis on an unacknowledged finding', () => {
    const app = newApp();
    const stack = new Stack(app, 'Control');
    new s3.Bucket(stack, 'Plain');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
  });

  test.each([
    [
      'a production repository bucket granted to the staging publisher',
      (k: ReturnType<typeof addKetStacks>) =>
        k.repositories.repository('production').rpmBucket.grantReadWrite(k.pipelines.zones.staging.publish.project),
      /Repositoryproduction.*RpmBucket/,
    ],
    [
      "production's artifact bucket granted to the staging build",
      (k: ReturnType<typeof addKetStacks>) =>
        k.pipelines.zones.production.artifactBucket.grantReadWrite(k.pipelines.zones.staging.build.project),
      /ProductionArtifactBucket/,
    ],
    [
      "production's cache bucket granted to the staging build",
      (k: ReturnType<typeof addKetStacks>) => k.pipelines.zones.production.cacheBucket.grantPut(k.pipelines.zones.staging.build.project),
      /ProductionCacheBucket/,
    ],
  ])('%s is an unacknowledged finding that fails synthesis', (_what, grant, bucket) => {
    const app = newApp();
    const stacks = addKetStacks(app, committedConfig());
    grant(stacks);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let message = '';
    try {
      app.synth();
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/AwsSolutions-IAM5/);
    const finding = message.split('\n').find((l) => /Acknowledge with 'AwsSolutions::AwsSolutions-IAM5\[Resource::/.test(l)) ?? '';
    expect(finding).toMatch(bucket);
  });
});
