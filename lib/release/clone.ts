import { cloneRepositoryContent, CloneProgress, CloneResult } from '../clone';
import { localRepositories, newLocalRepository, recordLocalRepository } from '../clone/local';
import { startEmbeddedStore } from '../local/store/server';
import { LOCAL_BUCKETS } from '../cli/local';
import { s3TargetFromEnv } from '../publish/s3';
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
  /** B's signing key (locally: the key `ket-packages local` publishes with). */
  readonly signingKey: SigningKeyOptions;
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
      signingKey: opts.signingKey,
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
