import { cloneRepositoryContent, CloneProgress, CloneResult } from '../clone';
import { localRepositories, newLocalRepository, recordLocalRepository } from '../clone/local';
import { startEmbeddedStore } from '../local/store/server';
import { DEFAULT_SERVE_PORT, LOCAL_BUCKETS } from '../local/names';
import * as path from 'node:path';
import { readdir } from 'node:fs/promises';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ensureDevelopmentKey } from '../local/dev-key';
import { s3TargetFromEnv } from '../publish/s3';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { accountAndRegion, CloneEndpoints, deploymentRepositories, readDeploymentFile } from '../clone/deployment';
import { checkCloneNames, findRepository } from '../clone/types';
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
  /**
   * Port the store is served at (`ket-packages local --serve --port`): the clone runs the store
   * there, so B's kismatic.repo and the printed URLs are those `local --serve` serves. 0 is refused
   * (the URLs would name a port that closes when the clone ends).
   * @default DEFAULT_SERVE_PORT (4568, lib/local/names.ts)
   */
  readonly port?: number;
  /** How messages name dataDir and port (the CLI passes its flags). @default the field names */
  readonly labels?: { readonly dataDir?: string; readonly port?: string };
  /** Stops the clone at its next step (Ctrl-C): B's locks released, temporary folders removed, the store stopped. */
  readonly signal?: AbortSignal;
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
 * The store runs on `port`, where `ket-packages local --serve` serves it, so the URLs in B's
 * kismatic.repo and the result work once the store is served there.
 * @throws UserError as cloneRepositoryContent does, for a data folder holding no repositories (nothing
 * is created), a busy port (saying how to free it), and port 0; an interruption (signal) has status 130.
 */
export async function cloneRepository(opts: LocalCloneOptions): Promise<CloneResult> {
  // The guards that need only names come first (before the data folder, the port, the store).
  checkCloneNames(opts.from, opts.to, ['production']); // the embedded store's one production repository (lib/clone/local)
  const dataLabel = opts.labels?.dataDir ?? 'dataDir';
  const portLabel = opts.labels?.port ?? 'port';
  const port = opts.port ?? DEFAULT_SERVE_PORT;
  if (port === 0)
    throw new UserError(
      `${portLabel}: 0 (any free port) would write URLs of a port that closes when the clone ends; give the port \`ket-packages local --serve\` serves at (default ${DEFAULT_SERVE_PORT})`,
    );
  // Checked before the store starts: starting it creates the folder, and a refused clone creates nothing.
  const noRepositories = new UserError(`${dataLabel} ${opts.dataDir} holds no repositories: run \`ket-packages local\` first`);
  const entries = await readdir(opts.dataDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return [];
    throw new UserError(`${dataLabel} ${opts.dataDir}: ${e.message}`);
  });
  if (!entries.length) throw noRepositories;
  const store = await startEmbeddedStore({ dataDir: opts.dataDir, port }).catch((e: unknown) => {
    if (e instanceof UserError && /port is in use/.test(e.message))
      throw new UserError(
        `${portLabel} ${port} is in use (most likely by \`ket-packages local --serve\`, which must not share the store folder with the clone): ` +
          `stop it (Ctrl-C), run the clone again, then serve again; or give ${portLabel} a free port and serve the store there with \`ket-packages local --serve --port N\``,
      );
    throw e;
  });
  const target = s3TargetFromEnv({ ...process.env, ...store.env() });
  try {
    // Known are the repositories whose buckets the store holds (a recorded or built-in name without them is not).
    const buckets = new Set(((await target.client.send(new ListBucketsCommand({}))).Buckets ?? []).map((x) => x.Name));
    const declared = await localRepositories(target);
    const held = declared.filter((r) => buckets.has(r.rpmBucket) || buckets.has(r.debBucket));
    if (!held.length) throw noRepositories;
    // The source is looked up among those alone: the destination, possibly new, is never "known".
    if (opts.from && opts.from !== opts.to) findRepository(held, opts.from, 'from');
    const exists = held.some((r) => r.name === opts.to);
    // A new destination is created (buckets, then its record) only once every guard has passed
    // and the source proved to be published: a refused clone creates nothing. A built-in name
    // keeps its definition (production stays production, so the engine refuses it).
    const repositories = exists ? held : [...held, declared.find((r) => r.name === opts.to) ?? newLocalRepository(opts.to)];
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
      signal: opts.signal,
      createDestination: async (b) => {
        await store.createBucket(LOCAL_BUCKETS.state);
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
  /** Stops the clone at its next step (the build stopped: SIGTERM). */
  readonly signal?: AbortSignal;
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
      signal: opts.signal,
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
