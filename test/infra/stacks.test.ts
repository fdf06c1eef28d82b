import { Match } from 'aws-cdk-lib/assertions';
import { PackageRepository } from '../../lib/infra/package-repository';
import { committedConfig, list, logicalId, Statement, statementsOfRole, synthesize, Synthesized } from './support';

let s: Synthesized;
beforeAll(() => {
  s = synthesize();
});

describe('repositories stack', () => {
  test('resource counts: 2 repositories × (rpm, deb, state) + 1 log bucket, 4 distributions, a secret per repository', () => {
    const t = s.repositoriesTemplate;
    t.resourceCountIs('AWS::S3::Bucket', 7);
    t.resourceCountIs('AWS::CloudFront::Distribution', 4);
    t.resourceCountIs('AWS::CloudFront::OriginAccessControl', 4);
    t.resourceCountIs('AWS::SecretsManager::Secret', 2);
  });

  test('every repository bucket: private, TLS only, versioned, encrypted, logged, retained, noncurrent versions expire', () => {
    const t = s.repositoriesTemplate;
    const retention: Record<string, number> = { production: 365, staging: 30 };
    for (const [name, repo] of s.repositories.repositories) {
      for (const bucket of [repo.rpmBucket, repo.debBucket, repo.stateBucket]) {
        const id = logicalId(bucket);
        const resource = t.toJSON().Resources[id];
        expect(resource.DeletionPolicy).toBe('Retain');
        expect(resource.UpdateReplacePolicy).toBe('Retain');
        expect(resource.Properties).toMatchObject({
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          VersioningConfiguration: { Status: 'Enabled' },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          LoggingConfiguration: {
            DestinationBucketName: { Ref: logicalId(s.repositories.node.findChild('AccessLogs').node.findChild('Bucket') as never) },
          },
          LifecycleConfiguration: {
            Rules: [expect.objectContaining({ NoncurrentVersionExpiration: { NoncurrentDays: retention[name] }, Status: 'Enabled' })],
          },
        });
        t.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: id },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
      }
    }
  });

  test('every bucket of both stacks is retained on stack deletion and refuses plain HTTP', () => {
    for (const t of [s.repositoriesTemplate, s.pipelinesTemplate]) {
      const buckets = t.findResources('AWS::S3::Bucket');
      for (const [id, b] of Object.entries(buckets)) {
        expect([id, b.DeletionPolicy]).toEqual([id, 'Retain']);
        t.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: id },
          PolicyDocument: {
            Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
          },
        });
      }
    }
    // The access-log bucket, and an artifact and a cache bucket per trust zone.
    s.pipelinesTemplate.resourceCountIs('AWS::S3::Bucket', 5);
  });

  test('default bucket names are derived from prefix, repository, account and region', () => {
    const bucket = s.repositoriesTemplate.toJSON().Resources[logicalId(s.repositories.repository('staging').rpmBucket)];
    expect(bucket.Properties.BucketName).toEqual({
      'Fn::Join': ['-', ['kismatic-packages-staging-rpm', { Ref: 'AWS::AccountId' }, { Ref: 'AWS::Region' }]],
    });
  });

  test('only CloudFront (through origin access control, for its own distribution) may read the rpm and deb buckets; nobody may delete from them', () => {
    const t = s.repositoriesTemplate;
    for (const repo of s.repositories.repositories.values()) {
      for (const [bucket, dist] of [
        [repo.rpmBucket, repo.rpmDistribution],
        [repo.debBucket, repo.debDistribution],
      ] as const) {
        t.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: logicalId(bucket) },
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Allow',
                Principal: { Service: 'cloudfront.amazonaws.com' },
                Action: 's3:GetObject',
                Condition: {
                  StringEquals: {
                    'AWS:SourceArn': Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ Ref: logicalId(dist) }])]) }),
                  },
                },
              }),
            ]),
          },
        });
      }
      for (const bucket of [repo.rpmBucket, repo.debBucket]) {
        // Staging's deny excepts the staging clone role (a reset); production's excepts nobody
        // (test/infra/clone.test.ts checks both).
        t.hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: { Ref: logicalId(bucket) },
          PolicyDocument: {
            Statement: Match.arrayWith([
              {
                Sid: 'DenyDeletingPackages',
                Effect: 'Deny',
                Principal: { AWS: '*' },
                Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
                Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(bucket), 'Arn'] }, '/*']] },
                ...(repo.repositoryName === 'production' ? {} : { Condition: { ArnNotEquals: { 'aws:PrincipalArn': Match.anyValue() } } }),
              },
            ]),
          },
        });
      }
      // The state bucket is never an origin.
      const statePolicy = Object.values(
        t.findResources('AWS::S3::BucketPolicy', { Properties: { Bucket: { Ref: logicalId(repo.stateBucket) } } }),
      );
      expect(JSON.stringify(statePolicy)).not.toContain('cloudfront');
    }
  });

  test('metadata paths are cached briefly, packages long, HTTPS only', () => {
    const t = s.repositoriesTemplate;
    const policies = t.findResources('AWS::CloudFront::CachePolicy');
    const ttl = (ref: { Ref: string }) => policies[ref.Ref].Properties.CachePolicyConfig;
    const expected = { rpm: ['repodata/*', '*.repo', 'public.key', 'release.json*'], deb: ['dists/*', 'public.key', 'release.json*'] };
    for (const repo of s.repositories.repositories.values()) {
      for (const [kind, dist] of [
        ['rpm', repo.rpmDistribution],
        ['deb', repo.debDistribution],
      ] as const) {
        const config = t.toJSON().Resources[logicalId(dist)].Properties.DistributionConfig;
        expect(config.DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
        expect(ttl(config.DefaultCacheBehavior.CachePolicyId)).toMatchObject({
          DefaultTTL: 30 * 86400,
          MinTTL: 86400,
          MaxTTL: 365 * 86400,
        });
        expect(config.CacheBehaviors.map((b: { PathPattern: string }) => b.PathPattern)).toEqual(expected[kind]);
        for (const b of config.CacheBehaviors) {
          expect(b.ViewerProtocolPolicy).toBe('redirect-to-https');
          expect(ttl(b.CachePolicyId)).toMatchObject({ DefaultTTL: 60, MinTTL: 0, MaxTTL: 300 });
        }
        expect(config.Logging).toMatchObject({ Prefix: `cloudfront/${repo.repositoryName}-${kind}/` });
        expect(config.Origins).toHaveLength(1);
        expect(config.Origins[0].OriginAccessControlId).toBeDefined();
      }
    }
  });

  test('outputs: the kismatic.repo, apt line and public.key URLs of each repository', () => {
    const outputs = s.repositoriesTemplate.toJSON().Outputs;
    const domain = (d: { distributionDomainName: string }) => ({ 'Fn::GetAtt': [logicalId(d as never), 'DomainName'] });
    const prod = s.repositories.repository('production');
    expect(outputs.ProductionYumRepoFileUrl.Value).toEqual({
      'Fn::Join': ['', ['https://', domain(prod.rpmDistribution), '/kismatic.repo']],
    });
    expect(outputs.ProductionRpmPublicKeyUrl.Value).toEqual({
      'Fn::Join': ['', ['https://', domain(prod.rpmDistribution), '/public.key']],
    });
    expect(outputs.ProductionAptSourceLine.Value).toEqual({
      'Fn::Join': ['', ['deb https://', domain(prod.debDistribution), ' kismatic-xenial main']],
    });
    expect(outputs.ProductionDebPublicKeyUrl.Value).toEqual({
      'Fn::Join': ['', ['https://', domain(prod.debDistribution), '/public.key']],
    });
    for (const name of ['Staging', 'Production']) {
      for (const o of ['RpmBaseUrl', 'YumRepoFileUrl', 'RpmPublicKeyUrl', 'DebBaseUrl', 'AptSourceLine', 'DebPublicKeyUrl', 'StateUrl'])
        expect(outputs[`${name}${o}`]).toBeDefined();
    }
  });

  test('each repository has its own signing-key secret, named by the configuration and retained', () => {
    const t = s.repositoriesTemplate.toJSON().Resources;
    const names = { production: 'ket-packages/gpg-signing-key', staging: 'ket-packages/gpg-signing-key/staging' };
    for (const [repo, name] of Object.entries(names)) {
      const secret = t[logicalId(s.repositories.signingKey(repo))];
      expect(secret.Properties.Name).toBe(name);
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(secret.UpdateReplacePolicy).toBe('Retain');
    }
  });
});

