import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLocks } from '../publish/lock';
import { kismaticRepoFile } from '../publish/rpm';
import { cacheControlOf } from '../publish/layout';
import { detachSignSha512 } from '../publish/sign';
import { fetchVerifiedReleaseIndex, RELEASE_INDEX, RELEASE_INDEX_SIGNATURE } from '../release-manifest/repository';
import { assertBucket, bucketHttpUrl, bucketOf, S3Target } from '../publish/s3';
import { putBytes } from '../publish/upload';
import { clearSign, detachSign, gpg, openSigningKey, SigningKey, SigningKeyOptions } from '../signing/keyring';
import { mapConcurrent } from '../util/concurrency';
import { INTERRUPTED_EXIT_CODE, UserError } from '../util/errors';
import { formatBytes, Logger } from '../util/log';
import { verifyDebRepository, verifyRpmRepository } from '../verify';
import { ReferencedObject } from './indexes';
import { PublicKeyring } from './keys';
import { copyObject, CopySettings, deleteKeys, holdsContent } from './objects';
import {
  DEB_TOP_FILES,
  IN_RELEASE,
  listKeys,
  readSnapshot,
  RELEASE,
  RELEASE_GPG,
  REPOMD,
  REPOMD_ASC,
  RepositorySnapshot,
  RPM_TOP_FILES,
} from './snapshot';
import { checkClonePair, CloneProgress, CloneRepository } from './types';

export { checkClonePair, findRepository } from './types';
export type { CloneProgress, CloneRepository } from './types';

/**
 * The clone engine: copies repository A (any, production included) into repository B (never
 * production) server side, so that B serves exactly what A served at one moment, at B's URLs and
 * signed with B's key. See README "Cloning a repository".
 */
export interface CloneOptions extends CopySettings {
  /** Source repository name (A). */
  readonly from: string;
  /** Destination repository name (B). */
  readonly to: string;
  /** The repositories known to this installation; A and B are looked up here by name. */
  readonly repositories: readonly CloneRepository[];
  readonly target: S3Target;
  /** B's signing key: B's top files are signed with it and its public half heads B's public.key. */
  readonly signingKey: SigningKeyOptions;
  readonly logger: Logger;
  /** Copies in flight at once. @default 16 */
  readonly concurrency?: number;
  /**
   * What a source with nothing published yet means: an error (a command typed by hand), or
   * success with nothing copied (a repository declared with cloneFrom in a fresh account).
   * @default 'fail'
   */
  readonly emptySource?: 'fail' | 'succeed';
  /** Called after every object (copied or found identical). */
  readonly onProgress?: (p: CloneProgress) => void;
  /**
   * Stops the clone at its next step (between objects while copying): B keeps its old top files,
   * its locks are released and the temporary folders removed; a re-run completes it. The abort
   * reason (the signal's name, e.g. SIGINT) is named in the error.
   */
  readonly signal?: AbortSignal;
  /** B's publish lock: validity without renewal, and how long to wait for a publisher. @default 15 and 20 minutes */
  readonly lockTtlMs?: number;
  readonly lockWaitMs?: number;
  /** Invalidates B's CDN paths after the top files are written, and waits (AWS: CloudFront). */
  readonly invalidate?: (destination: CloneRepository, paths: { rpm: string[]; deb: string[] }) => Promise<void>;
  /**
   * Read B at the end the way `ket-packages verify` does (dnf and apt-get, every package B serves).
   * @default true
   */
  readonly verify?: boolean;
  /** Creates B's buckets when they do not exist (the embedded store; on AWS cdk deploy does). */
  readonly createDestination?: (destination: CloneRepository) => Promise<void>;
  /** Retries of the source's top files while a publish is writing them. */
  readonly snapshotAttempts?: number;
}

export interface CloneResult {
  readonly status: 'cloned' | 'source-empty';
  readonly from: string;
  readonly to: string;
  readonly objects: number;
  readonly bytes: number;
  readonly copiedObjects: number;
  readonly copiedBytes: number;
  readonly skippedObjects: number;
  /** s3://BUCKET/KEY of B's objects that held other content and were overwritten (reset). */
  readonly replaced: readonly string[];
  /** s3://BUCKET/KEY of B's objects that A does not serve and were removed (reset). */
  readonly removed: readonly string[];
  readonly rpmPackages: number;
  readonly debPackages: number;
  readonly rpmUrl: string;
  readonly debUrl: string;
  /** Milliseconds spent copying, and reading B at the end. */
  readonly copyMs: number;
  readonly verifyMs: number;
  readonly message: string;
}

