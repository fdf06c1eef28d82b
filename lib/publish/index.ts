import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSigningKey, SigningKey, SigningKeyOptions } from '../signing/keyring';
import { bucketNameProblem } from '../util/bucket-name';
import { UserError } from '../util/errors';
import { removeTree } from '../util/folder';
import { Logger, timed } from '../util/log';
import { Cleanup } from './cleanup';
import { prepareDebRepository } from './deb';
import { acquireLocks } from './lock';
import { PreparedRepository, PublishResult } from './repository';
import { prepareRpmRepository } from './rpm';
import { assertBucket, bucketHttpUrl, bucketOf, getObjectBytes, parseS3Url, s3TargetFromEnv } from './s3';
import { assertSigningKeyAcceptable, detachSignSha512 } from './sign';
import { formatProblems, readBuildPackages, ReleaseContents, strayPackages } from './validate';
import { putBytes } from './upload';
import { CACHE_REVALIDATE } from './layout';
import { releaseOfBuild } from '../release-manifest';
import { DetachedSigner, recordRelease, RepositoryObjects } from '../release-manifest/repository';

export type { PublishResult } from './repository';
export type { ReleaseContents } from './validate';

export interface PublishOptions {
  /** Bucket of the yum repository. */
  readonly rpmRepo: string;
  /** Bucket of the apt repository. */
  readonly debRepo: string;
  /** Build output: FROM/rpms/*.rpm and FROM/debs/*.deb. */
  readonly from: string;
  /** s3://BUCKET/PREFIX: private place for aptly's database and the repository locks. */
  readonly stateUrl: string;
  /** Public URL of the yum repository, written into kismatic.repo (default: the bucket's URL). */
  readonly rpmBaseUrl?: string;
  readonly signingKey: SigningKeyOptions;
  /** Environment for the S3 endpoint and credentials (AWS_*); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly lockTtlMs?: number;
  readonly lockWaitMs?: number;
  /** Publish although the repositories' metadata is signed by another key (a deliberate rotation). */
  readonly allowKeyChange?: boolean;
  /**
   * What the release contains: a package of the build outside it is refused (a stray). A function
   * is called once the build's packages are read, while the key opens and the locks are taken
   * (loading a release manifest is CPU work that need not hold those up); what it throws is
   * thrown by the publish, before any write.
   */
  readonly release: ReleaseContents | (() => ReleaseContents);
  /** Publish packages the release does not name (never in pipelines: strays are served forever). */
  readonly allowStrays?: boolean;
  /** Aborting stops the publish before its next write and cleans up its secrets at once. */
  readonly signal?: AbortSignal;
  /**
   * What the user called the repository options, so messages name what they typed, e.g.
   * `{ stateUrl: '--state-url' }` or `{ stateUrl: 'KET_STATE_URL' }`.
   * @default the field names ('rpmRepo', 'debRepo', 'stateUrl')
   */
  readonly labels?: PublishLabels;
}

export type PublishLabels = Partial<Record<'rpmRepo' | 'debRepo' | 'stateUrl', string>>;

export interface PublishSummary {
  readonly rpm: PublishResult;
  readonly deb: PublishResult;
  readonly rpmUrl: string;
  readonly debUrl: string;
}

