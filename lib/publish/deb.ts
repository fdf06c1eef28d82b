import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import * as os from 'node:os';
import { lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SigningKey } from '../signing/keyring';
import { APTLY_DATABASE_CONTENT_TYPE, findAptlyDatabase, packAptlyDatabase, stateKey, unpackAptlyDatabase } from './aptly-db';
import { mapConcurrent } from '../util/concurrency';
import { UserError } from '../util/errors';
import { removeTree } from '../util/folder';
import { run } from '../util/exec';
import { Logger, timed } from '../util/log';
import { CACHE_REVALIDATE, cacheControlOf, COMPONENT, DEB_ARCH, DISTRIBUTION } from './layout';
import {
  classifyPackages,
  clearSignedText,
  conflictMessage,
  decompressMetadata,
  namedEntriesAgree,
  packageIdentity,
  packagesIndexEntriesNamed,
  paragraphsKept,
  parsePackagesIndex,
  parseReleaseSha256,
  PublishedPackage,
} from './metadata';
import { sha256File } from './package-file';
import { PreparedRepository, PublishResult, readRepositoryKeys, RepositoryState } from './repository';
import { Bucket, getObjectBytes, getObjectStream, headObject } from './s3';
import { clearSignSha512, detachSignSha512 } from './sign';
import { contentTypeOf, putBytes, putCreateOnly, putHashed, uploadFile, writeIfChanged } from './upload';
import { copyObject } from '../clone/objects';
import { BuildPackage, fileNameCollisions } from './validate';

export { COMPONENT, DEB_ARCH, DISTRIBUTION };

/**
 * Publishes DEBs into an apt repository in a bucket with aptly: distribution kismatic-xenial,
 * component main, arch amd64, by-hash indexes, signed Release/InRelease/Release.gpg, public.key.
 *
 * aptly keeps its database in the private state place between runs, without its package pool.
 * It publishes into a local directory with symlinked pool files (old packages' links dangle, which
 * aptly accepts), and we upload from there: new pool files create-only, then by-hash indexes, then
 * the plain indexes, then Release, Release.gpg and InRelease last, with Cache-Control, and never a
 * delete. (aptly 1.5.0 publishing straight to S3 lists the whole bucket on every publish and
 * replaces its .tmp index files by copy + DeleteObject, which the repository buckets' policy denies.)
 */
const APTLY_REPO = 'kismatic';
const PACKAGES_INDEX = `dists/${DISTRIBUTION}/${COMPONENT}/binary-${DEB_ARCH}/Packages.gz`;

export interface DebPrepareOptions {
  readonly bucket: Bucket;
  readonly debs: readonly BuildPackage[];
  /** Opened while the metadata is read; awaited before the first signature. */
  readonly key: Promise<SigningKey>;
  readonly allowKeyChange: boolean;
  /** Private place for aptly's database: its bucket and key prefix. */
  readonly state: { readonly bucket: Bucket; readonly prefix: string };
  readonly workDir: string;
  readonly logger: Logger;
  /** Registers cleanup that must run even if `write` never does (the other repository refused). */
  readonly onCleanup: (task: () => Promise<unknown>) => void;
  /**
   * Called once aptly runs (its database read, the published index compared with the build): the
   * RPM side of a publish waits for it before its big metadata reads (lib/publish/buckets.ts).
   * Not called when aptly does not run (nothing new, a refusal): the caller also goes on when
   * this function's promise settles.
   */
  readonly onAptlyStarted?: () => void;
}

/**
 * aptly's configuration for publish and clone: its root, the amd64 architecture, and a filesystem
 * endpoint `out` publishing with symlinks into `outDir`. aptly signs and verifies nothing here
 * (publish signs with its own key, lib/publish/sign), so its Go OpenPGP ("internal") stands in
 * for gpg: with "gpg" aptly runs `gpg --version` and `gpgv --version` twice each on every start.
 */
export function aptlyConfig(rootDir: string, outDir: string): string {
  return JSON.stringify(
    {
      rootDir,
      architectures: [DEB_ARCH],
      dependencyFollowSuggests: false,
      gpgDisableSign: true,
      gpgDisableVerify: true,
      gpgProvider: 'internal',
      FileSystemPublishEndpoints: { out: { rootDir: outDir, linkMethod: 'symlink', verifyMethod: 'size' } },
    },
    null,
    2,
  );
}

export function aptlyPackageRef(p: Pick<PublishedPackage, 'name' | 'version' | 'arch'>): string {
  return `${p.name}_${p.version}_${p.arch}`;
}