/**
 * B's files the clone writes itself rather than copies: never "B-only", never copied from A.
 * release.json and its signature are among them when A has one; when A has none, B's old one
 * (describing B's old content) is B-only and removed.
 */
function ownFiles(top: readonly string[], releaseIndex: Buffer | undefined): Set<string> {
  return new Set<string>([...top, ...(releaseIndex ? [RELEASE_INDEX, RELEASE_INDEX_SIGNATURE] : [])]);
}

interface Planned extends ReferencedObject {
  readonly sourceBucket: string;
  readonly bucket: string;
  readonly state: 'new' | 'replace' | 'identical';
}

/**
 * Clones repository `from` into repository `to`.
 *
 * Order: guards (nothing read or written on failure) → A's signed top files and what they
 * reference → B's locks → copies (packages, hashed metadata, indexes; B's conflicting objects
 * last) → B's public.key, kismatic.repo and top files, signed with B's key → B-only objects
 * removed → CDN invalidation → the final read of B. A is only ever read, and no one's state place
 * is touched beyond B's locks: B's signed indexes are the whole record of what B holds.
 *
 * @returns what was copied, replaced and removed; status 'source-empty' when A has nothing
 * published and `emptySource` is 'succeed'.
 * @throws UserError for every guard (A = B, unknown A or B, B production, A not published), a
 * source whose signatures do not verify, any S3 failure, and a final check that finds a problem.
 */
export async function cloneRepositoryContent(opts: CloneOptions): Promise<CloneResult> {
  const { target, logger } = opts;
  const { source: a, destination: b } = checkClonePair(opts.repositories, opts.from, opts.to);
  const stopIfAborted = () => throwIfCloneAborted(opts.signal, b);
  stopIfAborted();
  const rpmUrl = b.rpmBaseUrl ?? bucketHttpUrl(target, b.rpmBucket);
  const debUrl = b.debBaseUrl ?? bucketHttpUrl(target, b.debBucket);
  await Promise.all([
    assertBucket(bucketOf(target, a.rpmBucket, `clone from '${a.name}': RPM repository`)),
    assertBucket(bucketOf(target, a.debBucket, `clone from '${a.name}': DEB repository`)),
  ]);

  const keyring = await PublicKeyring.open();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ket-clone-'));
  let key: Promise<SigningKey> | undefined;
  try {
    const snapshot = await readSnapshot(target, a, keyring, logger, { attempts: opts.snapshotAttempts });
    stopIfAborted();
    const empty = (message: string): CloneResult => ({
      status: 'source-empty',
      from: a.name,
      to: b.name,
      objects: 0,
      bytes: 0,
      copiedObjects: 0,
      copiedBytes: 0,
      skippedObjects: 0,
      replaced: [],
      removed: [],
      rpmPackages: 0,
      debPackages: 0,
      rpmUrl,
      debUrl,
      copyMs: 0,
      verifyMs: 0,
      message,
    });
    if (!snapshot) {
      const message = `clone from '${a.name}': nothing is published there yet (no ${REPOMD} in s3://${a.rpmBucket}, no ${IN_RELEASE} in s3://${a.debBucket})`;
      if (opts.emptySource === 'succeed') {
        logger.info(`${message}; nothing to copy into '${b.name}'`);
        return empty(`${message}; nothing copied into '${b.name}'`);
      }
      throw new UserError(`${message}; nothing was copied`);
    }
    await opts.createDestination?.(b);
    await Promise.all([
      assertBucket(bucketOf(target, b.rpmBucket, `clone to '${b.name}': RPM repository`)),
      assertBucket(bucketOf(target, b.debBucket, `clone to '${b.name}': DEB repository`)),
      assertBucket(bucketOf(target, b.state.bucket, `clone to '${b.name}': state`)),
    ]);
    key = openSigningKey(opts.signingKey, `clone to '${b.name}' (signing its repository metadata)`);
    key.catch(() => undefined);
    const signing = await key;
    await keyring.import(signing.publicKeyArmored, `the signing key of '${b.name}' (${signing.source})`);
    stopIfAborted();

    // B's publish locks, taken in publish's fixed order (lib/publish/lock.ts acquireLocks), so a
    // clone and a publish of B can never each hold one and wait for the other.
    const locks = await acquireLocks(
      target,
      [b.rpmBucket, b.debBucket].map((bucket) => ({
        bucket: b.state.bucket,
        key: `${b.state.prefix}locks/${bucket}.lock`,
        what: `clone to '${b.name}' (s3://${bucket})`,
        logger,
        ttlMs: opts.lockTtlMs,
        waitMs: opts.lockWaitMs,
      })),
    );
    try {
      stopIfAborted();
      const assertHeld = () => locks.held.forEach((l) => l.assertHeld());
      return await cloneLocked(opts, a, b, snapshot, signing, keyring, work, assertHeld, { rpmUrl, debUrl });
    } finally {
      await locks.release();
    }
  } finally {
    await keyring.dispose();
    await rm(work, { recursive: true, force: true });
    await key?.then(
      (k) => k.dispose(),
      () => undefined,
    );
  }
}