describe('pipelines stack', () => {
  const stagesOf = (name: 'staging' | 'production') => {
    const p = s.pipelinesTemplate.toJSON().Resources[logicalId(s.pipelines.zones[name].pipeline.pipeline)].Properties;
    return p as {
      PipelineType: string;
      ExecutionMode: string;
      Triggers: unknown;
      ArtifactStore: { Location: unknown; EncryptionKey?: unknown };
      Stages: Array<{
        Name: string;
        Actions: Array<{
          Name: string;
          ActionTypeId: { Provider: string };
          Configuration: Record<string, unknown>;
          InputArtifacts?: Array<{ Name: string }>;
          OutputArtifacts?: Array<{ Name: string }>;
        }>;
      }>;
    };
  };

  test('two V2 pipelines in QUEUED mode, push-triggered on their branch, each with its own artifact bucket, no KMS key', () => {
    const t = s.pipelinesTemplate;
    t.resourceCountIs('AWS::CodePipeline::Pipeline', 2);
    t.resourceCountIs('AWS::KMS::Key', 0);
    s.repositoriesTemplate.resourceCountIs('AWS::KMS::Key', 0);
    for (const [name, branch] of [
      ['staging', 'dev'],
      ['production', 'master'],
    ] as const) {
      const p = stagesOf(name);
      expect(p.PipelineType).toBe('V2');
      expect(p.ExecutionMode).toBe('QUEUED');
      expect(p.Triggers).toEqual([
        {
          ProviderType: 'CodeStarSourceConnection',
          GitConfiguration: { SourceActionName: 'GitHub', Push: [{ Branches: { Includes: [branch] } }] },
        },
      ]);
      expect(p.ArtifactStore.EncryptionKey).toBeUndefined();
      expect(p.ArtifactStore.Location).toEqual({ Ref: logicalId(s.pipelines.zones[name].artifactBucket) });
      expect(p.Stages[0].Actions[0].Configuration).toMatchObject({
        BranchName: branch,
        FullRepositoryId: 'apprenda/kismatic-distro-packages',
        ConnectionArn: expect.stringMatching(/^arn:aws:codeconnections:/),
      });
    }
  });

  test('dev: Source → Build → Publish staging → Verify staging, no approval', () => {
    expect(stagesOf('staging').Stages.map((st) => st.Name)).toEqual(['Source', 'Build', 'PublishStaging', 'VerifyStaging']);
    expect(JSON.stringify(stagesOf('staging'))).not.toContain('"Manual"');
  });

  test('master: Source → Build → manual approval → Publish production → Verify production', () => {
    const stages = stagesOf('production').Stages;
    expect(stages.map((st) => st.Name)).toEqual(['Source', 'Build', 'Approve', 'PublishProduction', 'VerifyProduction']);
    const approval = stages[2].Actions[0];
    expect(approval.ActionTypeId.Provider).toBe('Manual');
    expect(approval.Configuration.NotificationArn).toEqual({ Ref: logicalId(s.pipelines.notificationTopic) });
    expect(approval.Configuration.ExternalEntityLink).toBe(
      'https://github.com/apprenda/kismatic-distro-packages/commit/#{SourceVariables.CommitId}',
    );
  });

  test('publish and verify take the artifact Build produced, next to the source', () => {
    for (const name of ['staging', 'production'] as const) {
      const stages = stagesOf(name).Stages;
      const build = stages.find((st) => st.Name === 'Build')!.Actions[0];
      expect(build.OutputArtifacts).toEqual([{ Name: 'BuildOutput' }]);
      for (const st of stages.filter((x) => /^(Publish|Verify)/.test(x.Name))) {
        expect(st.Actions[0].InputArtifacts).toEqual([{ Name: 'Source' }, { Name: 'BuildOutput' }]);
        expect(st.Actions[0].Configuration.PrimarySource).toBe('Source');
      }
    }
  });

  test('which project runs which buildspec, on Debian 12 with Node 22, with which settings', () => {
    const t = s.pipelinesTemplate.toJSON().Resources;
    const project = (p: { project: unknown }) => t[logicalId(p.project as never)].Properties;
    const env = (p: { project: unknown }) =>
      Object.fromEntries(
        project(p).Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown; Type: string }) => {
          expect(v.Type).toBe('PLAINTEXT');
          return [v.Name, v.Value];
        }),
      );
    for (const stage of ['staging', 'production'] as const) {
      const repo = s.repositories.repository(stage);
      const zone = s.pipelines.zones[stage];
      const secretArn = { 'Fn::ImportValue': expect.stringContaining(logicalId(s.repositories.signingKey(stage))) };
      expect(project(zone.build).Source.BuildSpec).toBe('buildspecs/build.yml');
      expect(JSON.stringify(project(zone.build).Cache)).toContain(logicalId(zone.cacheBucket));
      expect(env(zone.build)).toEqual({ KET_GPG_KEY_SECRET: secretArn });
      expect(project(s.pipelines.zones[stage].publish).Source.BuildSpec).toBe('buildspecs/publish.yml');
      expect(project(s.pipelines.zones[stage].verify).Source.BuildSpec).toBe('buildspecs/verify.yml');
      const publishEnv = env(s.pipelines.zones[stage].publish);
      expect(Object.keys(publishEnv).sort()).toEqual([
        'DEB_BASE_URL',
        'DEB_REPO',
        'KET_GPG_KEY_SECRET',
        'KET_STATE_URL',
        'RPM_BASE_URL',
        'RPM_REPO',
      ]);
      expect(JSON.stringify(publishEnv.RPM_REPO)).toContain(logicalId(repo.rpmBucket));
      expect(JSON.stringify(publishEnv.DEB_REPO)).toContain(logicalId(repo.debBucket));
      expect(JSON.stringify(publishEnv.KET_STATE_URL)).toContain(logicalId(repo.stateBucket));
      expect(publishEnv.KET_GPG_KEY_SECRET).toEqual(secretArn);
      const verifyEnv = env(s.pipelines.zones[stage].verify);
      expect(Object.keys(verifyEnv).sort()).toEqual(['DEB_URL', 'RPM_URL']);
      expect(JSON.stringify(verifyEnv.RPM_URL)).toContain(logicalId(repo.rpmDistribution));
    }
    for (const p of Object.values(t).filter((r) => (r as { Type: string }).Type === 'AWS::CodeBuild::Project') as Array<{
      Properties: { Environment: { Image: string; PrivilegedMode: boolean } };
    }>) {
      expect(p.Properties.Environment.Image).toBe('public.ecr.aws/docker/library/node:22-bookworm');
      expect(p.Properties.Environment.PrivilegedMode).toBe(false);
    }
  });

  test('approval requests and failures go to one topic with the configured email subscriptions', () => {
    const t = s.pipelinesTemplate;
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.resourcePropertiesCountIs('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'release-engineering@example.com' }, 1);
    t.resourceCountIs('AWS::Events::Rule', 2);
    for (const name of ['staging', 'production'] as const) {
      t.hasResourceProperties('AWS::Events::Rule', {
        EventPattern: {
          source: ['aws.codepipeline'],
          'detail-type': ['CodePipeline Pipeline Execution State Change'],
          detail: { state: ['FAILED'] },
          resources: [
            Match.objectLike({
              'Fn::Join': Match.arrayWith([Match.arrayWith([{ Ref: logicalId(s.pipelines.zones[name].pipeline.pipeline) }])]),
            }),
          ],
        },
        Targets: [Match.objectLike({ Arn: { Ref: logicalId(s.pipelines.notificationTopic) } })],
      });
    }
  });
});

