import { cloneRepositoryContent, CloneProgress, CloneResult } from '../clone';
import { localRepositories, newLocalRepository, recordLocalRepository } from '../clone/local';
import { startEmbeddedStore } from '../local/store/server';
import { LOCAL_BUCKETS } from '../local/names';
import * as path from 'node:path';
import { ensureDevelopmentKey } from '../local/dev-key';
import { s3TargetFromEnv } from '../publish/s3';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { buildFailureReason, getBuild } from '../clone/codebuild';
import { accountAndRegion, CloneEndpoints, deploymentRepositories, readDeploymentFile } from '../clone/deployment';
import { invalidateDistribution } from '../clone/invalidate';
import { UserError } from '../util/errors';
import { SigningKeyOptions } from '../signing/keyring';
import { Logger } from '../util/log';

/**
 * Release-layer entry of cloning: what the CLI, the CodeBuild clone project and the tests call.
 * The engine (lib/clone) knows repositories as bucket sets; this layer finds them (the embedded
 * store here, the deployed configuration on AWS) and supplies the key and the store.
 */
export interface LocalCloneOptions {
  readonly from: string;
  readonly to: string;
  /** Folder of the embedded store (what `ket-packages local` used). */
  readonly dataDir: string;
  /** Port of the store; 0 picks a free one. */
  readonly port?: number;
  /** B's signing key; when it names none, the development key of `ket-packages local` (devKeyDir). */
  readonly signingKey: SigningKeyOptions;
  /** @default '.local/keys' */
  readonly devKeyDir?: string;
  readonly logger: Logger;
  readonly onProgress?: (p: CloneProgress) => void;
  readonly concurrency?: number;
  readonly verify?: boolean;
}

/**
 * Clones one repository of the embedded store into another. An unknown destination becomes a new
 * local repository (buckets `kismatic-packages-NAME-{rpm,deb}`, state under ket-state/NAME/),
 * as `cdk deploy` creates a declared one; an unknown source is an error naming those the store holds.
 * @throws UserError as cloneRepositoryContent does.
 */
export async function cloneRepository(opts: LocalCloneOptions): Promise<CloneResult> {
  const store = await startEmbeddedStore({ dataDir: opts.dataDir, port: opts.port ?? 0 });
  const target = s3TargetFromEnv({ ...process.env, ...store.env() });
  try {
    await store.createBucket(LOCAL_BUCKETS.state);
    const held = await localRepositories(target);
    const exists = held.some((r) => r.name === opts.to);
    // A new destination is created (buckets, then its record) only once every guard has passed
    // and the source proved to be published: a refused clone creates nothing.
    const repositories = exists ? held : [...held, newLocalRepository(opts.to)];
    return await cloneRepositoryContent({
      from: opts.from,
      to: opts.to,
      repositories,
      target,
      signingKey:
        opts.signingKey.keysPath || opts.signingKey.gnupgHome || opts.signingKey.secretId
          ? opts.signingKey
          : {
              ...opts.signingKey,
              keysPath: await ensureDevelopmentKey(path.resolve(opts.devKeyDir ?? path.join('.local', 'keys')), opts.logger),
            },
      logger: opts.logger,
      onProgress: opts.onProgress,
      concurrency: opts.concurrency,
      verify: opts.verify,
      createDestination: async (b) => {
        await store.createBucket(b.rpmBucket);
        await store.createBucket(b.debBucket);
        if (!exists) {
          await recordLocalRepository(target, b.name);
          opts.logger.info(`clone: created the local repository '${b.name}' (s3://${b.rpmBucket}, s3://${b.debBucket})`);
        }
      },
    });
  } finally {
    target.client.destroy();
    await store.close();
  }
}

export interface DeployedCloneOptions {
  readonly from: string;
  readonly to: string;
  /** The clone deployment file bundled with the project (lib/clone/deployment.ts). */
  readonly deploymentFile: string;
  /** CODEBUILD_BUILD_ARN, KET_CLONE_ENDPOINTS (B's URLs, distributions and key secret) and the AWS configuration. */
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly onProgress?: (p: CloneProgress) => void;
  readonly concurrency?: number;
}

/**
 * What the clone CodeBuild project runs: the engine against the repositories it was deployed
 * with, B's key from Secrets Manager, CloudFront invalidation of B's distributions.
 * @throws UserError as cloneRepositoryContent does, and for a malformed deployment.
 */