async function cloneLocked(
  opts: CloneOptions,
  a: CloneRepository,
  b: CloneRepository,
  snapshot: RepositorySnapshot,
  key: SigningKey,
  keyring: PublicKeyring,
  work: string,
  assertHeld: () => void,
  urls: { rpmUrl: string; debUrl: string },
): Promise<CloneResult> {
  const { target, logger } = opts;
  // What B holds now decides, per object, new / identical (skipped) / replace (reset).
  const [bRpm, bDeb] = await Promise.all([listKeys(target, b.rpmBucket), listKeys(target, b.debBucket)]);
  const plan: Planned[] = [];
  const classify = async (objects: readonly ReferencedObject[], sourceBucket: string, bucket: string, held: Map<string, number>) => {
    const rows = await mapConcurrent(objects, opts.concurrency ?? 16, async (o): Promise<Planned> => {
      if (!held.has(o.key)) return { ...o, sourceBucket, bucket, state: 'new' };
      const same = await holdsContent(target, bucket, o.key, o.sha256, o.size);
      return { ...o, sourceBucket, bucket, state: same ? 'identical' : 'replace' };
    });
    plan.push(...rows);
  };
  await classify(snapshot.rpm.objects, a.rpmBucket, b.rpmBucket, bRpm);
  await classify(snapshot.deb.objects, a.debBucket, b.debBucket, bDeb);
  const RPM_OWN = ownFiles(RPM_TOP_FILES, snapshot.rpm.releaseIndex);
  const DEB_OWN = ownFiles(DEB_TOP_FILES, snapshot.deb.releaseIndex);
  const referenced = { rpm: new Set(snapshot.rpm.objects.map((o) => o.key)), deb: new Set(snapshot.deb.objects.map((o) => o.key)) };
  const bOnly = {
    rpm: [...bRpm.keys()].filter((k) => !referenced.rpm.has(k) && !RPM_OWN.has(k)).sort(),
    deb: [...bDeb.keys()].filter((k) => !referenced.deb.has(k) && !DEB_OWN.has(k)).sort(),
  };

  const totalBytes = plan.reduce((n, o) => n + o.size, 0);
  const copying = plan.filter((o) => o.state !== 'identical');
  const skipped = plan.filter((o) => o.state === 'identical');
  const replaced = plan.filter((o) => o.state === 'replace');
  logger.info(
    `clone '${a.name}' → '${b.name}': ${plan.length} objects (${formatBytes(totalBytes)}) referenced; ` +
      `${copying.length - replaced.length} to copy, ${replaced.length} to replace, ${skipped.length} already identical, ` +
      `${bOnly.rpm.length + bOnly.deb.length} of B's to remove`,
  );

  // Progress counts the identical objects as done from the start.
  const started = Date.now();
  const skippedBytes = skipped.reduce((n, o) => n + o.size, 0);
  const progress = { objectsDone: skipped.length, bytesDone: skippedBytes };
  const report = () =>
    opts.onProgress?.({
      objectsDone: progress.objectsDone,
      objectsTotal: plan.length,
      bytesDone: progress.bytesDone,
      bytesTotal: totalBytes,
      objectsSkipped: skipped.length,
      bytesSkipped: skippedBytes,
      elapsedMs: Date.now() - started,
    });
  report();
  // Every object B lacks first (packages, then hashed metadata, then the plain indexes), then B's
  // conflicting objects in the same order, right before the top files: B's old state stays whole
  // until the replacements start, and the window in which it is a mix is as short as it can be.
  const rank = (o: Planned) => (o.state === 'replace' ? 3 : 0) + { package: 0, metadata: 1, index: 2 }[o.kind];
  for (let phase = 0; phase < 6; phase++) {
    const batch = copying.filter((o) => rank(o) === phase);
    await mapConcurrent(batch, opts.concurrency ?? 16, async (o) => {
      throwIfCloneAborted(opts.signal, b);
      await copyObject(
        target,
        { sourceBucket: o.sourceBucket, sourceKey: o.sourceKey ?? o.key, bucket: o.bucket, key: o.key, size: o.size, headers: o.headers },
        opts,
      );
      // Printed as it happens: a re-run after an interruption finds these identical and cannot list them.
      if (o.state === 'replace') logger.info(`replaced s3://${o.bucket}/${o.key}`);
      progress.objectsDone += 1;
      progress.bytesDone += o.size;
      report();
    });
  }
  const copyMs = Date.now() - started;
  throwIfCloneAborted(opts.signal, b);

  // B's own files, then its top files last: signed with B's key.
  const rpmKeys = [key.fingerprint, ...snapshot.rpm.keyFingerprints.filter((f) => f !== key.fingerprint)];
  const rpmPublicKey = await keyring.export(rpmKeys);
  await writeTopFiles(opts, b, key, snapshot, work, rpmPublicKey, urls.rpmUrl, assertHeld);
  logger.info(
    `clone to '${b.name}': top files written and signed by ${key.fingerprint}; RPM public.key carries ${rpmKeys.length} key(s) (${rpmKeys.join(', ')})`,
  );

  // Reset: what B held that A does not serve goes (versioning keeps it recoverable).
  // Each batch printed once S3 confirmed it (replacements were printed as they were copied).
  const printRemoved = (bucket: string) => (keys: readonly string[]) => keys.forEach((k) => logger.info(`removed s3://${bucket}/${k}`));
  await deleteKeys(target, b.rpmBucket, bOnly.rpm, printRemoved(b.rpmBucket));
  await deleteKeys(target, b.debBucket, bOnly.deb, printRemoved(b.debBucket));
  const replacedUrls = replaced.map((o) => `s3://${o.bucket}/${o.key}`);
  const removedUrls = [...bOnly.rpm.map((k) => `s3://${b.rpmBucket}/${k}`), ...bOnly.deb.map((k) => `s3://${b.debBucket}/${k}`)];

  if (opts.invalidate) {
    const changed = (bucket: string, own: Set<string>, removed: string[]) => [
      ...own,
      ...replaced.filter((o) => o.bucket === bucket).map((o) => o.key),
      ...removed,
      ...plan.filter((o) => o.bucket === bucket && o.kind === 'index').map((o) => o.key),
    ];
    await opts.invalidate(b, { rpm: changed(b.rpmBucket, RPM_OWN, bOnly.rpm), deb: changed(b.debBucket, DEB_OWN, bOnly.deb) });
  }

  let verifyMs = 0;
  if (opts.verify ?? true) {
    throwIfCloneAborted(opts.signal, b);
    const t = Date.now();
    const problems = [
      ...(await verifyRpmRepository(urls.rpmUrl, snapshot.rpm.packages, logger)),
      ...(await verifyDebRepository(urls.debUrl, snapshot.deb.packages, logger)),
      ...(await releaseIndexProblems(urls.rpmUrl, snapshot.rpm.releaseIndex, key, keyring, `'${b.name}' RPM`)),
      ...(await releaseIndexProblems(urls.debUrl, snapshot.deb.releaseIndex, key, keyring, `'${b.name}' DEB`)),
    ];
    verifyMs = Date.now() - t;
    if (problems.length)
      throw new UserError(
        `clone to '${b.name}': the final check found ${problems.length} problem(s):\n${problems.map((p) => `- ${p}`).join('\n')}`,
      );
  }
  const copiedBytes = copying.reduce((n, o) => n + o.size, 0);
  return {
    status: 'cloned',
    from: a.name,
    to: b.name,
    objects: plan.length,
    bytes: totalBytes,
    copiedObjects: copying.length,
    copiedBytes,
    skippedObjects: skipped.length,
    replaced: replacedUrls,
    removed: removedUrls,
    rpmPackages: snapshot.rpm.packages.length,
    debPackages: snapshot.deb.packages.length,
    ...urls,
    copyMs,
    verifyMs,
    message:
      `cloned '${a.name}' into '${b.name}': ${snapshot.rpm.packages.length} RPM and ${snapshot.deb.packages.length} DEB package(s), ` +
      `${copying.length} object(s) copied (${formatBytes(copiedBytes)}), ${skipped.length} already identical, ` +
      `${replacedUrls.length} replaced, ${removedUrls.length} removed`,
  };
}