/** Reads the package refs of `aptly repo show -with-packages`. */
export function parseAptlyRepoShow(text: string): string[] {
  const i = text.indexOf('Packages:');
  if (i < 0) return [];
  return text
    .slice(i + 'Packages:'.length)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/**
 * Hash types whose by-hash copies are uploaded. apt fetches an index by hash under the strongest
 * hash the Release lists for it (apt-pkg's HashStringList::find with no type: SHA512, then SHA256,
 * SHA1, MD5Sum; aptly lists all four), so the SHA1 and MD5Sum copies aptly also writes are never
 * read: at 10,000 packages they were a third of a publish's bytes written. SHA256 stays for
 * tools that prefer it (and clone copies plain indexes from their SHA256 twin).
 */
export const BY_HASH_TYPES = ['SHA256', 'SHA512'] as const;

/** Upload order within dists/: by-hash files, then plain indexes with the signed top files. */
export function distsUploadPhase(rel: string): 'by-hash' | 'index' | 'top' | 'skip' {
  const base = path.posix.basename(rel);
  if (rel.includes('/by-hash/')) {
    const type = path.posix.basename(path.posix.dirname(rel));
    return /^[0-9a-f]{32,128}$/.test(base) && (BY_HASH_TYPES as readonly string[]).includes(type) ? 'by-hash' : 'skip';
  }
  if (rel === `dists/${DISTRIBUTION}/Release` || rel === `dists/${DISTRIBUTION}/Release.gpg` || rel === `dists/${DISTRIBUTION}/InRelease`)
    return 'top';
  return 'index';
}

const IN_RELEASE = `dists/${DISTRIBUTION}/InRelease`;
/** PACKAGES_INDEX as InRelease lists it (relative to dists/DISTRIBUTION/). */
const PACKAGES_LISTED = `${COMPONENT}/binary-${DEB_ARCH}/Packages.gz`;

/** The Packages index a publish reads, as readListedIndex found it. */
interface ListedIndex {
  /** Its gzip bytes; undefined for an empty repository (neither Packages.gz nor InRelease). */
  readonly body?: Buffer;
  /** Where they were read: PACKAGES_INDEX, or its by-hash copy InRelease names. */
  readonly source: string;
  /** The Release text InRelease holds (clearSignedText), when there is an InRelease. */
  readonly releaseText?: string;
  /** Why the published tree must be written again even with nothing new (undefined: it is complete). */
  readonly incomplete?: string;
}

/**
 * The Packages index a publish reads: the one the signed InRelease lists (SHA256 and size), which
 * is what apt reads (by hash). Read from Packages.gz on the normal path (fetched with InRelease:
 * no extra request); a Packages.gz other than the listed one is read from the listed by-hash copy
 * instead, when the bucket's Packages.gz is one a publish wrote (its own by-hash copy exists):
 * publish uploads the plain indexes and the top files at once, so a publish killed among those
 * writes leaves either the previous or the next index beside the InRelease. The publish then
 * writes the tree again (`incomplete`). A Packages.gz without InRelease is a first publish killed
 * before its top files (or top files lost): its index is read as it is (no signed listing exists;
 * every package it lists is checked against the pool when the aptly database lacks it) and the
 * tree is written again, completing it.
 * @param index Packages.gz as the bucket holds it, if any
 * @param inRelease InRelease as the bucket holds it, if any (its signature is the key guard's)
 * @throws UserError naming the file and the repository ("the repository is damaged", nothing
 *   written): InRelease not one clear-signed Release with a SHA256 field listing Packages.gz; the
 *   listed index missing from the bucket (plain and by hash); a Packages.gz whose bytes are neither
 *   the listed ones nor ones a publish wrote
 */
async function readListedIndex(b: Bucket, index: Buffer | undefined, inRelease: Buffer | undefined, logger: Logger): Promise<ListedIndex> {
  if (!inRelease) {
    if (!index) return { source: PACKAGES_INDEX };
    const incomplete = `${PACKAGES_INDEX} exists but ${IN_RELEASE} does not (a first publish interrupted before its Release files)`;
    logger.warn(`${b.label}: ${incomplete}; publishing its packages again to complete the repository`);
    return { body: index, source: PACKAGES_INDEX, incomplete };
  }
  const releaseText = clearSignedText(inRelease, `${b.label}: ${IN_RELEASE}`);
  const entry = parseReleaseSha256(releaseText, `${b.label}: ${IN_RELEASE}`).get(PACKAGES_LISTED);
  if (!entry) throw new UserError(`${b.label}: ${IN_RELEASE} does not list ${PACKAGES_LISTED}; the repository is damaged: nothing written`);
  const describe = (bytes: Buffer) => `SHA256 ${sha256Of(bytes)}, ${bytes.length} bytes`;
  const matches = (bytes: Buffer | undefined): boolean =>
    bytes !== undefined && bytes.length === entry.size && sha256Of(bytes) === entry.sha256;
  if (index && matches(index)) return { body: index, source: PACKAGES_INDEX, releaseText };

  // Not the listed index: where the listed one is, and whether a publish wrote the bucket's one.
  const byHash = (sha256: string) => `${path.posix.dirname(PACKAGES_INDEX)}/by-hash/SHA256/${sha256}`;
  const listedKey = byHash(entry.sha256);
  const [listedCopy, ownCopy] = await Promise.all([
    getObjectBytes(b, listedKey),
    index ? headObject(b, byHash(sha256Of(index))) : Promise.resolve(undefined),
  ]);
  const listedAs = `${IN_RELEASE} lists it with SHA256 ${entry.sha256}, ${entry.size} bytes`;
  if (!matches(listedCopy?.body))
    throw new UserError(
      `${b.label}: ${PACKAGES_INDEX} ${index ? `holds other bytes than ${IN_RELEASE} lists (${describe(index)}; ${listedAs})` : `is missing (${listedAs})`}, and its by-hash copy ${listedKey} ${listedCopy ? `holds other bytes (${describe(listedCopy.body)})` : 'is missing too'}: the repository is damaged; nothing written`,
    );
  if (index && (!ownCopy || ownCopy.size !== index.length))
    throw new UserError(
      `${b.label}: ${PACKAGES_INDEX} holds other bytes than ${IN_RELEASE} lists (${describe(index)}; ${listedAs}), and no publish wrote them (no by-hash copy): the repository is damaged; nothing written. Find out what changed it; the listed index is ${listedKey} (copy it over ${PACKAGES_INDEX} to restore it)`,
    );
  const incomplete = `${PACKAGES_INDEX} ${index ? 'is not' : 'is missing, not'} the index ${IN_RELEASE} lists (a publish interrupted among its last writes)`;
  logger.warn(`${b.label}: ${incomplete}; reading the listed index from ${listedKey} and writing the tree again`);
  return { body: listedCopy!.body, source: listedKey, releaseText, incomplete };
}

/** SHA256 of bytes in memory, hex (an index of a few MB: hashed on this thread in milliseconds). */
function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads the repository, checks the build against it and prepares everything locally (aptly's
 * publication, signatures): nothing is written. Epoch and conflict problems are found from the
 * published index before aptly runs.
 */
export async function prepareDebRepository(opts: DebPrepareOptions): Promise<PreparedRepository> {
  const { bucket: b, logger } = opts;
  // aptly's database is read while everything else is (it is needed only when packages are new),
  // and unpacked as it downloads (tar reads the response): wasted only on a publish with nothing new.
  const aptlyRoot = path.join(opts.workDir, 'aptly');
  const restored: Promise<RestoredDatabase | undefined> = timed(
    logger,
    'read metadata',
    `${b.label}: aptly database (unpacked as it arrives)`,
    async () => {
      await mkdir(aptlyRoot, { recursive: true });
      const snapshot = await findAptlyDatabase((key) => getObjectStream(opts.state.bucket, key), opts.state.prefix, b.name);
      if (!snapshot) return undefined;
      const { found, key, format } = snapshot;
      let bytes = 0;
      let failure: Error | undefined;
      const unpacking = unpackAptlyDatabase(found.body, aptlyRoot, format, 'unpacking the aptly database');
      found.body.on('data', (chunk: Buffer) => (bytes += chunk.length)); // (tar's pipe is attached)
      found.body.on('error', (e) => (failure = e));
      try {
        await unpacking;
      } catch (e) {
        // The download's own failure, when that is what stopped tar.
        if (failure) throw new UserError(`${b.label}: reading s3://${opts.state.bucket.name}/${key}: ${failure.message}`);
        throw e;
      }
      return { bytes, key };
    },
  );
  restored.catch(() => undefined);
  const publicKey = getObjectBytes(b, 'public.key');
  publicKey.catch(() => undefined);
  const [index, inRelease] = await timed(logger, 'read metadata', `${b.label}: Packages.gz, InRelease`, () =>
    Promise.all([getObjectBytes(b, PACKAGES_INDEX), getObjectBytes(b, IN_RELEASE)]),
  );
  const guard = timed(logger, 'key', `${b.label}: key guard`, () =>
    readRepositoryKeys(b, {
      key: opts.key,
      allowKeyChange: opts.allowKeyChange,
      signature: inRelease?.body,
      scratch: opts.workDir,
      logger,
      publicKey,
    }),
  );
  guard.catch(() => undefined);
  // The index every decision below is made from is the one the signed InRelease lists, checked
  // here (its SHA256 and size) before anything is read from it.
  let listed: ListedIndex;
  let indexText: string;
  try {
    listed = await readListedIndex(b, index?.body, inRelease?.body, logger);
    indexText = listed.body ? await decompressMetadata(PACKAGES_INDEX, listed.body) : '';
  } catch (e) {
    await Promise.all([guard.catch(() => undefined), restored.catch(() => undefined)]);
    throw e;
  }
  // What the key guard's gpg verified must be the InRelease text read above (strictly, as one
  // clear-signed message: lib/publish/metadata clearSignedText). Without a good signature the key
  // guard refuses, unless a rotation re-signs it (allowKeyChange).
  const checked: Promise<RepositoryState> = guard.then((state) =>
    listed.releaseText !== undefined && state.signedText !== undefined && state.signedText.toString('utf8') !== listed.releaseText
      ? {
          ...state,
          problems: [
            ...state.problems,
            `${b.label}: ${IN_RELEASE}: the text its signature covers is not the text publish read from it; the repository is damaged`,
          ],
        }
      : state,
  );
  checked.catch(() => undefined);
  // The build is compared with the published entries of its names, found without parsing the
  // whole index; the whole index (every published package must still be in aptly's new one) is
  // parsed once aptly runs, when this thread only waits, and must agree with them.
  const names = new Set(opts.debs.map((p) => p.name));
  const published = packagesIndexEntriesNamed(indexText, names);
  let wholeIndex: Promise<PublishedPackage[]> | undefined;
  const allPublished = () =>
    (wholeIndex ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const all = parsePackagesIndex(indexText);
      if (!namedEntriesAgree(published, all, names))
        throw new UserError(`${b.label}: ${PACKAGES_INDEX} lists the build's package names inconsistently; the repository is damaged`);
      logger.info(
        `${b.label}: ${all.length} package(s) published${listed.body ? ` (read ${listed.source}, ${listed.body.length} bytes)` : ' (empty repository)'}`,
      );
      return all;
    }));
  const classified = classifyPackages(opts.debs, published);
  const problems: string[] = [];
  if (classified.conflicts.length) problems.push(conflictMessage(b.label, classified.conflicts));
  for (const i of fileNameCollisions(classified.fresh, published)) problems.push(`${b.label}: ${path.basename(i.file)}: ${i.rule}`);
  const result: PublishResult = {
    added: classified.fresh.map((p) => path.basename(p.file)),
    alreadyPresent: classified.present.map((p) => path.basename(p.file)),
  };
  // Every path out waits for the unpacking (nothing keeps writing into the work folder).
  const refusal = async (state: RepositoryState) => {
    await Promise.all([restored.catch(() => undefined), allPublished()]);
    return { problems: [...state.problems, ...problems], result, write: async () => result };
  };
  if (problems.length) return refusal(await checked);

  // Nothing new, and the repository complete: its Release stays (a rotation signs it again).
  // An incomplete one (listed.incomplete) is published again below, completing it.
  if (classified.fresh.length === 0 && !listed.incomplete) {
    await allPublished();
    const state = await checked;
    if (state.problems.length) return refusal(state);
    await restored.catch(() => undefined);
    const key = await opts.key;
    // A rotation signs the Release text InRelease holds (the one checked above) with the new key,
    // and writes it as Release too: the three top files agree again.
    const release = state.rotation && listed.releaseText !== undefined ? Buffer.from(listed.releaseText) : undefined;
    const signedDir = await mkdtemp(path.join(opts.workDir, 'resign-'));
    if (release) {
      await writeFile(path.join(signedDir, 'Release'), release);
      await clearSignSha512(key, path.join(signedDir, 'Release'), path.join(signedDir, 'InRelease'));
      await detachSignSha512(key, path.join(signedDir, 'Release'), path.join(signedDir, 'Release.gpg'));
    }
    return {
      problems: [],
      result,
      write: async (beforeEntryFiles) => {
        if (!release) {
          logger.info(`${b.label}: all ${opts.debs.length} packages already published; metadata unchanged`);
          await writeIfChanged(b, 'public.key', state.publicKey, CACHE_REVALIDATE, Promise.resolve(state.currentPublicKey));
          return result;
        }
        beforeEntryFiles();
        await writeIfChanged(b, 'public.key', state.publicKey, CACHE_REVALIDATE, Promise.resolve(state.currentPublicKey));
        for (const name of ['Release', 'Release.gpg', 'InRelease'])
          await uploadFile(b, `dists/${DISTRIBUTION}/${name}`, path.join(signedDir, name), { cacheControl: CACHE_REVALIDATE });
        logger.info(`${b.label}: re-signed dists/${DISTRIBUTION} with ${key.fingerprint} (key rotation)`);
        return result;
      },
    };
  }

  // The published tree is one directory and one symlink per package plus small indexes: on some
  // disks each mkdir/symlink costs ~0.5 ms (1.4 s of 1.5 s at 1,000 packages), in memory nothing.
  const outDir = await mkdtemp(path.join(memoryScratch(), 'ket-deb-out-'));
  opts.onCleanup(() => removeTree(outDir));
  try {
    // aptly publishes (locally) while the key guard runs; a refusal throws its work away. Both
    // end before anything is thrown (no aptly left running in a folder the cleanup removes).
    const [guarded, aptlyRun] = await Promise.allSettled([
      checked,
      publishIntoDirectory(opts, {
        published: allPublished,
        indexText,
        classified,
        // Completing an incomplete repository, the build's published packages go in again too
        // (identical bytes: aptly and the create-only pool upload accept them).
        adding: listed.incomplete ? [...classified.fresh, ...classified.present] : classified.fresh,
        aptlyRoot,
        outDir,
        key: opts.key,
        restored,
      }),
    ]);
    if (guarded.status === 'rejected') throw guarded.reason;
    if (aptlyRun.status === 'rejected') throw aptlyRun.reason;
    const [state, write] = [guarded.value, aptlyRun.value];
    if (state.problems.length) {
      await removeTree(outDir);
      return refusal(state);
    }
    return {
      problems: [],
      result,
      // The published tree (a folder and a link per package) goes with the publish's cleanup.
      write: (beforeEntryFiles) => timed(logger, 'upload', `${b.label}: upload`, () => write(beforeEntryFiles, state)),
    };
  } catch (e) {
    await Promise.all([removeTree(outDir), restored.catch(() => undefined)]);
    throw e;
  }
}