/** What each role may do on S3, with resources named by bucket ("production.rpm", "artifacts"…). */
describe('least privilege', () => {
  type Bucket = 'production.rpm' | 'production.deb' | 'production.state' | 'staging.rpm' | 'staging.deb' | 'staging.state';
  let bucketIds: Array<[Bucket, string]>;
  beforeAll(() => {
    bucketIds = [...s.repositories.repositories.values()].flatMap((r: PackageRepository) => [
      [`${r.repositoryName}.rpm` as Bucket, logicalId(r.rpmBucket)],
      [`${r.repositoryName}.deb` as Bucket, logicalId(r.debBucket)],
      [`${r.repositoryName}.state` as Bucket, logicalId(r.stateBucket)],
    ]);
  });
  const repoBucketsIn = (resource: unknown): Bucket[] =>
    bucketIds.filter(([, id]) => JSON.stringify(resource).includes(id)).map(([b]) => b);

  /** Set of "action on bucket" strings for a role's statements that touch repository buckets. */
  const repoAccess = (statements: Statement[]) => {
    const out = new Set<string>();
    for (const st of statements) {
      expect(st.Effect).toBe('Allow');
      for (const r of list(st.Resource)) for (const b of repoBucketsIn(r)) for (const a of list(st.Action)) out.add(`${a} ${b}`);
    }
    return [...out].sort();
  };
  const roleOf = (p: { project: { role?: unknown } }) => logicalId(p.project.role as never);
  const allStatements = () => {
    const t = s.pipelinesTemplate;
    return Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
  };

  test('the build projects can touch no repository bucket', () => {
    for (const stage of ['staging', 'production'] as const)
      expect(repoAccess(statementsOfRole(s.pipelinesTemplate, roleOf(s.pipelines.zones[stage].build)))).toEqual([]);
  });

  test('the verify projects read over HTTPS only: no repository bucket access', () => {
    for (const stage of ['staging', 'production'] as const) {
      expect(repoAccess(statementsOfRole(s.pipelinesTemplate, roleOf(s.pipelines.zones[stage].verify)))).toEqual([]);
    }
  });

  test.each(['staging', 'production'] as const)('the %s publisher writes its own repository only, never deletes packages', (stage) => {
    const expected = [
      ...['rpm', 'deb'].flatMap((k) =>
        [
          's3:AbortMultipartUpload',
          's3:GetBucketLocation',
          's3:GetObject',
          's3:ListBucket',
          's3:ListBucketMultipartUploads',
          's3:ListMultipartUploadParts',
          's3:PutObject',
        ].map((a) => `${a} ${stage}.${k}`),
      ),
      ...['s3:GetBucketLocation', 's3:GetObject', 's3:ListBucket', 's3:PutObject'].map((a) => `${a} ${stage}.state`),
    ].sort();
    const access = repoAccess(statementsOfRole(s.pipelinesTemplate, roleOf(s.pipelines.zones[stage].publish)));
    expect(access).toEqual(expected);
    const other = stage === 'staging' ? 'production' : 'staging';
    expect(access.filter((a) => a.includes(`${other}.`))).toEqual([]);
  });

  test('object-level actions are on object ARNs, bucket-level ones on bucket ARNs, no deletes at all', () => {
    const statements = statementsOfRole(s.pipelinesTemplate, roleOf(s.pipelines.zones.production.publish));
    for (const st of statements.filter((x) => repoBucketsIn(x.Resource).length > 0)) {
      const resources = list(st.Resource).map((r) => JSON.stringify(r));
      const objectLevel = list(st.Action).every((a) => /Object|MultipartUpload(?!s)|ListMultipartUploadParts/.test(a));
      for (const r of resources) expect(r.endsWith(objectLevel ? '/*"]]}' : '"}')).toBe(true);
      for (const a of list(st.Action)) expect(a).not.toMatch(/Delete/);
    }
  });

  test('no role in either stack may delete from an rpm or deb bucket, except the staging clone on staging (a reset)', () => {
    const clone = logicalId(s.pipelines.clone.role as never);
    for (const st of allStatements()) {
      const packageBuckets = repoBucketsIn(st.Resource).filter((b) => !b.endsWith('.state'));
      if (packageBuckets.length === 0) continue;
      const cloneOnStaging =
        statementsOfRole(s.pipelinesTemplate, clone).some((x) => JSON.stringify(x) === JSON.stringify(st)) &&
        packageBuckets.every((b) => b.startsWith('staging.'));
      for (const a of list(st.Action))
        expect(a).not.toMatch(
          cloneOnStaging
            ? /^s3:(\*|DeleteObjectVersion|PutLifecycle|PutBucketPolicy|PutBucketVersioning)/
            : /^s3:(\*|Delete|PutLifecycle|PutBucketPolicy|PutBucketVersioning)/,
        );
    }
    s.repositoriesTemplate.resourceCountIs('AWS::IAM::Policy', 0);
  });

  test("only the build and publish roles can read a signing-key secret, each its own zone's", () => {
    const t = s.pipelinesTemplate;
    const readers = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) =>
        (p.Properties.PolicyDocument.Statement as Statement[]).some((st) => list(st.Action).some((a) => a.startsWith('secretsmanager:'))),
      )
      .flatMap((p) => p.Properties.Roles.map((r: { Ref: string }) => r.Ref))
      .sort();
    const zones = ['staging', 'production'] as const;
    // And the staging clone, which signs a clone into a staging-zone repository with that repository's key.
    const clone = logicalId(s.pipelines.clone.role as never);
    expect(readers).toEqual(
      [...zones.flatMap((z) => [roleOf(s.pipelines.zones[z].build), roleOf(s.pipelines.zones[z].publish)]), clone].sort(),
    );
    expect(
      statementsOfRole(t, clone)
        .filter((st) => list(st.Action).some((a) => a.startsWith('secretsmanager:')))
        .map((st) => st.Resource),
    ).toEqual([{ 'Fn::ImportValue': expect.stringContaining(logicalId(s.repositories.signingKey('staging'))) }]);
    for (const z of zones) {
      for (const role of [roleOf(s.pipelines.zones[z].build), roleOf(s.pipelines.zones[z].publish)]) {
        const secretStatements = statementsOfRole(t, role).filter((st) => list(st.Action).some((a) => a.startsWith('secretsmanager:')));
        expect(secretStatements).toEqual([
          {
            Effect: 'Allow',
            Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
            Resource: { 'Fn::ImportValue': expect.stringContaining(logicalId(s.repositories.signingKey(z))) },
          },
        ]);
      }
    }
  });

  test('grantRead gives get and list, nothing that writes', () => {
    const { App, Stack } = jest.requireActual('aws-cdk-lib') as typeof import('aws-cdk-lib');
    const { Role, ServicePrincipal } = jest.requireActual('aws-cdk-lib/aws-iam') as typeof import('aws-cdk-lib/aws-iam');
    const { Bucket } = jest.requireActual('aws-cdk-lib/aws-s3') as typeof import('aws-cdk-lib/aws-s3');
    const { Template } = jest.requireActual('aws-cdk-lib/assertions') as typeof import('aws-cdk-lib/assertions');
    const stack = new Stack(new App(), 'ReadTest');
    const repo = new PackageRepository(stack, 'Repo', { repositoryName: 'one', accessLogsBucket: new Bucket(stack, 'Logs') });
    const role = new Role(stack, 'Reader', { assumedBy: new ServicePrincipal('codebuild.amazonaws.com') });
    repo.grantRead(role);
    const actions = statementsOfRole(Template.fromStack(stack), logicalId(role))
      .flatMap((st) => list(st.Action))
      .sort();
    expect(actions).toEqual(['s3:GetBucketLocation', 's3:GetObject', 's3:ListBucket']);
  });
});

