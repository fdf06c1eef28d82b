import { createHash } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DISTRIBUTION } from '../publish/deb';
import { bucketOf, describeS3Error, getObjectBytes, S3Target } from '../publish/s3';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { metadataText, packagesIndexObjects, primaryPackages, ReferencedObject, releaseObjects, repomdFiles } from './indexes';
import { PublicKeyring } from './keys';
import { headObjectHeaders } from './objects';
import { CloneRepository } from './types';
import { RELEASE_INDEX, RELEASE_INDEX_SIGNATURE } from '../release-manifest/repository';

/**
 * One consistent moment of a repository, read without writing anything of its own: its signed
 * top files first, then only objects those name by hash or that are never replaced (packages,
 * hashed repodata, by-hash indexes). A publish into the source meanwhile writes new names and,
 * last, new top files: nothing read here changes under us.
 */
export interface PackageEntry {
  readonly name: string;
  /** RPM: [epoch:]version-release (the epoch only when not 0); DEB: the Version field. */
  readonly version: string;
  readonly arch: string;
}

/**
 * A repository root's release.json as read (its signature by the source's key checked): written
 * unchanged into the destination and signed there with the destination's key. Absent when the
 * source has none (published before release.json existed).
 */
export type ReleaseIndexSnapshot = Buffer | undefined;

export interface RpmSnapshot {
  /** repomd.xml as read: written unchanged into the destination, signed with its key. */
  readonly repomdXml: Buffer;
  readonly releaseIndex: ReleaseIndexSnapshot;
  /** Keys in the source's RPM public.key: the keys its packages are signed with. */
  readonly keyFingerprints: readonly string[];
  readonly objects: readonly ReferencedObject[];
  readonly packages: readonly PackageEntry[];
}

export interface DebSnapshot {
  /** The Release text signed in InRelease (InRelease is one object: an atomic read). */
  readonly release: Buffer;
  readonly releaseIndex: ReleaseIndexSnapshot;
  readonly objects: readonly ReferencedObject[];
  readonly packages: readonly PackageEntry[];
}

export interface RepositorySnapshot {
  readonly rpm: RpmSnapshot;
  readonly deb: DebSnapshot;
}

export const RPM_TOP_FILES = ['public.key', 'kismatic.repo', 'repodata/repomd.xml', 'repodata/repomd.xml.asc'] as const;

export const REPOMD = 'repodata/repomd.xml';
export const REPOMD_ASC = 'repodata/repomd.xml.asc';
export const IN_RELEASE = `dists/${DISTRIBUTION}/InRelease`;
export const RELEASE = `dists/${DISTRIBUTION}/Release`;
export const RELEASE_GPG = `dists/${DISTRIBUTION}/Release.gpg`;
export const DEB_TOP_FILES = ['public.key', RELEASE, RELEASE_GPG, IN_RELEASE] as const;

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** How a read of the top files is retried when it catches a publish between two writes. */
export interface SnapshotOptions {
  readonly attempts?: number;
  readonly retryDelayMs?: number;
}

/**
 * Reads the source repository's consistent state.
 * @returns undefined when neither format has top files (nothing published yet).
 * @throws UserError when one format is published and the other is not, when a signature does not
 * verify with the repository's own public.key (after retries), or when a referenced file is
 * missing or does not match its signed checksum.
 */
export async function readSnapshot(
  target: S3Target,
  repo: CloneRepository,
  keyring: PublicKeyring,
  logger: Logger,
  opts: SnapshotOptions = {},
): Promise<RepositorySnapshot | undefined> {
  const [repomdHead, inReleaseHead] = await Promise.all([
    headObjectHeaders(target, repo.rpmBucket, REPOMD),
    headObjectHeaders(target, repo.debBucket, IN_RELEASE),
  ]);
  if (!repomdHead && !inReleaseHead) return undefined;
  if (!repomdHead)
    throw new UserError(`clone from '${repo.name}': s3://${repo.rpmBucket} has no ${REPOMD} but its DEB repository is published`);
  if (!inReleaseHead)
    throw new UserError(`clone from '${repo.name}': s3://${repo.debBucket} has no ${IN_RELEASE} but its RPM repository is published`);
  const [rpm, deb] = await Promise.all([readRpm(target, repo, keyring, logger, opts), readDeb(target, repo, keyring, logger, opts)]);
  return { rpm, deb };
}

async function mustGet(target: S3Target, bucket: string, key: string, what: string): Promise<Buffer> {
  const obj = await getObjectBytes(bucketOf(target, bucket, what), key);
  if (!obj) throw new UserError(`${what}: s3://${bucket}/${key} is missing`);
  return obj.body;
}

/** Reads the top files until their signature verifies (a publish may sit between two writes). */
async function retrying<T>(what: string, opts: SnapshotOptions, logger: Logger, attempt: () => Promise<T | undefined>): Promise<T> {
  const attempts = opts.attempts ?? 5;
  for (let i = 1; ; i++) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (i >= attempts)
      throw new UserError(
        `${what}: the signature does not verify with the repository's public.key after ${attempts} reads; the source is damaged or signed by another key`,
      );
    logger.warn(`${what}: signature does not verify (a publish may be writing it); reading again`);
    await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
  }
}

/**
 * Reads release.json and its signature, checked with the repository's public.key (already in
 * `keyring`). Read before the top files: publish writes release.json after them, so the record
 * read first never names a release the top files read next do not serve (releases accumulate).
 * @returns undefined when there is no release.json.
 * @throws UserError when release.json.asc is missing or does not verify after retries.
 */
