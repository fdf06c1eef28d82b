import { Annotations, CfnParameter, CfnRule, Duration, Fn, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { placeholderFields } from '../config/placeholders';
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
  /** One signing-key secret per repository (trust zones never share a key). */
  readonly signingKeys: ReadonlyMap<string, secretsmanager.Secret>;

  constructor(scope: Construct, id: string, props: RepositoriesStackProps) {
    super(scope, id, props);
    const c = props.config;
    const logs = new AccessLogBucket(this, 'AccessLogs');
    const repositories = new Map<string, PackageRepository>();
    const signingKeys = new Map<string, secretsmanager.Secret>();
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
      // The production repository's secret keeps the construct id (and so the logical ID) of the
      // single secret earlier versions created: a retained secret is not replaced by a new one.
      const secretId = r.name === c.pipelines.production.repository ? 'SigningKey' : `SigningKey-${r.name}`;
      const secret = new secretsmanager.Secret(this, secretId, {
        secretName: r.signingKeySecretName,
        description: `GPG key that signs the KET ${r.name} packages and repositories: {"privateKey", "passphrase"?}, written by \`ket-packages keys import --repository ${r.name}\``,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      acknowledge(secret, [
        {
          id: 'AwsSolutions-SMG4',
          reason:
            'A GPG signing key cannot be rotated by a Lambda: clients trust its public half, so rotating it is a planned release-engineering step (keys import).',
        },
      ]);
      signingKeys.set(r.name, secret);
    }
    this.repositories = repositories;
    this.signingKeys = signingKeys;
  }

  /** The repository with this name; the config loader guarantees the pipelines' names exist. */
  repository(name: string): PackageRepository {
    const r = this.repositories.get(name);
    if (!r) throw new Error(`no repository named ${name}`);
    return r;
  }

  /** The signing-key secret of the repository with this name. */
  signingKey(name: string): secretsmanager.Secret {
    const k = this.signingKeys.get(name);
    if (!k) throw new Error(`no signing key for repository ${name}`);
    return k;
  }
}

export interface PipelinesStackProps extends StackProps {
  readonly config: DeploymentConfig;
  readonly repositories: RepositoriesStack;
}

/** What one trust zone (staging for dev, production for master) holds in the pipelines stack. */
export interface TrustZone {
  readonly artifactBucket: s3.Bucket;
  readonly cacheBucket: s3.Bucket;
  readonly build: BuildProject;
  readonly publish: PublishProject;
  readonly verify: VerifyProject;
  readonly pipeline: ReleasePipeline;
}

/**
 * The stateless half: per trust zone (staging, production) a build, publish and verify project,
 * an artifact bucket, a download/image cache bucket and the pipeline, and the notification topic.
 * The zones share nothing a build can write: a dev build runs code from an unreviewed branch, so
 * it must neither read production's key nor write anything the master pipeline reads.
 */
export class PipelinesStack extends Stack {
  readonly notificationTopic: sns.Topic;
  readonly zones: { readonly staging: TrustZone; readonly production: TrustZone };
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

    this.notificationTopic = new sns.Topic(this, 'Notifications', {
      displayName: 'KET packages releases',
      enforceSSL: true,
    });
    for (const email of c.notificationEmails) this.notificationTopic.addSubscription(new subscriptions.EmailSubscription(email));

    const zone = (stage: 'staging' | 'production'): TrustZone => {
      const p = c.pipelines[stage];
      const repository = repos.repository(p.repository);
      const signingKey = repos.signingKey(p.repository);
      const title = stage === 'staging' ? 'Staging' : 'Production';
      const artifactBucket = workBucket(`${title}ArtifactBucket`, 30);
      const cacheBucket = workBucket(`${title}CacheBucket`, 60);
      const build = new BuildProject(this, `Build${title}`, { signingKey, cacheBucket, artifactBucket, zone: stage });
      const publish = new PublishProject(this, `Publish${title}`, { repository, signingKey, artifactBucket });
      const verify = new VerifyProject(this, `Verify${title}`, { repository, artifactBucket });
      const pipeline = new ReleasePipeline(this, `${title}Pipeline`, {
        source: c.source,
        branch: p.branch,
        repositoryName: repository.repositoryName,
        buildProject: build.project,
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
      return { artifactBucket, cacheBucket, build, publish, verify, pipeline };
    };
    this.zones = { staging: zone('staging'), production: zone('production') };

    // The committed example values cannot work in AWS: warn at synth, and refuse at deploy time. A
    // CloudFormation rule validates a parameter before any resource changes: its default names the
    // placeholders, and the assertion accepts only "none", so the deployment stops with the message.
    const placeholders = placeholderFields(c);
    if (placeholders.length > 0) {
      const message = `${c.file}: replace the example values before deploying: ${placeholders.join('; ')}`;
      Annotations.of(this).addWarningV2('ket:placeholder-config', message);
      const parameter = new CfnParameter(this, 'PlaceholderConfiguration', {
        type: 'String',
        default: placeholders.join('; ').slice(0, 4000),
        description:
          'Example values of deploy.config.yaml still in place ("none" once they are replaced; edit the file and synthesize again)',
      });
      new CfnRule(this, 'RefusePlaceholderConfiguration', {
        assertions: [{ assert: Fn.conditionEquals(parameter.valueAsString, 'none'), assertDescription: message.slice(0, 1000) }],
      });
    }

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
        signingKey: repos.signingKey(r.name),
      })),
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
