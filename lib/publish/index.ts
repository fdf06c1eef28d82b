import { isBucketName } from '../util/bucket-name';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSigningKey, SigningKeyOptions } from '../signing/keyring';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { publishDebRepository } from './deb';
import { assertSameSigningKey } from './key-guard';
import { acquireLock } from './lock';
import { listPackageFiles, publishRpmRepository, PublishResult } from './rpm';
import { assertBucket, bucketHttpUrl, parseS3Url, s3TargetFromEnv } from './s3';

export interface PublishOptions {
  readonly rpmRepo: string;
  readonly debRepo: string;
  /** Build output: FROM/rpms/*.rpm and FROM/debs/*.deb. */
  readonly from: string;
  /** s3://BUCKET/PREFIX: private place for aptly's database and the repository locks. */
  readonly stateUrl: string;
  readonly rpmBaseUrl?: string;
  readonly signingKey: SigningKeyOptions;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly lockTtlMs?: number;
  readonly lockWaitMs?: number;
  /** Publish even though the repositories' public.key is another key (a deliberate rotation). */
  readonly allowKeyChange?: boolean;
}

export interface PublishSummary {
  readonly rpm: PublishResult;
  readonly deb: PublishResult;
  readonly rpmUrl: string;
  readonly debUrl: string;
}

export async function publishRepositories(opts: PublishOptions): Promise<PublishSummary> {
  const { logger } = opts;
  for (const [flag, value] of [
    ['--rpm-repo (RPM_REPO)', opts.rpmRepo],
    ['--deb-repo (DEB_REPO)', opts.debRepo],
  ] as const) {
    if (!value) throw new UserError(`publish needs ${flag}: the bucket of the repository`);
    if (!isBucketName(value)) throw new UserError(`${flag}: '${value}' is not a valid bucket name`);
  }
  if (opts.rpmRepo === opts.debRepo)
    throw new UserError(`--rpm-repo and --deb-repo must be different buckets (both are '${opts.rpmRepo}')`);
  if (!opts.stateUrl)
    throw new UserError(
      "publish needs --state-url s3://BUCKET/PREFIX (or KET_STATE_URL): a private place for aptly's database and the repository locks, never served publicly",
    );
  const state = parseS3Url(opts.stateUrl, '--state-url');
  if (state.bucket === opts.rpmRepo || state.bucket === opts.debRepo)
    throw new UserError(`--state-url must not be a repository bucket (it is private; '${state.bucket}' is served to clients)`);

  const rpms = await listPackageFiles(path.join(opts.from, 'rpms'), '.rpm');
  const debs = await listPackageFiles(path.join(opts.from, 'debs'), '.deb');
  if (rpms.length === 0) throw new UserError(`no .rpm files in ${path.join(opts.from, 'rpms')}`);
  if (debs.length === 0) throw new UserError(`no .deb files in ${path.join(opts.from, 'debs')}`);

  const target = s3TargetFromEnv(opts.env);
  try {
    // Every precondition is checked before the first write to a repository: the buckets here, the
    // key before the first signature (it opens while the old metadata is read).
    await Promise.all([
      assertBucket(target, opts.rpmRepo, 'RPM repository'),
      assertBucket(target, opts.debRepo, 'DEB repository'),
      assertBucket(target, state.bucket, 'state (--state-url)'),
    ]);
    const key = openSigningKey(opts.signingKey, 'publish (signing repository metadata)');
    key.catch(() => undefined); // reported below or by the publishers that await it
    await assertSameSigningKey(target, [opts.rpmRepo, opts.debRepo], await key, opts.allowKeyChange ?? false, logger);
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'ket-publish-'));
    try {
      logger.info(
        `publishing ${rpms.length} RPM(s) to s3://${opts.rpmRepo} and ${debs.length} DEB(s) to s3://${opts.debRepo}${target.endpoint ? ` at ${target.endpoint}` : ''}`,
      );
      const rpmUrl = opts.rpmBaseUrl ?? bucketHttpUrl(target, opts.rpmRepo);
      const withLock = async <T>(bucket: string, fn: (assertHeld: () => void) => Promise<T>): Promise<T> => {
        const lock = await acquireLock(target, {
          bucket: state.bucket,
          key: `${state.prefix}locks/${bucket}.lock`,
          what: `s3://${bucket}`,
          logger,
          ttlMs: opts.lockTtlMs,
          waitMs: opts.lockWaitMs,
        });
        try {
          return await fn(() => lock.assertHeld());
        } finally {
          await lock.release();
        }
      };
      // The two repositories are independent (own bucket, own lock): publish them side by side.
      // allSettled: neither is left running while the work folder and the key are cleaned up.
      const [rpmOutcome, debOutcome] = await Promise.allSettled([
        withLock(opts.rpmRepo, (beforeTopFiles) =>
          publishRpmRepository({
            target,
            bucket: opts.rpmRepo,
            rpms,
            key,
            baseUrl: rpmUrl,
            workDir: path.join(workDir, 'rpm'),
            logger,
            beforeTopFiles,
          }),
        ),
        withLock(opts.debRepo, (beforeTopFiles) =>
          publishDebRepository({
            target,
            bucket: opts.debRepo,
            debs,
            key,
            state: { target, ...state },
            workDir: path.join(workDir, 'deb'),
            logger,
            beforeTopFiles,
          }),
        ),
      ]);
      if (rpmOutcome.status === 'rejected') throw rpmOutcome.reason;
      if (debOutcome.status === 'rejected') throw debOutcome.reason;
      const [rpm, deb] = [rpmOutcome.value, debOutcome.value];
      return { rpm, deb, rpmUrl, debUrl: bucketHttpUrl(target, opts.debRepo) };
    } finally {
      await rm(workDir, { recursive: true, force: true });
      await key.then(
        (k) => k.dispose(),
        () => undefined,
      );
    }
  } finally {
    target.client.destroy();
  }
}
