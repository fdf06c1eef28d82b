import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { editedConfig, synthesize, Synthesized } from './support';

let outdir: string;
let s: Synthesized;
beforeAll(() => {
  outdir = mkdtempSync(path.join(os.tmpdir(), 'ket-cdk-templates-'));
  s = synthesize(undefined, outdir);
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const STATEFUL = /^AWS::(S3::Bucket|CloudFront::Distribution|SecretsManager::Secret)$/;

function statefulIds(template: { [key: string]: unknown }): string[] {
  const resources = template.Resources as Record<string, { Type: string }>;
  return Object.entries(resources)
    .filter(([, r]) => STATEFUL.test(r.Type))
    .map(([id, r]) => `${r.Type} ${id}`)
    .sort();
}

describe('templates', () => {
  /**
   * A changed logical ID replaces the resource: a retained bucket is orphaned and a new, empty one
   * created; a distribution gets a new *.cloudfront.net domain that released KET versions do not
   * reach; a retained secret is left behind with the key in it. These IDs are the ones main
   * deployed before the trust zones (recorded from daa2ee2), plus the trust zones' new ones.
   */
  test('the logical IDs of every stateful resource (buckets, distributions, secrets) stay as deployed', () => {
    expect(statefulIds(s.repositoriesTemplate.toJSON())).toEqual(
      [
        'AWS::S3::Bucket AccessLogsBucketCD784A59',
        'AWS::S3::Bucket RepositoryproductionRpmBucket38206798',
        'AWS::S3::Bucket RepositoryproductionDebBucket89C0A4F8',
        'AWS::S3::Bucket RepositoryproductionStateBucket1103E02A',
        'AWS::CloudFront::Distribution RepositoryproductionRpmDistribution53E9A938',
        'AWS::CloudFront::Distribution RepositoryproductionDebDistributionAF5E2767',
        'AWS::S3::Bucket RepositorystagingRpmBucketDA0367DA',
        'AWS::S3::Bucket RepositorystagingDebBucketAAC33F73',
        'AWS::S3::Bucket RepositorystagingStateBucket4CBD7FA5',
        'AWS::CloudFront::Distribution RepositorystagingRpmDistribution46F5FD21',
        'AWS::CloudFront::Distribution RepositorystagingDebDistribution4A5ED9AF',
        // The production repository's key: the one secret earlier versions created.
        'AWS::SecretsManager::Secret SigningKeyEEFC2790',
        // New with the trust zones: the staging repository's own key.
        'AWS::SecretsManager::Secret SigningKeystaging27B760F3',
      ].sort(),
    );
    expect(statefulIds(s.pipelinesTemplate.toJSON())).toEqual(
      [
        'AWS::S3::Bucket AccessLogsBucketCD784A59',
        // The shared ArtifactBucket7410C9EF and CacheBucket41D9D0B0 were writable by dev builds; each
        // trust zone has its own now (the old ones are retained in the account and expire their objects).
        'AWS::S3::Bucket StagingArtifactBucketBC8B46D0',
        'AWS::S3::Bucket StagingCacheBucket0FFFE315',
        'AWS::S3::Bucket ProductionArtifactBucketC6A00CD7',
        'AWS::S3::Bucket ProductionCacheBucketF5854D40',
      ].sort(),
    );
  });

  test('cfn-lint (with informational checks) reports no error and no I3510 on either template', () => {
    const templates = readdirSync(outdir)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => path.join(outdir, f));
    expect(templates).toHaveLength(2);
    const r = spawnSync('cfn-lint', ['--include-checks', 'I', '--format', 'json', '--', ...templates], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.error).toBeUndefined();
    const findings = JSON.parse(r.stdout || '[]') as Array<{ Rule: { Id: string }; Message: string }>;
    const ids = findings.map((f) => `${f.Rule.Id} ${f.Message}`);
    expect(ids.filter((f) => /^E|^I3510/.test(f))).toEqual([]);
    // What remains is how CDK writes templates: Fn::Join with an empty delimiter where cfn-lint
    // would prefer Fn::Sub (I1022), and a DependsOn next to a GetAtt on the pipeline roles (W3005).
    expect(ids.filter((f) => !/^(I1022|W3005) /.test(f))).toEqual([]);
  });

  test('the example configuration is refused at deploy time by a CloudFormation rule; an edited one carries none', () => {
    const t = s.pipelinesTemplate.toJSON() as {
      Rules?: Record<string, { Assertions: Array<{ Assert: unknown; AssertDescription: string }> }>;
      Parameters: Record<string, { Default?: string }>;
    };
    const rule = t.Rules?.RefusePlaceholderConfiguration;
    expect(rule?.Assertions[0].Assert).toEqual({ 'Fn::Equals': [{ Ref: 'PlaceholderConfiguration' }, 'none'] });
    expect(rule?.Assertions[0].AssertDescription).toContain('field "source.connectionArn"');
    // The default is what CloudFormation checks: it is not "none", so the assertion fails.
    expect(t.Parameters.PlaceholderConfiguration.Default).toContain('notificationEmails[0]');
    const edited = synthesize(editedConfig()).pipelinesTemplate.toJSON() as { Rules?: Record<string, unknown>; Parameters: object };
    expect(Object.keys(edited.Rules ?? {})).not.toContain('RefusePlaceholderConfiguration');
    expect(Object.keys(edited.Parameters)).not.toContain('PlaceholderConfiguration');
  });
});