export async function cloneDeployedRepository(opts: DeployedCloneOptions): Promise<CloneResult> {
  const deployment = readDeploymentFile(opts.deploymentFile);
  const endpoints = parseEndpoints(opts.env.KET_CLONE_ENDPOINTS);
  const repositories = deploymentRepositories(deployment, accountAndRegion(opts.env.CODEBUILD_BUILD_ARN), endpoints);
  const target = s3TargetFromEnv(opts.env);
  const cloudfront = new CloudFrontClient({ region: 'us-east-1' });
  try {
    return await cloneRepositoryContent({
      from: opts.from,
      to: opts.to,
      repositories,
      target,
      // B's own key, named for B in the project's configuration; IAM lets the project read the zone's keys only.
      signingKey: {
        secretId: endpoints[opts.to]?.signingKeySecretArn,
        labels: { secretId: `KET_CLONE_ENDPOINTS (${opts.to}'s key secret)` },
      },
      logger: opts.logger,
      onProgress: opts.onProgress,
      concurrency: opts.concurrency,
      invalidate: async (b, paths) => {
        const e = endpoints[b.name];
        if (!e) throw new UserError(`KET_CLONE_ENDPOINTS has no distributions for '${b.name}'`);
        await Promise.all([
          invalidateDistribution(cloudfront, e.rpmDistributionId, paths.rpm, opts.logger),
          invalidateDistribution(cloudfront, e.debDistributionId, paths.deb, opts.logger),
        ]);
      },
    });
  } finally {
    target.client.destroy();
    cloudfront.destroy();
  }
}

function parseEndpoints(text: string | undefined): CloneEndpoints {
  try {
    return JSON.parse(text ?? '{}') as CloneEndpoints;
  } catch (e) {
    throw new UserError(`KET_CLONE_ENDPOINTS is not JSON: ${(e as Error).message}`);
  }
}

export interface AwsCloneOptions {
  readonly from: string;
  readonly to: string;
  /** Name of the stateless stack whose output CloneStartFunctionName names clone-start. */
  readonly stackName: string;
  readonly region?: string;
  readonly logger: Logger;
  /** How often the build is polled. @default 10 s */
  readonly pollMs?: number;
}

/**
 * `ket-packages clone --from A --to B` on AWS: invokes clone-start (its name from the stack's
 * outputs), then follows the build, printing phase changes and new log lines.
 * @returns the build id when the build succeeded.
 * @throws UserError with clone-start's refusal, or the build's failure reason.
 */
export async function cloneOnAws(opts: AwsCloneOptions): Promise<{ buildId: string; logsUrl: string }> {
  const region = opts.region;
  const cfn = new CloudFormationClient({ region });
  const lambda = new LambdaClient({ region });
  const codebuild = new CodeBuildClient({ region });
  const logs = new CloudWatchLogsClient({ region });
  try {
    const stack = await cfn.send(new DescribeStacksCommand({ StackName: opts.stackName })).catch((e: Error) => {
      throw new UserError(`stack ${opts.stackName}: ${e.message} (deploy it with 'npx cdk deploy --all', or pass --stack)`);
    });
    const fn = stack.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'CloneStartFunctionName')?.OutputValue;
    if (!fn) throw new UserError(`stack ${opts.stackName} has no output CloneStartFunctionName: deploy the current version first`);
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: fn, Payload: Buffer.from(JSON.stringify({ from: opts.from, to: opts.to })) }),
    );
    const payload = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8') || '{}') as {
      buildId?: string;
      logsUrl?: string;
      errorMessage?: string;
    };
    if (out.FunctionError || !payload.buildId) throw new UserError(payload.errorMessage ?? `clone-start failed (${out.FunctionError})`);
    opts.logger.info(`clone build ${payload.buildId} started: ${payload.logsUrl}`);
    let phase = '';
    let nextToken: string | undefined;
    for (;;) {
      const build = await getBuild(codebuild, payload.buildId);
      if (build.currentPhase && build.currentPhase !== phase) {
        phase = build.currentPhase;
        opts.logger.info(`phase ${phase}`);
      }
      if (build.logs?.groupName && build.logs.streamName) {
        const page = await logs
          .send(
            new GetLogEventsCommand({
              logGroupName: build.logs.groupName,
              logStreamName: build.logs.streamName,
              startFromHead: true,
              nextToken,
            }),
          )
          .catch(() => undefined);
        for (const e of page?.events ?? []) opts.logger.info(`  ${(e.message ?? '').replace(/\n$/, '')}`);
        if (page?.nextForwardToken) nextToken = page.nextForwardToken;
      }
      if (build.buildStatus === 'SUCCEEDED') return { buildId: payload.buildId, logsUrl: payload.logsUrl ?? '' };
      if (build.buildStatus && build.buildStatus !== 'IN_PROGRESS')
        throw new UserError(`${buildFailureReason(build)}; log: ${payload.logsUrl}`);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 10_000));
    }
  } finally {
    for (const c of [cfn, lambda, codebuild, logs]) c.destroy();
  }
}
