import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { SigningKey } from '../signing/keyring';
import { UserError } from '../util/errors';
import { timed } from '../util/log';
import type { Cleanup } from './cleanup';
import { prepareDebRepository } from './deb';
import type { PublishOptions, PublishSummary } from './index';
import { acquireLocks } from './lock';
import { PreparedRepository, PublishResult } from './repository';
import { prepareRpmRepository } from './rpm';
import { assertBucket, bucketHttpUrl, bucketOf, getObjectBytes, s3TargetFromEnv } from './s3';
import { detachSignSha512 } from './sign';
import { BuildPackage, formatProblems, InputProblem, strayPackages } from './validate';
import { putBytes } from './upload';
import { CACHE_REVALIDATE } from './layout';
import type { ReleaseManifest } from '../release-manifest';
import { DetachedSigner, recordRelease, RepositoryObjects } from '../release-manifest/repository';

/**
 * The S3 half of a publish (lib/publish/index.ts starts the rest, then loads this module and its
 * AWS SDK while gpg, rpm and dpkg-deb run): buckets, locks, strays, then both repositories read,
 * checked and prepared, then written.
 */

/** What lib/publish/index.ts started before loading this module. */
export interface StartedPublish {
  /** The state place, parsed from opts.stateUrl, and what the user called that option. */
  readonly state: { readonly bucket: string; readonly prefix: string; readonly label: string };
  readonly workDir: string;
  readonly key: Promise<SigningKey>;
  /** The build's RPMs and DEBs, read and checked (lib/publish/validate). */
  readonly inputs: Promise<[Read, Read]>;
  /** FROM/release-manifest.json, or the problem reading it. */
  readonly releaseRead: Promise<{ release: ReleaseManifest | undefined; problem: string | undefined }>;
  readonly cleanup: Cleanup;
  /** Throws when the publish was interrupted. */
  readonly aborted: () => void;
}

type Read = { packages: BuildPackage[]; problems: InputProblem[] };

/**
 * Publishes what `started` holds into the repositories of `opts` (lib/publish/index.ts
 * `publishRepositories` documents the contract).
 * @throws UserError listing every problem, with nothing written, or naming what failed while writing
 */
export async function publishToBuckets(opts: PublishOptions, started: StartedPublish): Promise<PublishSummary> {
  const { logger } = opts;
  const { state, workDir, key, cleanup, aborted } = started;
  const s3 = s3TargetFromEnv(opts.env);
  try {
    const rpmBucket = bucketOf(s3, opts.rpmRepo, 'RPM repository');
    const debBucket = bucketOf(s3, opts.debRepo, 'DEB repository');
    const stateBucket = bucketOf(s3, state.bucket, `state (${state.label})`);

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
    // beside the other cleanup. After a publish, at once when its last write is done: the next
    // publisher need not wait for our scratch files to go.
    let unlocked: Promise<void> | undefined;
    const unlock = () =>
      (unlocked ??= (async () => {
        stopLocking.abort(new UserError('publish stopped before its locks were needed'));
        await locking.then(
          (l) => timed(logger, 'lock', 'releasing both repository locks', () => l.release()),
          () => undefined,
        );
      })());
    cleanup.add(unlock);

    const [buckets, [rpmRead, debRead], releaseRead] = await Promise.all([
      timed(logger, 'read metadata', 'buckets exist', () => Promise.allSettled([rpmBucket, debBucket, stateBucket].map(assertBucket))),
      started.inputs,
      started.releaseRead,
    ]);
    // Strays (packages the release does not name), decided before any write; a stray refuses at
    // once, even while another publish holds a lock. (The release manifest is read on a worker
    // thread: lib/release/publish.ts.)
    const strays: Promise<string[]> = Promise.resolve(opts.release).then((release) => {
      const found = strayPackages([...rpmRead.packages, ...debRead.packages], release);
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
    await unlock();
    return { rpm, deb, rpmUrl, debUrl: bucketHttpUrl(s3, opts.debRepo) };
  } finally {
    // The locks are released by the cleanup (if not yet), with the client.
    await cleanup.run();
    s3.client.destroy();
  }
}

/**
 * A refused publish: every problem on its own "- " line, and the count of those lines. A message
 * that already lists several problems joined with "\n- " (rpm.ts names every damaged metadata
 * file of a repository so, in one rejection) counts as each of them: the count is what the
 * reader sees listed, never "1 problem(s)" over two damaged files.
 * @param problems one message per problem found (a problem's own detail lines are indented, not "- ")
 */
export function refusal(problems: readonly string[]): UserError {
  const listed = problems.flatMap((p) => p.split('\n- '));
  return new UserError(`publish refused (${listed.length} problem(s)); nothing was written:\n${listed.map((p) => `- ${p}`).join('\n')}`);
}
