import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { ArnFormat, AssetHashType, CfnOutput, CustomResource, DockerImage, Duration, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as eventschemas from 'aws-cdk-lib/aws-eventschemas';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import type { CloneDeployment } from '../../lambda/clone-shared';
import type { CloneDeploymentFile, CloneEndpoints } from '../clone/deployment';
import { acknowledge, acknowledgeWildcards, BUCKET_GRANT_ACTIONS } from './nag';
import { BUILD_IMAGE } from './projects';
import { PackageRepository } from './package-repository';

const ROOT = path.resolve(__dirname, '../..');

/** The buildspec of the clone projects, inside the bundled asset (not the source checkout). */
export const CLONE_BUILDSPEC = 'buildspecs/clone.yml';

/** One repository as the clone machinery needs it. */
export interface CloneRepositoryEntry {
  readonly repository: PackageRepository;
  /** Trust zone: `production` for the production repository, `staging` for every other. */
  readonly zone: 'staging' | 'production';
  readonly bucketNamePrefix: string;
  readonly rpmBucketName?: string;
  readonly debBucketName?: string;
  readonly stateBucketName?: string;
  /** Repository to clone this one from when it is created (deploy.config.yaml cloneFrom). */
  readonly cloneFrom?: string;
  /** Bumping it clones again from the same source. @default 1 */
  readonly cloneGeneration?: number;
  /** The repository's own signing key: a clone into it signs its metadata with this key. */
  readonly signingKey: secretsmanager.ISecret;
}

export interface CloneMachineryProps {
  readonly repositories: readonly CloneRepositoryEntry[];
  /**
   * Name of the staging clone project's role: fixed, so the stateful stack's bucket policies can
   * allow it (and only it) to delete from non-production buckets without referencing this stack.
   */
  readonly stagingCloneRoleName: string;
  /**
   * The clone build's time limit; below the provider's total timeout, so a custom resource fails
   * the deployment clearly (and its rollback stops the build) rather than running past it.
   * @default Duration.minutes(100)
   */
  readonly buildTimeout?: Duration;
}

/** The role name the staging clone project gets, for the repositories stack's bucket policies. */
export function cloneRoleName(stackPrefix: string, zone: 'staging'): string {
  return `${stackPrefix}-Clone-${zone}`;
}

/**
 * Repository cloning on AWS: a CodeBuild project per destination trust zone (staging; none can
 * write production) running the engine from a bundled asset, the clone-start function (console
 * one-click path and `ket-packages clone`), and the custom resource that clones a repository
 * declared with cloneFrom once when it is created.
 */
export class CloneMachinery extends Construct {
  readonly project: codebuild.Project;
  readonly role: iam.Role;
  readonly startFunction: nodejs.NodejsFunction;
  readonly provider: cr.Provider;
  readonly cloneResources: readonly CustomResource[];

  constructor(scope: Construct, id: string, props: CloneMachineryProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const staging = props.repositories.filter((r) => r.zone === 'staging');
    const deploymentFile: CloneDeploymentFile = {
      zone: 'staging',
      repositories: props.repositories.map((r) => ({
        name: r.repository.repositoryName,
        zone: r.zone,
        production: r.zone === 'production',
        bucketNamePrefix: r.bucketNamePrefix,
        rpmBucketName: r.rpmBucketName,
        debBucketName: r.debBucketName,
        stateBucketName: r.stateBucketName,
      })),
    };
    const asset = new s3assets.Asset(this, 'EngineBundle', {
      path: path.join(ROOT, 'buildspecs'),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Bundled here with the local esbuild; no Docker.
        image: DockerImage.fromRegistry('unused'),
        local: { tryBundle: (outputDir) => bundleEngine(outputDir, deploymentFile) },
      },
    });

    this.role = new iam.Role(this, 'Role', {
      roleName: props.stagingCloneRoleName,
      assumedBy: new iam.ServicePrincipal('codebuild.amazonaws.com'),
      description: 'KET packages: clone into the staging trust zone (reads every repository, writes only staging)',
    });
    const endpoints: Record<string, CloneEndpoints[string]> = {};
    for (const r of staging) {
      endpoints[r.repository.repositoryName] = {
        rpmBaseUrl: r.repository.rpmBaseUrl,
        debBaseUrl: r.repository.debBaseUrl,
        rpmDistributionId: r.repository.rpmDistribution.distributionId,
        debDistributionId: r.repository.debDistribution.distributionId,
        signingKeySecretArn: r.signingKey.secretArn,
      };
    }
    this.project = new codebuild.Project(this, 'StagingProject', {
      description: 'KET packages: clone a repository into a staging-zone repository (server-side copy, re-signed with the staging key)',
      role: this.role,
      source: codebuild.Source.s3({ bucket: asset.bucket, path: asset.s3ObjectKey }),
      buildSpec: codebuild.BuildSpec.fromSourceFilename(CLONE_BUILDSPEC),
      environment: {
        buildImage: codebuild.LinuxBuildImage.fromDockerRegistry(BUILD_IMAGE),
        computeType: codebuild.ComputeType.SMALL,
        privileged: false,
      },
      environmentVariables: {
        KET_CLONE_ENDPOINTS: { value: stack.toJsonString(endpoints) },
      },
      timeout: props.buildTimeout ?? Duration.minutes(100),
    });
    // The signing keys of the zone's repositories only: a clone into B signs with B's key.
    for (const r of staging) r.signingKey.grantRead(this.role);
    // Read every repository (a source): its package buckets only; a clone reads no state place
    // but B's locks, B's signed indexes being the whole record of what B holds.
    for (const r of props.repositories) r.repository.grantRead(this.role);
    for (const r of staging) {
      // Write, and in a reset replace and delete, only the staging zone's repositories.
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          resources: [r.repository.rpmBucket.arnForObjects('*'), r.repository.debBucket.arnForObjects('*')],
        }),
      );
      // B's publish locks (lib/publish/lock.ts): read, then taken, renewed and released by
      // conditional PUTs; never deleted.
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:GetObject', 's3:PutObject'],
          resources: [r.repository.stateBucket.arnForObjects(`${r.repository.statePrefix}/locks/*`)],
        }),
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          // The clone checks B's state bucket with HeadBucket, and the first lock of B reads a key
          // that does not exist yet: both carry no s3:prefix (so no prefix condition here) and are
          // answered 403 rather than 200/404 without s3:ListBucket. The bucket is B's own.
          actions: ['s3:ListBucket'],
          resources: [r.repository.stateBucket.bucketArn],
        }),
      );
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'],
          resources: [r.repository.rpmDistribution, r.repository.debDistribution].map((d) =>
            stack.formatArn({
              service: 'cloudfront',
              region: '',
              resource: 'distribution',
              resourceName: d.distributionId,
              arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
            }),
          ),
        }),
      );
    }
    acknowledge(this.project, [
      {
        id: 'AwsSolutions-CB5',
        reason:
          "The clone runs on the OS CI tests, Debian 12 (dnf and apt for the final check), like every project here; CodeBuild's curated images are Ubuntu or Amazon Linux. Docker's official Node 22 image from ECR Public.",
      },
      {
        id: 'AwsSolutions-CB4',
        reason:
          'The clone build produces no artifact; it copies objects between S3 buckets encrypted with SSE-S3, and no customer KMS key is wanted (cost).',
      },
    ]);

    const packageObjects = props.repositories.flatMap((r) => [
      r.repository.rpmBucket.arnForObjects('*'),
      r.repository.debBucket.arnForObjects('*'),
    ]);
    acknowledgeWildcards(this.role, [
      {
        resources: packageObjects,
        reason:
          "Objects of the repository buckets: a clone reads any repository, and writes only the staging zone's (asserted in test/infra/clone.test.ts).",
      },
      {
        resources: staging.map((r) => r.repository.stateBucket.arnForObjects(`${r.repository.statePrefix}/locks/*`)),
        reason: "The staging repositories' publish locks, one object per package bucket under the repository's own state prefix.",
      },
      {
        resources: [
          stack.formatArn({
            service: 'logs',
            resource: 'log-group',
            resourceName: `/aws/codebuild/${this.project.projectName}:*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
          stack.formatArn({ service: 'codebuild', resource: 'report-group', resourceName: `${this.project.projectName}-*` }),
        ],
        reason: 'The log streams and report groups CodeBuild names after this project (its own grant).',
      },
      {
        actions: BUCKET_GRANT_ACTIONS.filter((a) => !/Delete|Abort/.test(a)),
        reason: "CodeBuild's read grant on the bundled asset (the project's source) in the CDK asset bucket.",
      },
    ]);

    const deployment: CloneDeployment = {
      repositories: props.repositories.map((r) => ({
        name: r.repository.repositoryName,
        zone: r.zone,
        production: r.zone === 'production',
        rpmBucket: r.repository.rpmBucket.bucketName,
        debBucket: r.repository.debBucket.bucketName,
        stateBucket: r.repository.stateBucket.bucketName,
        statePrefix: `${r.repository.statePrefix}/`,
      })),
      projects: { staging: this.project.projectName },
    };
    const fn = (name: string, entry: string, handler: string, timeout: Duration) => {
      const f = new nodejs.NodejsFunction(this, name, {
        entry: path.join(ROOT, 'lambda', entry),
        handler,
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        timeout,
        memorySize: 256,
        environment: { CLONE_DEPLOYMENT: stack.toJsonString(deployment) },
        bundling: { minify: true, sourceMap: false, forceDockerBundling: false, logLevel: nodejs.LogLevel.ERROR },
        logGroup: new logs.LogGroup(this, `${name}Logs`, { retention: logs.RetentionDays.ONE_YEAR }),
      });
      for (const r of props.repositories) r.repository.grantRead(f);
      acknowledgeWildcards(f.role!, [
        { resources: packageObjects, reason: 'Read of the repository buckets: the functions check that a source has top files (HEAD).' },
      ]);
      return f;
    };
    this.startFunction = fn('StartFunction', 'clone-start.ts', 'handler', Duration.seconds(30));
    const grantProject = (grantee: iam.IGrantable, ...actions: string[]) =>
      iam.Grant.addToPrincipal({ grantee, actions, resourceArns: [this.project.projectArn] });
    grantProject(this.startFunction, 'codebuild:StartBuild');
    const onEvent = fn('OnEventFunction', 'clone-provider.ts', 'onEvent', Duration.minutes(1));
    const isComplete = fn('IsCompleteFunction', 'clone-provider.ts', 'isComplete', Duration.minutes(1));
    grantProject(onEvent, 'codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds');
    grantProject(isComplete, 'codebuild:BatchGetBuilds');
    for (const r of staging) {
      const record = r.repository.stateBucket.arnForObjects(`${r.repository.statePrefix}/clone-record.json`);
      onEvent.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [record] }));
      isComplete.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [record] }));
      // A missing record answers 404 rather than 403 only with ListBucket on its prefix.
      onEvent.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [r.repository.stateBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${r.repository.statePrefix}/clone-record.json`] } },
        }),
      );
    }
    this.provider = new cr.Provider(this, 'Provider', {
      onEventHandler: onEvent,
      isCompleteHandler: isComplete,
      queryInterval: Duration.seconds(30),
      totalTimeout: Duration.hours(2),
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention: logs.RetentionDays.ONE_YEAR }),
      disableWaiterStateMachineLogging: false,
      waiterStateMachineLogOptions: {
        destination: new logs.LogGroup(this, 'WaiterLogs', { retention: logs.RetentionDays.ONE_YEAR }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: true,
      },
    });
    for (const role of ['framework-onEvent', 'framework-isComplete', 'framework-onTimeout']) {
      const fnRole = (this.provider.node.findChild(role) as lambda.Function).role!;
      acknowledgeWildcards(fnRole, [
        {
          resources: [`${onEvent.functionArn}:*`, `${isComplete.functionArn}:*`],
          reason: 'cr.Provider lets its framework invoke the handler functions in any version (FUNCTION:*).',
        },
      ]);
    }
    const waiter = this.provider.node.findChild('waiter-state-machine').node.findChild('Role') as iam.Role;
    const framework = (name: string) => (this.provider.node.findChild(name) as lambda.Function).functionArn;
    acknowledgeWildcards(waiter, [
      {
        resources: [`${framework('framework-isComplete')}:*`, `${framework('framework-onTimeout')}:*`],
        reason: 'cr.Provider lets its waiter invoke the framework functions in any version (FUNCTION:*).',
      },
      {
        resources: ['*'],
        reason:
          "Step Functions' log delivery to CloudWatch Logs (logs:CreateLogDelivery and friends) is authorised on resource * only; cr.Provider adds exactly that statement for the waiter's logging.",
      },
    ]);
    acknowledge(this.provider, [
      {
        id: 'AwsSolutions-SF2',
        reason: "cr.Provider's waiter state machine offers no X-Ray setting; it only polls isComplete, whose calls are in its own logs.",
      },
    ]);
    this.cloneResources = props.repositories
      .filter((r) => r.cloneFrom !== undefined)
      .map(
        (r) =>
          new CustomResource(this, `Clone-${r.repository.repositoryName}`, {
            serviceToken: this.provider.serviceToken,
            resourceType: 'Custom::KetRepositoryClone',
            properties: { From: r.cloneFrom, To: r.repository.repositoryName, Generation: String(r.cloneGeneration ?? 1) },
          }),
      );
    for (const c of [this.startFunction, onEvent, isComplete, this.provider]) {
      acknowledge(c, [
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason:
            'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs; it is the managed policy AWS maintains for exactly that.',
        },
      ]);
    }
    this.addConsoleTestEvent();
    new CfnOutput(this, 'CloneStartFunctionName', {
      value: this.startFunction.functionName,
      description: 'clone-start: invoke with {"from": "production", "to": "staging"} (ket-packages clone --from … --to … does)',
    }).overrideLogicalId('CloneStartFunctionName');
  }

  /**
   * The console's one-click path: a shareable test event "production-to-staging" on clone-start
   * (Lambda → the function → Test). The console keeps shareable events as schemas in the
   * EventBridge registry lambda-testevent-schemas, which it creates on first use: it is created
   * here unless it exists (ConflictException ignored) and never deleted.
   */
  private addConsoleTestEvent(): void {
    const stack = Stack.of(this);
    const registryArn = stack.formatArn({ service: 'schemas', resource: 'registry', resourceName: TEST_EVENT_REGISTRY });
    const registry = new cr.AwsCustomResource(this, 'TestEventRegistry', {
      onCreate: {
        service: 'Schemas',
        action: 'CreateRegistry',
        parameters: { RegistryName: TEST_EVENT_REGISTRY, Description: 'Lambda console shareable test events' },
        physicalResourceId: cr.PhysicalResourceId.of(TEST_EVENT_REGISTRY),
        ignoreErrorCodesMatching: 'ConflictException',
      },
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [registryArn] }),
      installLatestAwsSdk: false,
      logGroup: new logs.LogGroup(this, 'TestEventRegistryLogs', { retention: logs.RetentionDays.ONE_YEAR }),
    });
    const schema = new eventschemas.CfnSchema(this, 'StartTestEvent', {
      registryName: TEST_EVENT_REGISTRY,
      schemaName: `_${this.startFunction.functionName}-schema`,
      type: 'OpenApi3',
      content: JSON.stringify({
        openapi: '3.0.0',
        info: { version: '1.0.0', title: 'Event' },
        paths: {},
        components: {
          schemas: {
            Event: {
              type: 'object',
              required: ['from', 'to'],
              properties: { from: { type: 'string' }, to: { type: 'string' } },
            },
          },
          examples: { 'production-to-staging': { value: { from: 'production', to: 'staging' } } },
        },
      }),
    });
    schema.node.addDependency(registry);
    // AwsCustomResource runs one singleton function per stack, under the stack itself.
    const singleton = stack.node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
    if (singleton)
      acknowledge(singleton, [
        {
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason:
            "AwsCustomResource's function (it creates the console's test-event registry) uses AWSLambdaBasicExecutionRole only to write its own logs.",
        },
      ]);
  }
}

/** Where the Lambda console keeps shareable test events (one registry per account and region). */
export const TEST_EVENT_REGISTRY = 'lambda-testevent-schemas';

/** The asset: the CLI bundled into one file, the buildspec and the deployment file. */
function bundleEngine(outputDir: string, deploymentFile: CloneDeploymentFile): boolean {
  // esbuild is a devDependency: present wherever `cdk synth` runs from this checkout.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    entryPoints: [path.join(ROOT, 'bin/ket-packages.ts')],
    bundle: true,
    platform: 'node',
    target: 'node22',
    outfile: path.join(outputDir, 'ket-packages.js'),
    // The embedded store only runs on a laptop; it spawns s3rver by path.
    external: ['s3rver'],
    logLevel: 'error',
  });
  mkdirSync(path.join(outputDir, 'buildspecs'), { recursive: true });
  copyFileSync(path.join(ROOT, CLONE_BUILDSPEC), path.join(outputDir, CLONE_BUILDSPEC));
  writeFileSync(path.join(outputDir, 'clone-deployment.json'), JSON.stringify(deploymentFile, null, 2));
  return true;
}