/** /dev/shm when it is a writable directory (Linux), else the temporary folder. */
export function memoryScratch(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

interface Prepared {
  /** Every published package (the whole index, parsed when first called). */
  readonly published: () => Promise<PublishedPackage[]>;
  /** The published Packages index (checked against InRelease), '' when there is none. */
  readonly indexText: string;
  readonly classified: ReturnType<typeof classifyPackages<BuildPackage>>;
  /** The build's packages aptly adds and the pool receives (create-only): the new ones, or more. */
  readonly adding: readonly BuildPackage[];
  readonly aptlyRoot: string;
  readonly outDir: string;
  /** Awaited when the Release is signed. */
  readonly key: Promise<SigningKey>;
  /** aptlyRoot made, and aptly's database unpacked into it from the state place, if there is one. */
  readonly restored: Promise<RestoredDatabase | undefined>;
}

/** aptly's database as restored from the state place: the bytes read and the key they came from. */
interface RestoredDatabase {
  readonly bytes: number;
  readonly key: string;
}

/** aptly publishes into outDir and the Release is signed; returns the upload step. */
async function publishIntoDirectory(
  opts: DebPrepareOptions,
  { published: allPublished, indexText, classified, adding, aptlyRoot, outDir, key: keyOpening, restored }: Prepared,
): Promise<(beforeEntryFiles: () => void, keys: RepositoryState) => Promise<PublishResult>> {
  const { bucket: b, logger } = opts;
  const repo = b.label;
  const configFile = path.join(opts.workDir, 'aptly.conf');
  // The new packages, by directory (one short command line however many there are), under their
  // own names: aptly names the published pool file after the file it was given. Made, with
  // aptly's configuration, while its database is restored.
  const newDir = path.join(opts.workDir, 'new-debs');
  // (All end before a failure is thrown: nothing keeps writing into the work folder.)
  const [restoring, ...made] = await Promise.allSettled([
    restored,
    writeFile(configFile, aptlyConfig(aptlyRoot, outDir)),
    mkdir(newDir, { recursive: true }).then(() =>
      Promise.all(adding.map((p) => symlink(path.resolve(p.file), path.join(newDir, path.basename(p.file))))),
    ),
  ]);
  for (const r of [restoring, ...made]) if (r.status === 'rejected') throw r.reason;
  const snapshot = (restoring as PromiseFulfilledResult<RestoredDatabase | undefined>).value;
  const aptly = (args: string[], what: string) =>
    timed(logger, 'aptly', `${repo}: ${what}`, () => run('aptly', [`-config=${configFile}`, ...args], { what: `${repo}: ${what}` }));
  // Several aptly commands in one process (`aptly task run`): one start and one database open
  // instead of one per command; the run stops at the first failing command and exits non-zero.
  // `started` is called once aptly's process is started.
  const aptlyTask = async (commands: string[][], what: string, started?: () => void) => {
    if (commands.length === 1) {
      const running = aptly(commands[0], what);
      started?.();
      return running;
    }
    const taskFile = await mkdtemp(path.join(opts.workDir, 'aptly-task-')).then((d) => path.join(d, 'commands'));
    await writeFile(taskFile, commands.map((c) => c.map(shellQuote).join(' ')).join('\n') + '\n');
    const running = aptly(['task', 'run', `-filename=${taskFile}`], what);
    started?.();
    return running;
  };

  // aptly's database: restored from the state place, or a new one.
  const dbKey = stateKey(opts.state.prefix, b.name);
  if (snapshot) {
    logger.info(`${repo}: restored aptly's database from s3://${opts.state.bucket.name}/${snapshot.key} (${snapshot.bytes} bytes)`);
  } else {
    if (/\S/.test(indexText))
      logger.warn(`${repo}: no aptly database at s3://${opts.state.bucket.name}/${dbKey}; rebuilding it from the published repository`);
  }

  logger.info(`${repo}: adding ${adding.length} package(s): ${adding.map((p) => path.basename(p.file)).join(', ')}`);
  // The snapshot is only ever saved after a publish, so a restored database has the publication.
  let publishedBefore = snapshot !== undefined;
  let created = snapshot !== undefined;
  const common = ['-skip-signing', '-skip-contents', '-skip-bz2', '-batch'];
  /** Adds the .debs of `dir` and publishes, in one aptly run. */
  const addAndPublish = async (dir: string, what: string, started?: () => void) => {
    const commands = [
      ...(created ? [] : [['repo', 'create', `-distribution=${DISTRIBUTION}`, `-component=${COMPONENT}`, APTLY_REPO]]),
      ['repo', 'add', APTLY_REPO, dir],
      publishedBefore
        ? ['publish', 'update', '-skip-cleanup', ...common, DISTRIBUTION, 'filesystem:out:']
        : [
            'publish',
            'repo',
            ...common,
            '-acquire-by-hash',
            `-architectures=${DEB_ARCH}`,
            `-distribution=${DISTRIBUTION}`,
            `-component=${COMPONENT}`,
            APTLY_REPO,
            'filesystem:out:',
          ],
    ];
    await aptlyTask(commands, what, started);
    created = publishedBefore = true;
  };
  /**
   * What aptly just wrote: where the packages it added sit in the pool, by identity, and the
   * published packages its index lacks. Every published paragraph found as it was
   * (paragraphsKept: no parse) lacks none, and only the added packages' entries are read;
   * otherwise the whole index is parsed and compared by identity.
   * @throws UserError when the index does not list a package aptly was given
   */
  const readNewIndex = async (published: readonly PublishedPackage[]) => {
    const text = await readFile(path.join(outDir, 'dists', DISTRIBUTION, COMPONENT, `binary-${DEB_ARCH}`, 'Packages'), 'utf8');
    const kept = paragraphsKept(indexText, text);
    const index = kept ? packagesIndexEntriesNamed(text, new Set(adding.map((p) => p.name))) : parsePackagesIndex(text);
    const locations = new Map(index.map((p) => [packageIdentity(p), p.location]));
    const notListed = adding.filter((p) => !locations.has(packageIdentity(p)));
    if (notListed.length)
      throw new UserError(`${repo}: aptly's new index does not list ${notListed.map(packageIdentity).join(', ')}; nothing written`);
    return { locations, lacking: kept ? [] : published.filter((p) => !locations.has(packageIdentity(p))) };
  };
  const packedFile = path.join(opts.workDir, 'aptly-db-new.tar.zst');
  const distDir = path.join(outDir, 'dists', DISTRIBUTION);
  /**
   * Started the moment aptly's run ends, while the new index is read: the Release signed (both
   * signatures at once) and the database packed. The signatures are awaited before the upload can
   * start, the packed database only by its last round, so gpg starts first (each process start
   * blocks this thread ~10 ms at 10,000 packages: a fork of a ~190 MiB process): the signing runs
   * on the key's promise and the packing one step after it. Both are registered with the cleanup
   * (nothing keeps writing into the work folder after it) and end before aptly runs again.
   */
  const afterAptly = () => {
    const signed = keyOpening.then((key) =>
      timed(logger, 'sign', `${repo}: InRelease, Release.gpg`, async () => {
        await Promise.all([
          clearSignSha512(key, path.join(distDir, 'Release'), path.join(distDir, 'InRelease')),
          detachSignSha512(key, path.join(distDir, 'Release'), path.join(distDir, 'Release.gpg')),
        ]);
        return key;
      }),
    );
    const packed = Promise.resolve().then(() =>
      timed(logger, 'aptly', `${repo}: packing the aptly database`, () =>
        packAptlyDatabase(aptlyRoot, packedFile, 'packing the aptly database'),
      ),
    );
    for (const p of [signed, packed]) {
      p.catch(() => undefined);
      opts.onCleanup(() => p); // (the upload awaits `packed`; on a refusal, the cleanup does)
    }
    return { packed, signed, all: () => Promise.allSettled([signed, packed]) };
  };
  // The published pool is only links (a folder and a link per package: 20,000 entries at 10,000
  // packages); nothing is uploaded from it (new packages go from the build folder). It is removed
  // during the upload (network-bound), not while the new index is parsed and signed (CPU-bound, on
  // the way to the upload); the publish's cleanup, which removes the whole tree, also waits for it.
  let poolRemoved: Promise<void> | undefined;
  opts.onCleanup(() => poolRemoved ?? Promise.resolve());

  let wholeIndex: Promise<PublishedPackage[]> | undefined;
  await addAndPublish(newDir, 'adding the new packages and publishing', () => {
    opts.onAptlyStarted?.();
    wholeIndex = allPublished(); // parsed while aptly runs
    wholeIndex.catch(() => undefined); // awaited below
  });
  const published = await (wholeIndex ?? allPublished());
  let finishing = afterAptly();
  let newIndex: Awaited<ReturnType<typeof readNewIndex>>;
  let key: SigningKey;
  try {
    newIndex = await readNewIndex(published);

    // Anything published that the database lacks (a lost database, or a publish that died before
    // saving it) is missing from the index aptly just wrote: it is taken back from the published
    // pool and the index written again. Only in that case are .debs downloaded, and the packing and
    // signatures started above are thrown away (they end first) and made again. (Found from the new
    // index rather than by listing the database first: one aptly run less on every publish.)
    const missing = newIndex.lacking;
    if (missing.length) {
      logger.info(`${repo}: the aptly database lacks ${missing.length} published package(s); fetching them from the pool to rebuild it`);
      await finishing.all();
      // aptly publishes into an empty tree again: the first run's links to packages its pool does
      // not hold dangle, and aptly refuses to link over them ("file exists").
      await removeTree(path.join(outDir, 'pool'));
      const rebuildDir = path.join(opts.workDir, 'rebuild');
      await mkdir(rebuildDir, { recursive: true });
      const files = await mapConcurrent(missing, 4, async (p) => {
        const obj = await getObjectBytes(b, p.location);
        if (!obj) throw new UserError(`${repo}: the index lists ${p.location} but the pool has no such file`);
        const file = path.join(rebuildDir, path.posix.basename(p.location));
        await writeFile(file, obj.body);
        if ((await sha256File(file)) !== p.sha256)
          throw new UserError(`${repo}: ${p.location} does not match the SHA256 of the published index`);
        return file;
      });
      logger.info(`${repo}: adding ${files.length} published package(s) to the rebuilt database`);
      await addAndPublish(rebuildDir, 'adding published packages to the rebuilt database and publishing');
      finishing = afterAptly();
      newIndex = await readNewIndex(published);
    }
    key = await finishing.signed;
  } catch (e) {
    // Nothing keeps writing into the published tree the caller removes.
    await finishing.all();
    throw e;
  }
  const packedDb = finishing.packed;

  // Where the new packages went in the pool.
  const uploads = adding.map((p) => ({ ...p, location: newIndex.locations.get(packageIdentity(p))! }));
  const fresh = new Set(classified.fresh.map(packageIdentity));
  const lost = newIndex.lacking;
  if (lost.length)
    throw new UserError(
      `${repo}: aptly's new index would drop ${lost.length} published package(s) (${lost.map(packageIdentity).join(', ')}); nothing written`,
    );
  const distFiles = await walkFiles(path.join(outDir, 'dists'), 'dists');

  return async (beforeEntryFiles, keys) => {
    const phase = (name: ReturnType<typeof distsUploadPhase>) => distFiles.filter((f) => distsUploadPhase(f) === name);
    // aptly writes each index once and hard-links its by-hash names (and the plain name) to it:
    // one file's names are sent once and copied in the bucket (CopyObject), not sent again. At
    // 10,000 packages that is 6.8 MB not sent twice in each round.
    const files = await sameFileGroups(outDir, [...phase('by-hash'), ...phase('index')]);
    const packages = mapConcurrent(uploads, 8, (p) => putCreateOnly(b, p.location, p.file, p.sha256, logger));
    // aptly's database, for the next publish, as soon as the packages it lists are in the bucket
    // (if it is lost, the next publish rebuilds it from the pool), while the indexes upload.
    // (Packed while the packages uploaded.)
    const db = packages
      .then(() => packedDb)
      .then(() => {
        beforeEntryFiles();
        return readFile(packedFile);
      })
      .then((body) => putBytes(opts.state.bucket, dbKey, body, { cacheControl: 'no-store', contentType: APTLY_DATABASE_CONTENT_TYPE }));
    db.catch(() => undefined);
    // 1. pool files and by-hash indexes at once (new names: nothing refers to them before the
    //    Release does); a by-hash name whose file is already in the bucket under another name of
    //    this round is copied from there once that one is in. 2. public.key if it changed, 3. the
    //    plain indexes (copied from their by-hash twins), Release, Release.gpg and InRelease
    //    together. apt reads InRelease (or Release) first and then each index by hash, all of
    //    which exist from step 1 on; a client reading plain indexes sees old and new files mixed
    //    only during step 2, as it would in any order of these writes.
    /** by-hash name -> the name of its file sent in this round (itself when it was sent). */
    const inBucket = new Map<string, string>();
    const byHash = mapConcurrent(groupsOf(files, phase('by-hash')), 8, async ([first, ...others]) => {
      const created = await putHashed(b, first, path.join(outDir, first));
      inBucket.set(first, first);
      // Where the first name was already there (an earlier, interrupted run), the others may not
      // be: each is sent create-only, as the first was.
      for (const rel of others) {
        if (created)
          await copyWithin(b, first, rel, path.join(outDir, rel), {
            contentType: contentTypeOf(rel),
            cacheControl: cacheControlOf('deb', rel),
          });
        else await putHashed(b, rel, path.join(outDir, rel));
        inBucket.set(rel, created ? first : rel);
      }
    });
    /** The rest of round 1, and rounds 2 and 3. */
    const writeIndexes = async () => {
      // (Both end before a failure is thrown: no upload of the first round outlives the publish.)
      for (const r of await Promise.allSettled([packages, byHash])) if (r.status === 'rejected') throw r.reason;
      logger.info(`${repo}: uploaded ${uploads.length} package(s)`);
      beforeEntryFiles();
      // A new key reaches public.key before anything it signed (no request when it is unchanged).
      await writeIfChanged(b, 'public.key', keys.publicKey, CACHE_REVALIDATE, Promise.resolve(keys.currentPublicKey));
      await mapConcurrent([...phase('index'), ...phase('top')], 8, async (rel) => {
        const twin = files.get(rel)?.find((other) => inBucket.has(other));
        const headers = { contentType: contentTypeOf(rel), cacheControl: cacheControlOf('deb', rel) };
        if (twin) return copyWithin(b, inBucket.get(twin)!, rel, path.join(outDir, rel), headers);
        return uploadFile(b, rel, path.join(outDir, rel), { cacheControl: headers.cacheControl });
      });
    };
    poolRemoved = removeTree(path.join(outDir, 'pool')); // (never throws; once the first uploads have started)
    try {
      await writeIndexes();
    } catch (e) {
      await db.catch(() => undefined); // (no write of ours goes on after the publish gave up)
      throw e;
    }
    logger.info(`${repo}: published dists/${DISTRIBUTION} (InRelease signed by ${key.fingerprint})`);
    await db;
    return {
      added: uploads.filter((p) => fresh.has(packageIdentity(p))).map((p) => path.posix.basename(p.location)),
      alreadyPresent: classified.present.map((p) => path.basename(p.file)),
    };
  };
}

/**
 * Which of `rels` (paths relative to the published tree `outDir`) are one file under several
 * names (hard links: aptly links an index's by-hash names and its plain name to one file).
 * @returns each path -> every path of the list that is the same file, itself included, sorted
 */
async function sameFileGroups(outDir: string, rels: readonly string[]): Promise<Map<string, string[]>> {
  const byInode = new Map<string, string[]>();
  for (const rel of rels) {
    const { dev, ino } = await stat(path.join(outDir, rel));
    const key = `${dev}:${ino}`;
    byInode.set(key, [...(byInode.get(key) ?? []), rel]);
  }
  const out = new Map<string, string[]>();
  for (const group of byInode.values()) for (const rel of group) out.set(rel, [...group].sort());
  return out;
}

/** `rels` split into groups of one file each (sameFileGroups), each group in sorted order. */
function groupsOf(files: Map<string, string[]>, rels: readonly string[]): string[][] {
  const wanted = new Set(rels);
  const groups = new Map<string, string[]>();
  for (const rel of rels) {
    const group = files.get(rel)!.filter((r) => wanted.has(r));
    groups.set(group[0], group);
  }
  return [...groups.values()];
}

/** Copies an object of the bucket (whose bytes are `file`'s) to another key of it, with the target's own headers. */
async function copyWithin(
  b: Bucket,
  from: string,
  to: string,
  file: string,
  headers: { contentType: string; cacheControl: string },
): Promise<void> {
  const { size } = await stat(file);
  await copyObject(b.s3, { sourceBucket: b.name, sourceKey: from, bucket: b.name, key: to, size, headers });
}

/** Files (following symlinks that resolve) under dir, as posix paths prefixed with rel. */
async function walkFiles(dir: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const full = path.join(dir, name);
    const r = `${rel}/${name}`;
    const l = await lstat(full);
    if (l.isDirectory()) out.push(...(await walkFiles(full, r)));
    else if (existsSync(full) && (await stat(full)).isFile()) out.push(r);
  }
  return out;
}

/** One argument as `aptly task run` reads it (go-shellwords): single-quoted, a quote written as '\''. */
function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
