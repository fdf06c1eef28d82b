import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { DeploymentConfig } from '../config/types';
import { AccessLogBucket, privateBucketProps } from './buckets';
import { PackageRepository } from './package-repository';
import { BuildProject, PublishProject, VerifyProject } from './projects';
import { ReleasePipeline } from './release-pipeline';
import { CloneMachinery, cloneRoleName } from './clone';

export interface RepositoriesStackProps extends StackProps {
  readonly config: DeploymentConfig;
}

/**
 * The stateful half: every package repository (buckets + CloudFront), their access logs and the
 * signing-key secret. Everything in it is retained when the stack is deleted, and it changes
 * rarely, so it is deployed apart from the pipelines, which can be torn down and redeployed freely.
 */
export class RepositoriesStack extends Stack {
  readonly repositories: ReadonlyMap<string, PackageRepository>;
  readonly signingKey: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: RepositoriesStackProps) {
    super(scope, id, props);
    const c = props.config;
    const logs = new AccessLogBucket(this, 'AccessLogs');
    const repositories = new Map<string, PackageRepository>();
    for (const r of c.repositories) {
      repositories.set(
        r.name,
        new PackageRepository(this, `Repository-${r.name}`, {
          repositoryName: r.name,
          accessLogsBucket: logs.bucket,
          bucketNamePrefix: c.bucketNamePrefix,
          rpmBucketName: r.rpmBucketName,
          debBucketName: r.debBucketName,
          stateBucketName: r.stateBucketName,
          noncurrentVersionExpiration: Duration.days(r.noncurrentVersionRetentionDays),
          resetRoleArn:
            r.name === c.pipelines.production.repository
              ? undefined
              : Stack.of(this).formatArn({
                  service: 'iam',
                  region: '',
                  resource: 'role',
                  resourceName: cloneRoleName(c.stackPrefix, 'staging'),
                }),
        }),
      );
    }
    this.repositories = repositories;
    this.signingKey = new secretsmanager.Secret(this, 'SigningKey', {
      secretName: c.signingKeySecretName,
      description:
        'GPG key that signs the KET packages and repositories: {"privateKey", "passphrase"?}, written by `ket-packages keys import`',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.signingKey, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'A GPG signing key cannot be rotated by a Lambda: clients trust its public half, so rotating it is a planned release-engineering step (keys import).',
      },
    ]);
  }

  /** The repository with this name; the config loader guarantees the pipelines' names exist. */
  repository(name: string): PackageRepository {
    const r = this.repositories.get(name);
    if (!r) throw new Error(`no repository named ${name}`);
    return r;
  }
}

export interface PipelinesStackProps extends StackProps {
  readonly config: DeploymentConfig;
  readonly repositories: RepositoriesStack;
}

/**
 * The stateless half: CodeBuild projects, the staging and production pipelines, their artifact
 * and cache buckets, and the notification topic.
 */
export class PipelinesStack extends Stack {
  readonly notificationTopic: sns.Topic;
  readonly buildProject: BuildProject;
  readonly publishProjects: { readonly staging: PublishProject; readonly production: PublishProject };
  readonly verifyProjects: { readonly staging: VerifyProject; readonly production: VerifyProject };
  readonly pipelines: { readonly staging: ReleasePipeline; readonly production: ReleasePipeline };
  readonly clone: CloneMachinery;

  constructor(scope: Construct, id: string, props: PipelinesStackProps) {
    super(scope, id, props);
    const c = props.config;
    const repos = props.repositories;
    // Its own log bucket: logging into the other stack's bucket would make the stacks depend on each other both ways.
    const logs = new AccessLogBucket(this, 'AccessLogs', { retentionDays: 90 });
    const workBucket = (name: string, expireDays: number) =>
      new s3.Bucket(this, name, {
        ...privateBucketProps(),
        // Retained like every bucket (CloudFormation cannot delete a non-empty one); the lifecycle rule empties it.
        serverAccessLogsBucket: logs.bucket,
        serverAccessLogsPrefix: `s3/${name}/`,
        lifecycleRules: [{ id: 'expire', expiration: Duration.days(expireDays), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      });
    const artifactBucket = workBucket('ArtifactBucket', 30);
    const cacheBucket = workBucket('CacheBucket', 60);

    this.notificationTopic = new sns.Topic(this, 'Notifications', {
      displayName: 'KET packages releases',
      enforceSSL: true,
    });
    for (const email of c.notificationEmails) this.notificationTopic.addSubscription(new subscriptions.EmailSubscription(email));

    this.buildProject = new BuildProject(this, 'Build', { signingKey: repos.signingKey, cacheBucket });
    const perStage = (stage: 'staging' | 'production') => {
      const p = c.pipelines[stage];
      const repository = repos.repository(p.repository);
      const title = stage === 'staging' ? 'Staging' : 'Production';
      const publish = new PublishProject(this, `Publish${title}`, { repository, signingKey: repos.signingKey });
      const verify = new VerifyProject(this, `Verify${title}`, { repository });
      const pipeline = new ReleasePipeline(this, `${title}Pipeline`, {
        source: c.source,
        branch: p.branch,
        repositoryName: repository.repositoryName,
        buildProject: this.buildProject.project,
        publishProject: publish.project,
        verifyProject: verify.project,
        requireApproval: stage === 'production',
        notificationTopic: this.notificationTopic,
        artifactBucket,
        pipelineName: `${c.stackPrefix}-${p.branch.replace(/[^A-Za-z0-9.@_-]/g, '-')}`,
        approvalInformation:
          stage === 'production'
            ? `Approve to publish into ${repository.repositoryName} (${repository.rpmBaseUrl}, ${repository.debBaseUrl}) the packages built from this commit of ${p.branch}. Check them on staging first.`
            : undefined,
      });
      return { publish, verify, pipeline };
    };
    const staging = perStage('staging');
    const production = perStage('production');
    this.publishProjects = { staging: staging.publish, production: production.publish };
    this.verifyProjects = { staging: staging.verify, production: production.verify };
    this.pipelines = { staging: staging.pipeline, production: production.pipeline };
    this.clone = new CloneMachinery(this, 'Clone', {
      repositories: c.repositories.map((r) => ({
        repository: repos.repository(r.name),
        zone: r.name === c.pipelines.production.repository ? 'production' : 'staging',
        bucketNamePrefix: c.bucketNamePrefix,
        rpmBucketName: r.rpmBucketName,
        debBucketName: r.debBucketName,
        stateBucketName: r.stateBucketName,
        cloneFrom: r.cloneFrom,
        cloneGeneration: r.cloneGeneration,
      })),
      stagingSigningKey: repos.signingKey,
      stagingCloneRoleName: cloneRoleName(c.stackPrefix, 'staging'),
    });
  }
}

export interface KetStacks {
  readonly repositories: RepositoriesStack;
  readonly pipelines: PipelinesStack;
}

/** Adds both stacks for a configuration to an app (bin/app.ts and the tests share this). */
export function addKetStacks(scope: Construct, config: DeploymentConfig): KetStacks {
  const env = config.account || config.region ? { account: config.account, region: config.region } : undefined;
  const description = 'KET packages release system (kismatic-distro-packages)';
  const repositories = new RepositoriesStack(scope, `${config.stackPrefix}-Repositories`, {
    config,
    env,
    description: `${description}: package repositories`,
  });
  const pipelines = new PipelinesStack(scope, `${config.stackPrefix}-Pipelines`, {
    config,
    env,
    repositories,
    description: `${description}: build and release pipelines`,
  });
  return { repositories, pipelines };
}