/**
 * Stops a clone whose signal was aborted, with the status of an interruption (130; the CLI maps
 * SIGTERM to 143) and a message saying what the clone's cleanup does on its way out.
 * @throws UserError when `signal` is aborted.
 */
function throwIfCloneAborted(signal: AbortSignal | undefined, b: CloneRepository): void {
  if (!signal?.aborted) return;
  throw new UserError(
    `clone interrupted (${typeof signal.reason === 'string' ? signal.reason : 'aborted'}); '${b.name}' keeps the top files it had, ` +
      `its publish locks are released and the temporary folders removed; run it again to complete it`,
    INTERRUPTED_EXIT_CODE,
  );
}

async function writeTopFiles(
  opts: CloneOptions,
  b: CloneRepository,
  key: SigningKey,
  snapshot: RepositorySnapshot,
  work: string,
  rpmPublicKey: string,
  rpmUrl: string,
  assertHeld: () => void,
): Promise<void> {
  const { target } = opts;
  const repomd = path.join(work, 'repomd.xml');
  const release = path.join(work, 'Release');
  await writeFile(repomd, snapshot.rpm.repomdXml);
  await writeFile(release, snapshot.deb.release);
  await detachSign(key, repomd, `${repomd}.asc`);
  await detachSign(key, release, `${release}.gpg`);
  await clearSign(key, release, path.join(work, 'InRelease'));
  // B's own files follow publish's caching rule (signed entry files revalidated on every request).
  const put = (bucket: string, k: string, body: Buffer | string) =>
    putBytes(bucketOf(target, bucket, `clone to '${b.name}'`), k, body, {
      cacheControl: cacheControlOf(bucket === b.rpmBucket ? 'rpm' : 'deb', k),
    });
  assertHeld();
  await put(b.rpmBucket, 'public.key', rpmPublicKey);
  await put(b.rpmBucket, 'kismatic.repo', kismaticRepoFile(rpmUrl));
  // DEB packages carry no signature of their own: apt checks the Release signature only.
  await put(b.debBucket, 'public.key', key.publicKeyArmored);
  await put(b.rpmBucket, REPOMD, snapshot.rpm.repomdXml);
  await put(b.rpmBucket, REPOMD_ASC, await readFile(`${repomd}.asc`));
  await put(b.debBucket, RELEASE, snapshot.deb.release);
  await put(b.debBucket, RELEASE_GPG, await readFile(`${release}.gpg`));
  await put(b.debBucket, IN_RELEASE, await readFile(path.join(work, 'InRelease')));
  // A's release record, as publish writes it (after the repository metadata, the record then its
  // signature, SHA-512): `consume --repository` reads it, and it must verify with B's public.key.
  for (const [bucket, body] of [
    [b.rpmBucket, snapshot.rpm.releaseIndex],
    [b.debBucket, snapshot.deb.releaseIndex],
  ] as const) {
    if (!body) continue;
    const file = path.join(work, `${bucket}-${RELEASE_INDEX}`);
    await writeFile(file, body);
    await detachSignSha512(key, file, `${file}.asc`);
    assertHeld();
    await putBytes(bucketOf(target, bucket, `clone to '${b.name}'`), RELEASE_INDEX, body, {
      cacheControl: cacheControlOf(bucket === b.rpmBucket ? 'rpm' : 'deb', RELEASE_INDEX),
      contentType: 'application/json',
    });
    await put(bucket, RELEASE_INDEX_SIGNATURE, await readFile(`${file}.asc`));
  }
}

