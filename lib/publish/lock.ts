import * as os from 'node:os';
import { randomUUID } from 'node:crypto';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { bucketOf, describeS3Error, getObjectBytes, isS3Error, S3Target } from './s3';
import { putBytes } from './upload';
import { compareCodeUnits } from '../util/compare';

/**
 * A lock per repository, held as one object in the private state place and taken with S3
 * conditional writes: `If-None-Match: *` creates it, `If-Match: <etag>` takes over an expired or
 * released one and renews our own. No DeleteObject is ever needed: release writes a "released"
 * record, which the next publisher takes over like an expired one.
 */
export interface LockRecord {
  readonly owner: string;
  readonly acquiredAt: string;
  readonly expiresAt: string;
  readonly released?: boolean;
}

/** A lock whose record says it is released or past its expiry may be taken over. */
export function isLockFree(record: LockRecord | undefined, now: Date): boolean {
  if (!record) return true;
  if (record.released) return true;
  const expires = Date.parse(record.expiresAt);
  return Number.isNaN(expires) || expires <= now.getTime();
}

export function parseLockRecord(body: string): LockRecord | undefined {
  try {
    const r = JSON.parse(body) as LockRecord;
    return typeof r.owner === 'string' && typeof r.expiresAt === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

export interface LockOptions {
  readonly bucket: string;
  readonly key: string;
  /** How long the lock is valid without renewal; renewed every third of it while held. */
  readonly ttlMs?: number;
  /** How long to wait for another publisher before giving up. */
  readonly waitMs?: number;
  readonly pollMs?: number;
  readonly logger: Logger;
  /** What is being locked, for messages. */
  readonly what: string;
  /**
   * Stops waiting for the lock (a publish that found a problem while its lock was being taken, or
   * an interrupt): the wait ends at once with the signal's reason, and a lock already taken is
   * released.
   */
  readonly signal?: AbortSignal;
}

export interface HeldLock {
  readonly owner: string;
  /** Throws if a renewal failed (someone took the lock over): stop before writing the top files. */
  assertHeld(): void;
  release(): Promise<void>;
}

/** Takes the lock, waiting for its holder (up to `waitMs`). */
export async function acquireLock(target: S3Target, opts: LockOptions): Promise<HeldLock> {
  return (await takeLock(target, opts, true))!;
}

/** Takes the lock if it is free now; undefined when another holds it (or took it meanwhile). */
export function tryAcquireLock(target: S3Target, opts: LockOptions): Promise<HeldLock | undefined> {
  return takeLock(target, opts, false);
}

async function takeLock(target: S3Target, opts: LockOptions, wait: boolean): Promise<HeldLock | undefined> {
  const b = bucketOf(target, opts.bucket, 'state');
  const ttlMs = opts.ttlMs ?? 15 * 60_000;
  const waitMs = opts.waitMs ?? 20 * 60_000;
  const pollMs = opts.pollMs ?? 2_000;
  const owner = `${os.hostname()}:${process.pid}:${randomUUID()}`;
  const record = (now: Date, released = false): string =>
    JSON.stringify({
      owner,
      acquiredAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + (released ? 0 : ttlMs)).toISOString(),
      ...(released ? { released: true } : {}),
    } satisfies LockRecord);
  const deadline = Date.now() + waitMs;
  let etag: string | undefined;
  let announced = '';
  const stopIfAborted = () => {
    if (opts.signal?.aborted)
      throw opts.signal.reason instanceof Error ? opts.signal.reason : new UserError(`${opts.what}: stopped waiting for the lock`);
  };
  while (etag === undefined) {
    stopIfAborted();
    // Read first: after the first publish the record exists (released), and taking it is one
    // conditional write; a create-only write first would fail with 412 before that read.
    const current = await getObjectBytes(b, opts.key);
    const now = new Date();
    const held = current ? parseLockRecord(current.body.toString('utf8')) : undefined;
    let raced = false;
    if (!current || isLockFree(held, now)) {
      try {
        etag = await putBytes(b, opts.key, record(now), {
          cacheControl: 'no-store',
          contentType: 'application/json',
          ...(current ? { ifMatch: current.etag } : { ifNoneMatch: '*' }),
        });
        if (held && !held.released)
          opts.logger.warn(`${opts.what}: took over the expired lock of ${held.owner} (expired ${held.expiresAt})`);
        break;
      } catch (e) {
        // Another publisher wrote it between our read and our write: read again, and wait for it like any holder.
        if (!isS3Error(e, 'PreconditionFailed', '412', 'NoSuchKey', '404', 'ConditionalRequestConflict'))
          throw describeS3Error(e, target, `taking the lock s3://${opts.bucket}/${opts.key}`);
        if (!wait) return undefined;
        raced = true;
      }
    } else if (!wait) {
      return undefined;
    } else if (held && announced !== held.owner) {
      announced = held.owner;
      opts.logger.info(`${opts.what}: waiting for the lock held by ${held.owner} (expires ${held.expiresAt})`);
    }
    if (Date.now() > deadline) {
      throw new UserError(
        `${opts.what}: gave up waiting for the lock s3://${opts.bucket}/${opts.key} after ${Math.round(waitMs / 1000)}s${announced ? ` (held by ${announced})` : ''}`,
      );
    }
    if (!raced) await sleep(pollMs + Math.floor(Math.random() * pollMs), opts.signal);
  }

  let lost: Error | undefined;
  let currentEtag = etag;
  const renew = setInterval(
    () => {
      putBytes(b, opts.key, record(new Date()), {
        cacheControl: 'no-store',
        contentType: 'application/json',
        ifMatch: currentEtag,
      })
        .then((e) => (currentEtag = e))
        .catch(
          (e: Error) =>
            (lost = new UserError(
              `${opts.what}: lost the lock s3://${opts.bucket}/${opts.key} (${e.message}); stopping before the repository's top files are written`,
            )),
        );
    },
    Math.max(1000, Math.floor(ttlMs / 3)),
  );
  renew.unref();
  return {
    owner,
    assertHeld: () => {
      if (lost) throw lost;
    },
    release: async () => {
      clearInterval(renew);
      if (lost) return;
      await putBytes(b, opts.key, record(new Date(), true), {
        cacheControl: 'no-store',
        contentType: 'application/json',
        ifMatch: currentEtag,
      }).catch((e: Error) => {
        opts.logger.warn(`${opts.what}: could not release the lock (${e.message}); it expires by itself`);
      });
    },
  };
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Takes several locks, always in one order (by state bucket, then key), so two processes that
 * need overlapping sets (two publishers, a publisher and a clone) can never each hold one and
 * wait for the other. Releases all at once (the order of releases cannot deadlock anyone); on a
 * failure, releases what it took.
 */
export async function acquireLocks(
  target: S3Target,
  locks: readonly LockOptions[],
): Promise<{ /** In the order of `locks` (not the order taken). */ held: HeldLock[]; release(): Promise<void> }> {
  const ordered = [...locks].sort(compareLockOrder);
  const taken: Array<{ options: LockOptions; lock: HeldLock }> = [];
  const release = async () => {
    await Promise.all(taken.splice(0).map((t) => t.lock.release()));
  };
  // First all at once, without waiting: the usual case (nobody holds them) costs two requests in
  // all instead of two per lock one after the other. If any is held, what was taken is released
  // and they are taken one by one in order, waiting: a lock is only ever held while waiting for
  // another in that one order, so two processes can never wait for each other.
  const attempts = await Promise.allSettled(ordered.map((l) => tryAcquireLock(target, l)));
  for (const [i, a] of attempts.entries()) if (a.status === 'fulfilled' && a.value) taken.push({ options: ordered[i], lock: a.value });
  const failed = attempts.find((a): a is PromiseRejectedResult => a.status === 'rejected');
  if (taken.length === ordered.length && !ordered.some((l) => l.signal?.aborted))
    return { held: locks.map((l) => taken.find((t) => t.options === l)!.lock), release };
  await release();
  if (failed) throw failed.reason;
  try {
    for (const l of ordered) {
      taken.push({ options: l, lock: await acquireLock(target, l) });
      if (l.signal?.aborted)
        throw l.signal.reason instanceof Error ? l.signal.reason : new UserError(`${l.what}: stopped taking the locks`);
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { held: locks.map((l) => taken.find((t) => t.options === l)!.lock), release };
}

/** The order locks are taken in: state bucket, then key. */
export function lockOrder(l: Pick<LockOptions, 'bucket' | 'key'>): string {
  return `${l.bucket}\u0000${l.key}`;
}

/**
 * Compares two locks in the order they are taken: by lockOrder, in code units, so every process
 * orders them alike whatever its locale (a locale-aware order could differ between two machines,
 * and two publishers taking the same locks in different orders could wait for each other).
 */
export function compareLockOrder(a: Pick<LockOptions, 'bucket' | 'key'>, b: Pick<LockOptions, 'bucket' | 'key'>): number {
  return compareCodeUnits(lockOrder(a), lockOrder(b));
}