describe('other sources and a pinned environment', () => {
  const base = () => committedConfig();

  test('CodeCommit: branch-filtered source actions, commit link in the approval, account and region pinned', () => {
    const c = {
      ...base(),
      account: '111122223333',
      region: 'eu-west-1',
      source: { type: 'codecommit' as const, repository: 'kismatic-distro-packages' },
    };
    const r = synthesize(c);
    expect(r.pipelines.account).toBe('111122223333');
    expect(r.pipelines.region).toBe('eu-west-1');
    const pipelines = Object.values(r.pipelinesTemplate.findResources('AWS::CodePipeline::Pipeline')).map((p) => p.Properties);
    expect(pipelines.map((p) => p.Stages[0].Actions[0].Configuration)).toEqual([
      expect.objectContaining({ RepositoryName: 'kismatic-distro-packages', BranchName: 'dev', PollForSourceChanges: false }),
      expect.objectContaining({ RepositoryName: 'kismatic-distro-packages', BranchName: 'master', PollForSourceChanges: false }),
    ]);
    expect(pipelines.map((p) => p.Triggers)).toEqual([undefined, undefined]);
    const approval = pipelines[1].Stages[2].Actions[0].Configuration;
    expect(approval.ExternalEntityLink).toBe(
      'https://eu-west-1.console.aws.amazon.com/codesuite/codecommit/repositories/kismatic-distro-packages/commit/#{SourceVariables.CommitId}?region=eu-west-1',
    );
    const bucket = r.repositoriesTemplate.toJSON().Resources[logicalId(r.repositories.repository('production').rpmBucket)];
    expect(bucket.Properties.BucketName).toBe('kismatic-packages-production-rpm-111122223333-eu-west-1');
  });

  test('S3: one key per branch', () => {
    const r = synthesize({ ...base(), source: { type: 's3', bucket: 'ket-sources', prefix: 'kismatic-distro-packages/' } });
    const configs = Object.values(r.pipelinesTemplate.findResources('AWS::CodePipeline::Pipeline')).map(
      (p) => p.Properties.Stages[0].Actions[0].Configuration,
    );
    expect(configs).toEqual([
      expect.objectContaining({ S3Bucket: 'ket-sources', S3ObjectKey: 'kismatic-distro-packages/dev.zip' }),
      expect.objectContaining({ S3Bucket: 'ket-sources', S3ObjectKey: 'kismatic-distro-packages/master.zip' }),
    ]);
  });
});