/**
 * The final check of B's release.json (when A had one): fetched from B's URL, it must verify with
 * B's public.key, be signed by B's key (B's RPM public.key also carries A's keys), and record
 * exactly A's releases. @returns problems, empty when it is right.
 */
async function releaseIndexProblems(
  baseUrl: string,
  expected: Buffer | undefined,
  key: SigningKey,
  keyring: PublicKeyring,
  what: string,
): Promise<string[]> {
  if (!expected) return [];
  // The signature names the signing (sub)key: every fingerprint of B's key counts as B's.
  const colons = (
    await gpg(keyring.home, ['--with-colons', '--import-options', 'show-only', '--import'], "reading B's key", key.publicKeyArmored)
  ).stdout;
  const ownFingerprints = colons
    .split('\n')
    .filter((l) => l.startsWith('fpr:'))
    .map((l) => l.split(':')[9]);
  try {
    const got = await fetchVerifiedReleaseIndex(baseUrl, `${what} ${RELEASE_INDEX}`);
    const problems: string[] = [];
    const want = (JSON.parse(expected.toString('utf8')) as { releases: unknown[] }).releases;
    if (JSON.stringify(got.releases) !== JSON.stringify(want))
      problems.push(`${what}: ${baseUrl}/${RELEASE_INDEX} does not record the source's releases`);
    if (!ownFingerprints.includes(got.signer))
      problems.push(`${what}: ${baseUrl}/${RELEASE_INDEX} is signed by ${got.signer}, not by the destination's key ${key.fingerprint}`);
    return problems;
  } catch (e) {
    return [(e as Error).message];
  }
}