async function readReleaseIndex(
  target: S3Target,
  bucket: string,
  where: string,
  keyring: PublicKeyring,
  logger: Logger,
  opts: SnapshotOptions,
): Promise<ReleaseIndexSnapshot> {
  const read = async () => {
    const body = (await getObjectBytes(bucketOf(target, bucket, where), RELEASE_INDEX))?.body;
    if (!body) return { body: undefined };
    const asc = (await getObjectBytes(bucketOf(target, bucket, where), RELEASE_INDEX_SIGNATURE))?.body;
    // release.json is written before its signature: a read between the two is retried.
    return asc && (await keyring.verifyDetached(body, asc)) ? { body } : undefined;
  };
  return (await retrying(`${where}: ${RELEASE_INDEX_SIGNATURE}`, opts, logger, read)).body;
}

async function readRpm(
  target: S3Target,
  repo: CloneRepository,
  keyring: PublicKeyring,
  logger: Logger,
  opts: SnapshotOptions,
): Promise<RpmSnapshot> {
  const where = `clone from '${repo.name}' (RPM s3://${repo.rpmBucket})`;
  const keyFingerprints = await keyring.import(
    await mustGet(target, repo.rpmBucket, 'public.key', where).then(String),
    `s3://${repo.rpmBucket}/public.key`,
  );
  const releaseIndex = await readReleaseIndex(target, repo.rpmBucket, where, keyring, logger, opts);
  const repomdXml = await retrying(`${where}: ${REPOMD_ASC}`, opts, logger, async () => {
    const xml = await mustGet(target, repo.rpmBucket, REPOMD, where);
    const asc = await mustGet(target, repo.rpmBucket, REPOMD_ASC, where);
    return (await keyring.verifyDetached(xml, asc)) ? xml : undefined;
  });
  const files = repomdFiles(repomdXml.toString('utf8'));
  const primary = files.find((f) => f.type === 'primary');
  if (!primary) throw new UserError(`${where}: repomd.xml lists no primary metadata`);
  const primaryBody = await mustGet(target, repo.rpmBucket, primary.href, where);
  if (sha256(primaryBody) !== primary.sha256)
    throw new UserError(`${where}: ${primary.href} does not match the sha256 in the signed repomd.xml`);
  const entries = await primaryPackages(primaryBody, primary.href);
  const objects: ReferencedObject[] = [
    ...entries.map((e) => e.object),
    ...files.map((f) => ({ key: f.href, size: f.size, sha256: f.sha256, kind: 'metadata' as const })),
  ];
  logger.info(`${where}: ${entries.length} package(s), ${files.length} metadata file(s), repomd.xml signed by a key of its public.key`);
  return { repomdXml, releaseIndex, keyFingerprints, objects, packages: entries.map((e) => e.pkg) };
}

async function readDeb(
  target: S3Target,
  repo: CloneRepository,
  keyring: PublicKeyring,
  logger: Logger,
  opts: SnapshotOptions,
): Promise<DebSnapshot> {
  const where = `clone from '${repo.name}' (DEB s3://${repo.debBucket})`;
  await keyring.import(await mustGet(target, repo.debBucket, 'public.key', where).then(String), `s3://${repo.debBucket}/public.key`);
  const releaseIndex = await readReleaseIndex(target, repo.debBucket, where, keyring, logger, opts);
  const release = await retrying(`${where}: ${IN_RELEASE}`, opts, logger, async () => {
    const signed = await keyring.verifyClearSigned(await mustGet(target, repo.debBucket, IN_RELEASE, where));
    return signed?.text;
  });
  // by-hash and index files are never removed, and written before the Release that names them.
  const present = await listKeys(target, repo.debBucket, `dists/${DISTRIBUTION}/`);
  const indexObjects = releaseObjects(DISTRIBUTION, release.toString('utf8'), (k) => present.has(k));
  const packagesGz = indexObjects.find((o) => o.kind === 'index' && o.key.endsWith('/Packages.gz'));
  const packagesPlain = indexObjects.find((o) => o.kind === 'index' && o.key.endsWith('/Packages'));
  const index = packagesGz ?? packagesPlain;
  if (!index) throw new UserError(`${where}: the signed Release names no Packages index present in the bucket`);
  const body = await mustGet(target, repo.debBucket, index.sourceKey ?? index.key, where);
  if (sha256(body) !== index.sha256)
    throw new UserError(`${where}: ${index.sourceKey ?? index.key} does not match the SHA256 in the signed Release`);
  const pool = packagesIndexObjects(metadataText(index.key, body));
  // Headers of the plain indexes: they are copied from their by-hash twin, so they are given here.
  const withHeaders = await Promise.all(
    indexObjects.map(async (o) => {
      if (o.kind !== 'index') return o;
      const head = await headObjectHeaders(target, repo.debBucket, o.key);
      return head ? { ...o, headers: { contentType: head.contentType, cacheControl: head.cacheControl } } : o;
    }),
  );
  logger.info(`${where}: ${pool.length} package(s), ${indexObjects.length} index file(s), InRelease signed by a key of its public.key`);
  return { release, releaseIndex, objects: [...pool.map((p) => p.object), ...withHeaders], packages: pool.map((p) => p.pkg) };
}

/** Every key under a prefix, with its size. */
export async function listKeys(target: S3Target, bucket: string, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const page = await target.client
      .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }))
      .catch((e: unknown) => {
        throw describeS3Error(e, target, `listing s3://${bucket}/${prefix}`);
      });
    for (const o of page.Contents ?? []) if (o.Key) out.set(o.Key, o.Size ?? 0);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}