/** Option problems, named by label (the field name by default); none means the options are usable. */
export function optionProblems(opts: Pick<PublishOptions, 'rpmRepo' | 'debRepo' | 'stateUrl' | 'labels'>): string[] {
  const problems: string[] = [];
  const label = labelOf(opts);
  for (const [field, value] of [
    ['rpmRepo', opts.rpmRepo],
    ['debRepo', opts.debRepo],
  ] as const) {
    const problem = value ? bucketNameProblem(value) : 'the bucket of the repository is required';
    if (problem) problems.push(`${label(field)}: ${problem}`);
  }
  if (opts.rpmRepo && opts.rpmRepo === opts.debRepo)
    problems.push(`${label('rpmRepo')} and ${label('debRepo')} must be different buckets (both are '${opts.rpmRepo}')`);
  if (!opts.stateUrl)
    problems.push(
      `${label('stateUrl')}: s3://BUCKET/PREFIX is required: a private place for aptly's database and the repository locks, never served publicly`,
    );
  else {
    try {
      const state = parseS3Url(opts.stateUrl, label('stateUrl'));
      if (state.bucket === opts.rpmRepo || state.bucket === opts.debRepo)
        problems.push(`${label('stateUrl')} must not be a repository bucket (it is private; '${state.bucket}' is served to clients)`);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

function labelOf(opts: Pick<PublishOptions, 'labels'>): (field: keyof PublishLabels) => string {
  return (field) => opts.labels?.[field] ?? field;
}

/**
 * Publishes a build into the yum and apt repositories. Every check of both repositories runs
 * before the first write of either (inputs, strays, RPM signatures, conflicts, epochs, the signing
 * key, buckets), and every failure is reported together; then both are written side by side.
 * Locks on the two repositories are taken in one fixed order. Secrets are cleaned on every path.
 *
 * @throws UserError listing every problem, with nothing written, or naming what failed while writing.
 */
export async function publishRepositories(opts: PublishOptions): Promise<PublishSummary> {
  const problems = optionProblems(opts);
  if (problems.length) throw new UserError(problems.join('\n'));
  const cleanup = new Cleanup();
  const interrupted = () =>
    new UserError(`publish interrupted (${String(opts.signal?.reason ?? 'aborted')}); secrets and scratch files removed`, 130);
  const work = publish(opts, cleanup, () => {
    if (opts.signal?.aborted) throw interrupted();
  });
  if (!opts.signal) return work;
  // On abort the secrets go at once and the caller gets its answer when they are gone; the work
  // stops at its next check (before any further write of a signed entry file).
  work.catch(() => undefined);
  const signal = opts.signal;
  let onAbort = () => {};
  const abortedAndClean = new Promise<never>((_, reject) => {
    onAbort = () => void cleanup.run().then(() => reject(interrupted()));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  abortedAndClean.catch(() => undefined);
  try {
    return await Promise.race([work, abortedAndClean]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function publish(opts: PublishOptions, cleanup: Cleanup, aborted: () => void): Promise<PublishSummary> {
  const { logger } = opts;
  const state = parseS3Url(opts.stateUrl, labelOf(opts)('stateUrl'));
  const s3 = s3TargetFromEnv(opts.env);
  try {
    aborted();
    const [rpmFiles, debFiles] = await Promise.all([
      listPackageFiles(opts.from, 'rpms', '.rpm'),
      listPackageFiles(opts.from, 'debs', '.deb'),
    ]);
    const rpmBucket = bucketOf(s3, opts.rpmRepo, 'RPM repository');
    const debBucket = bucketOf(s3, opts.debRepo, 'DEB repository');
    const stateBucket = bucketOf(s3, state.bucket, `state (${labelOf(opts)('stateUrl')})`);
    const workDir = await mkdtemp(path.join(os.tmpdir(), 'ket-publish-'));
    cleanup.add(() => removeTree(workDir));

    // The key opens (and is checked against what clients accept) while everything else is read.
    const key: Promise<SigningKey> = timed(logger, 'key', 'opening the signing key', () =>
      openSigningKey(opts.signingKey, 'publish (signing repository metadata)', (home, fingerprint, source) =>
        assertSigningKeyAcceptable(home, fingerprint, source, logger),
      ),
    );
    key.catch(() => undefined);
    cleanup.add(() => key.then((k) => k.dispose()));

    // Both repositories locked in one order while the inputs, the key and the buckets are checked
    // (the locks are two requests each: they need not wait for the checks). A problem found by
    // the checks stops the lock wait and releases what was taken: nothing is written.
    const stopLocking = new AbortController();
    const locking = timed(logger, 'lock', 'taking both repository locks', () =>
      acquireLocks(
        s3,
        [rpmBucket, debBucket].map((b) => ({
          bucket: state.bucket,
          key: `${state.prefix}locks/${b.name}.lock`,
          what: `s3://${b.name}`,
          logger,
          ttlMs: opts.lockTtlMs,
          waitMs: opts.lockWaitMs,
          signal: opts.signal ? AbortSignal.any([opts.signal, stopLocking.signal]) : stopLocking.signal,
        })),
      ),
    );
    locking.catch(() => undefined);
    // On every path (a refusal, an error, an interrupt): stop waiting, release what was taken,
    // beside the other cleanup.
    cleanup.add(async () => {
      stopLocking.abort(new UserError('publish stopped before its locks were needed'));
      await locking.then(
        (l) => timed(logger, 'lock', 'releasing both repository locks', () => l.release()),
        () => undefined,
      );
    });

    const [buckets, rpmRead, debRead, releaseRead] = await Promise.all([
      timed(logger, 'read metadata', 'buckets exist', () => Promise.allSettled([rpmBucket, debBucket, stateBucket].map(assertBucket))),
      timed(logger, 'inputs', 'reading the RPMs', () => readBuildPackages(rpmFiles, 'rpm')),
      timed(logger, 'inputs', 'reading the DEBs', () => readBuildPackages(debFiles, 'deb')),
      // The release record (lib/release-manifest): FROM/release-manifest.json, checked before any write.
      releaseOfBuild(opts.from, logger).then(
        (release) => ({ release, problem: undefined }),
        (e: Error) => ({ release: undefined, problem: e.message }),
      ),
    ]);
    // Strays (packages the release does not name): the release manifest is CPU work (YAML, schema)
    // that need not hold up the key, the locks and the first reads; it decides before any write.
    const strays: Promise<string[]> = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const found = strayPackages(
        [...rpmRead.packages, ...debRead.packages],
        typeof opts.release === 'function' ? opts.release() : opts.release,
      );
      if (found.length && opts.allowStrays) {
        for (const s of formatProblems(found)) logger.warn(`publishing a package the release does not name: ${s}`);
        return [];
      }
      return formatProblems(found);
    });
    strays.catch(() => undefined);
    const early = [
      ...buckets.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message),
      ...formatProblems([...rpmRead.problems, ...debRead.problems]),
      ...(releaseRead.problem ? [releaseRead.problem] : []),
    ];
    // The key need not be open for the repositories to be read (it is awaited where it signs or
    // guards); a key that cannot be used refuses the publish like any other problem.
    const keyProblem: Promise<string[]> = key.then(
      () => [],
      (e: Error) => [e.message],
    );
    // The checks' messages, not the lock's (a missing state bucket is named by the bucket check).
    if (early.length) throw refusal([...early, ...(await keyProblem), ...(await strays)]);
    aborted();
    // Strays or a key problem found while the locks are awaited (another publish may hold them)
    // refuse at once.
    const refuseAtOnce = (found: Promise<string[]>) =>
      found.then((problems) => (problems.length ? Promise.reject(refusal(problems)) : locking));
    const locks = await Promise.race([locking, refuseAtOnce(strays), refuseAtOnce(keyProblem)]);
    logger.info(
      `publishing ${rpmRead.packages.length} RPM(s) to s3://${opts.rpmRepo} and ${debRead.packages.length} DEB(s) to s3://${opts.debRepo}${s3.endpoint ? ` at ${s3.endpoint}` : ''}`,
    );
    const rpmUrl = opts.rpmBaseUrl ?? bucketHttpUrl(s3, opts.rpmRepo);
    const allowKeyChange = opts.allowKeyChange ?? false;
    const preparing = Promise.allSettled([
      prepareRpmRepository({
        bucket: rpmBucket,
        rpms: rpmRead.packages,
        key,
        allowKeyChange,
        baseUrl: rpmUrl,
        workDir: path.join(workDir, 'rpm'),
        logger,
      }),
      prepareDebRepository({
        bucket: debBucket,
        debs: debRead.packages,
        key,
        allowKeyChange,
        state: { bucket: stateBucket, prefix: state.prefix },
        onCleanup: (task) => cleanup.add(task),
        workDir: path.join(workDir, 'deb'),
        logger,
      }),
    ]);
    const prepared = await preparing;
    // Without a key the repositories' own checks failed for that reason alone: the key is named once.
    const noKey = await keyProblem;
    if (noKey.length) throw refusal([...noKey, ...(await strays)]);
    const refused = [
      ...(await strays),
      ...prepared.flatMap((p) => (p.status === 'rejected' ? [(p.reason as Error).message] : p.value.problems)),
    ];
    if (refused.length) throw refusal(refused);
    aborted();
    const [rpmPlan, debPlan] = prepared.map((p) => (p as PromiseFulfilledResult<PreparedRepository>).value);
    const check = (i: number) => () => {
      aborted();
      locks.held[i].assertHeld();
    };
    // Independent repositories (own bucket, own lock): written side by side. allSettled: neither
    // is cut off while the other fails, and both failures are reported.
    const written = await Promise.allSettled([rpmPlan.write(check(0)), debPlan.write(check(1))]);
    const failed = written.flatMap((w, i) =>
      w.status === 'rejected' ? [`${[rpmBucket, debBucket][i].label}: ${(w.reason as Error).message}`] : [],
    );
    if (failed.length) throw new UserError(`publish failed while writing:\n${failed.map((f) => `- ${f}`).join('\n')}`);
    const [rpm, deb] = written.map((w) => (w as PromiseFulfilledResult<PublishResult>).value);
    // After both repositories' packages and metadata, still under their locks: release.json + signature.
    const release = releaseRead.release;
    if (release) {
      // Signed like every other entry file: SHA-512 (lib/publish/sign).
      const signingKey = await key;
      const signer: DetachedSigner = async (data) => {
        const dir = await mkdtemp(path.join(workDir, 'release-sign-'));
        await writeFile(path.join(dir, 'data'), data);
        await detachSignSha512(signingKey, path.join(dir, 'data'), path.join(dir, 'data.asc'));
        return readFile(path.join(dir, 'data.asc'), 'utf8');
      };
      for (const [i, b] of [rpmBucket, debBucket].entries()) {
        check(i)();
        const objects: RepositoryObjects = {
          get: async (k) => (await getObjectBytes(b, k))?.body,
          // A signed pair, like the other signed entry files: caches must ask the origin every time.
          put: async (k, body, contentType) => void (await putBytes(b, k, body, { cacheControl: CACHE_REVALIDATE, contentType })),
        };
        // A key rotation signs the record again with the new key.
        await timed(logger, 'upload', `${b.label}: release.json`, () =>
          recordRelease(objects, signer, release, { what: b.label, logger, resign: opts.allowKeyChange }),
        );
      }
    }
    return { rpm, deb, rpmUrl, debUrl: bucketHttpUrl(s3, opts.debRepo) };
  } finally {
    await timed(logger, 'cleanup', 'locks, secrets and scratch files', () => cleanup.run());
    s3.client.destroy();
  }
}

function refusal(problems: readonly string[]): UserError {
  return new UserError(
    `publish refused (${problems.length} problem(s)); nothing was written:\n${problems.map((p) => `- ${p}`).join('\n')}`,
  );
}

/** The package files of a build folder (FROM/SUBDIR/*.EXT), sorted; none is an error naming the folder. */
export async function listPackageFiles(from: string, subdir: string, ext: '.rpm' | '.deb'): Promise<string[]> {
  const dir = path.join(from, subdir);
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(
      `cannot read ${dir}: ${e.code === 'ENOENT' ? 'no such directory (run ket-packages build first, or pass the build folder)' : e.message}`,
    );
  });
  const files = names
    .filter((n) => n.endsWith(ext))
    .sort()
    .map((n) => path.join(dir, n));
  if (files.length === 0) throw new UserError(`no ${ext} files in ${dir}`);
  return files;
}
