import { cloneRepositoryContent, CloneProgress, CloneResult } from '../clone';
import { localRepositories, newLocalRepository, recordLocalRepository } from '../clone/local';
import { startEmbeddedStore } from '../local/store/server';
import { LOCAL_BUCKETS } from '../local/names';
import * as path from 'node:path';
import { ensureDevelopmentKey } from '../local/dev-key';
import { s3TargetFromEnv } from '../publish/s3';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { accountAndRegion, CloneEndpoints, deploymentRepositories, readDeploymentFile } from '../clone/deployment';
import { invalidateDistribution } from '../clone/invalidate';
import { UserError } from '../util/errors';
import { SigningKeyOptions } from '../signing/keyring';
import { Logger } from '../util/log';

/**
 * Release-layer entry of cloning: what the CLI, the CodeBuild clone project and the tests call.
 * The engine (lib/clone) knows repositories as bucket sets; this layer finds them (the embedded
 * store here, the deployed configuration on AWS) and supplies the key and the store. Starting
 * and following the clone build from a laptop is lib/release/clone-aws.ts.
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
