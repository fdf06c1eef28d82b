import { loadManifestOffThread } from '../manifest/load-off-thread';
import { PublishLabels, publishRepositories, PublishSummary } from '../publish';
import { SigningKeyOptions } from '../signing/keyring';
import { Logger } from '../util/log';
import { Manifest } from '../manifest/types';
import { expectedPackages } from './verify';

/** Everything a publish of one release needs; no flags or environment variables are read. */
export interface PublishReleaseOptions {
  /** Release manifest (a path to release.yaml, or one already loaded): the packages and exact versions the build may contain. */
  readonly manifest: string | Manifest;
  /** Build output folder with rpms/ and debs/. */
  readonly from: string;
  /** Bucket of the yum repository. */
  readonly rpmRepo: string;
  /** Bucket of the apt repository. */
  readonly debRepo: string;
  /** s3://BUCKET/PREFIX, private: the repository locks. */
  readonly stateUrl: string;
  /** Public URL of the yum repository written into kismatic.repo (default: the bucket's URL). */
  readonly rpmBaseUrl?: string;
  /** Public URL of the apt repository, reported back (default: the bucket's URL). */
  readonly debBaseUrl?: string;
  readonly signingKey: SigningKeyOptions;
  /** AWS_* variables for the S3 endpoint and credentials (the SDK's standard configuration). */
  readonly awsEnv?: NodeJS.ProcessEnv;
  /** Lock validity without renewal, ms (default 15 min). */
  readonly lockTtlMs?: number;
  /** How long to wait for another publisher's lock, ms (default 20 min). */
  readonly lockWaitMs?: number;
  /** A deliberate key rotation: re-sign every metadata file with the new key. */
  readonly allowKeyChange?: boolean;
  /** Publish packages the manifest does not name (strays are served forever; pipelines never set this). */
  readonly allowStrays?: boolean;
  readonly signal?: AbortSignal;
  readonly logger: Logger;
  /** What the user typed for rpmRepo, debRepo and stateUrl, for messages. @default the field names */
  readonly labels?: PublishLabels;
}

/**
 * Publishes a release's build into its yum and apt repositories: the library entry behind
 * `ket-packages publish`. See lib/publish for the checks and the write order.
 *
 * @throws UserError naming every problem (nothing written), or what failed while writing.
 */
export async function publishRelease(opts: PublishReleaseOptions): Promise<PublishSummary> {
  // The manifest is read on a worker thread from the start; the publish awaits it where it
  // checks for strays (before any write).
  const manifest = typeof opts.manifest === 'string' ? loadManifestOffThread(opts.manifest) : Promise.resolve(opts.manifest);
  const release = manifest.then(expectedPackages);
  // Its error is the publish's, when the strays are checked (before any write); until then it
  // must not count as unhandled (Node would end the process with the locks still held).
  release.catch(() => undefined);
  const summary = await publishRepositories({
    rpmRepo: opts.rpmRepo,
    debRepo: opts.debRepo,
    from: opts.from,
    stateUrl: opts.stateUrl,
    rpmBaseUrl: opts.rpmBaseUrl,
    signingKey: opts.signingKey,
    env: opts.awsEnv,
    logger: opts.logger,
    lockTtlMs: opts.lockTtlMs,
    lockWaitMs: opts.lockWaitMs,
    allowKeyChange: opts.allowKeyChange,
    release,
    allowStrays: opts.allowStrays,
    signal: opts.signal,
    labels: opts.labels,
  });
  return { ...summary, debUrl: opts.debBaseUrl ?? summary.debUrl };
}
