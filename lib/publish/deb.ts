import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import * as os from 'node:os';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { SigningKey } from '../signing/keyring';
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
  appendParagraphs,
  parsePackagesIndex,
  parseReleaseSha256,
  PublishedPackage,
  relistRelease,
} from './metadata';
import { PreparedRepository, PublishResult, readRepositoryKeys, RepositoryState } from './repository';
import { Bucket, getObjectBytes, headObject } from './s3';
import { clearSignSha512, detachSignSha512 } from './sign';
import { contentTypeOf, putCreateOnly, putHashed, uploadFile, writeIfChanged } from './upload';
import { copyObject } from '../clone/objects';
import { BuildPackage, fileNameCollisions } from './validate';

export { COMPONENT, DEB_ARCH, DISTRIBUTION };

/**
 * Publishes DEBs into an apt repository in a bucket: aptly's layout, distribution kismatic-xenial,
 * component main, arch amd64, by-hash indexes, signed Release/InRelease/Release.gpg, public.key.
 *
 * aptly publishes the new packages alone, into a local directory, and their paragraphs are
 * appended to the published index (publishIntoDirectory); the published index, checked against
 * the signed InRelease, is the record of what the repository holds, and aptly keeps no database
 * between publishes. We upload from that directory: new pool files create-only, then by-hash
 * indexes, then the plain indexes, then Release, Release.gpg and InRelease last, with
 * Cache-Control, and never a delete. (aptly 1.5.0 publishing straight to S3 lists the whole bucket
 * on every publish and replaces its .tmp index files by copy + DeleteObject, which the repository
 * buckets' policy denies.)
 */
const APTLY_REPO = 'kismatic';
const PACKAGES_INDEX = `dists/${DISTRIBUTION}/${COMPONENT}/binary-${DEB_ARCH}/Packages.gz`;
const gzipAsync = promisify(gzip);

export interface DebPrepareOptions {
  readonly bucket: Bucket;
  readonly debs: readonly BuildPackage[];
  /** Opened while the metadata is read; awaited before the first signature. */
  readonly key: Promise<SigningKey>;
  readonly allowKeyChange: boolean;
  readonly workDir: string;
  readonly logger: Logger;
  /** Registers cleanup that must run even if `write` never does (the other repository refused). */
  readonly onCleanup: (task: () => Promise<unknown>) => void;
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

/**
 * The aptly commands that publish the .debs of `debDir` (none when undefined) as a new repository
 * into the `out` endpoint of aptlyConfig, on an empty root: distribution, component and
 * architecture of the layout, by-hash indexes, no signing (publish signs), no Contents or bz2
 * indexes (apt does not need them).
 */
export function aptlyPublishCommands(debDir: string | undefined): string[][] {
  return [
    ['repo', 'create', `-distribution=${DISTRIBUTION}`, `-component=${COMPONENT}`, APTLY_REPO],
    ...(debDir ? [['repo', 'add', APTLY_REPO, debDir]] : []),
    [
      'publish',
      'repo',
      '-skip-signing',
      '-skip-contents',
      '-skip-bz2',
      '-batch',
      '-acquire-by-hash',
      `-architectures=${DEB_ARCH}`,
      `-distribution=${DISTRIBUTION}`,
      `-component=${COMPONENT}`,
      APTLY_REPO,
      'filesystem:out:',
    ],
  ];
}

/**
 * Hash types whose by-hash copies are made and uploaded. apt fetches an index by hash under the
 * strongest hash the Release lists for it (apt-pkg's HashStringList::find with no type: SHA512,
 * then SHA256, SHA1, MD5Sum; aptly's Release lists all four), so SHA1 and MD5Sum copies would
 * never be read: at 10,000 packages they were a third of a publish's bytes written. SHA256 stays
 * for tools that prefer it (and clone copies plain indexes from their SHA256 twin).
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
const RELEASE = `dists/${DISTRIBUTION}/Release`;
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
 * writes the tree again (`incomplete`), as it does when Release or Release.gpg is missing or
 * Release is not the text InRelease signs (the same writes, interrupted).
 *
 * Without InRelease (a first publish killed before its top files, or top files lost) the
 * listing is Release's, when there is one, read the same way: so a Packages.gz older than the
 * Release (put back by hand, or left by a restore) is not built on, which would drop every
 * package published since from the index. With neither, Packages.gz is read as it is. Both are
 * unsigned listings: the caller checks the pool against them, and the tree is written again.
 * @param index Packages.gz as the bucket holds it, if any
 * @param top InRelease and Release as the bucket holds them, if any, and whether Release.gpg
 *   exists (InRelease's signature is the key guard's)
 * @throws UserError naming the file and the repository ("the repository is damaged", nothing
 *   written): InRelease (or Release) not one clear-signed (or plain) Release with a SHA256 field
 *   listing Packages.gz; the listed index missing from the bucket (plain and by hash); a
 *   Packages.gz whose bytes are neither the listed ones nor ones a publish wrote
 */
async function readListedIndex(
  b: Bucket,
  index: Buffer | undefined,
  top: { inRelease?: Buffer; release?: Buffer; releaseGpg: boolean },
  logger: Logger,
): Promise<ListedIndex> {
  const { inRelease, release } = top;
  if (!inRelease && !release) {
    if (!index) return { source: PACKAGES_INDEX };
    const incomplete = `${PACKAGES_INDEX} exists but neither ${IN_RELEASE} nor ${RELEASE} does (a first publish interrupted before its Release files, or those files lost)`;
    logger.warn(`${b.label}: ${incomplete}; publishing its packages again to complete the repository`);
    return { body: index, source: PACKAGES_INDEX, incomplete };
  }
  const listing = inRelease ? IN_RELEASE : RELEASE;
  const releaseText = inRelease ? clearSignedText(inRelease, `${b.label}: ${IN_RELEASE}`) : undefined;
  const entry = parseReleaseSha256(releaseText ?? release!.toString('utf8'), `${b.label}: ${listing}`).get(PACKAGES_LISTED);
  if (!entry) throw new UserError(`${b.label}: ${listing} does not list ${PACKAGES_LISTED}; the repository is damaged: nothing written`);
  const describe = (bytes: Buffer) => `SHA256 ${sha256Of(bytes)}, ${bytes.length} bytes`;
  const matches = (bytes: Buffer | undefined): boolean =>
    bytes !== undefined && bytes.length === entry.size && sha256Of(bytes) === entry.sha256;
  // The top files a complete publish leaves: InRelease, Release (its signed text) and Release.gpg.
  const topIncomplete = !inRelease
    ? `${IN_RELEASE} is missing (a first publish interrupted before it, or the file lost); ${RELEASE} lists the index`
    : release?.toString('utf8') !== releaseText
      ? `${RELEASE} ${release ? 'is not the text' : 'is missing, unlike'} ${IN_RELEASE} signs (a publish interrupted among its last writes, or the file lost)`
      : !top.releaseGpg
        ? `${RELEASE}.gpg is missing (a publish interrupted among its last writes, or the file lost)`
        : undefined;
  if (index && matches(index)) {
    if (topIncomplete) logger.warn(`${b.label}: ${topIncomplete}; writing the tree again`);
    return { body: index, source: PACKAGES_INDEX, releaseText, incomplete: topIncomplete };
  }

  // Not the listed index: where the listed one is, and whether a publish wrote the bucket's one.
  const byHash = (sha256: string) => `${path.posix.dirname(PACKAGES_INDEX)}/by-hash/SHA256/${sha256}`;
  const listedKey = byHash(entry.sha256);
  const [listedCopy, ownCopy] = await Promise.all([
    getObjectBytes(b, listedKey),
    index ? headObject(b, byHash(sha256Of(index))) : Promise.resolve(undefined),
  ]);
  const listedAs = `${listing} lists it with SHA256 ${entry.sha256}, ${entry.size} bytes`;
  if (!matches(listedCopy?.body))
    throw new UserError(
      `${b.label}: ${PACKAGES_INDEX} ${index ? `holds other bytes than ${listing} lists (${describe(index)}; ${listedAs})` : `is missing (${listedAs})`}, and its by-hash copy ${listedKey} ${listedCopy ? `holds other bytes (${describe(listedCopy.body)})` : 'is missing too'}: the repository is damaged; nothing written`,
    );
  if (index && (!ownCopy || ownCopy.size !== index.length))
    throw new UserError(
      `${b.label}: ${PACKAGES_INDEX} holds other bytes than ${listing} lists (${describe(index)}; ${listedAs}), and no publish wrote them (no by-hash copy): the repository is damaged; nothing written. Find out what changed it; the listed index is ${listedKey} (copy it over ${PACKAGES_INDEX} to restore it)`,
    );
  const incomplete = [
    `${PACKAGES_INDEX} ${index ? 'is not' : 'is missing, not'} the index ${listing} lists (a publish interrupted among its last writes, or the file changed)`,
    ...(topIncomplete ? [topIncomplete] : []),
  ].join('; ');
  logger.warn(`${b.label}: ${incomplete}; reading the listed index from ${listedKey} and writing the tree again`);
  return { body: listedCopy!.body, source: listedKey, releaseText, incomplete };
}

/** SHA256 of bytes in memory, hex (an index of a few MB: hashed on this thread in milliseconds). */
function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads the repository, checks the build against it and prepares everything locally (the new
 * index, its Release signed): nothing is written. Epoch and conflict problems are found from the
 * published index before aptly runs.
 */
export async function prepareDebRepository(opts: DebPrepareOptions): Promise<PreparedRepository> {
  const { bucket: b, logger } = opts;
  const publicKey = getObjectBytes(b, 'public.key');
  publicKey.catch(() => undefined);
  const [index, inRelease, release, releaseGpg] = await timed(logger, 'read metadata', `${b.label}: Packages.gz, InRelease, Release`, () =>
    Promise.all([
      getObjectBytes(b, PACKAGES_INDEX),
      getObjectBytes(b, IN_RELEASE),
      getObjectBytes(b, RELEASE),
      headObject(b, `${RELEASE}.gpg`),
    ]),
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
    listed = await readListedIndex(
      b,
      index?.body,
      { inRelease: inRelease?.body, release: release?.body, releaseGpg: releaseGpg !== undefined },
      logger,
    );
    indexText = listed.body ? await decompressMetadata(PACKAGES_INDEX, listed.body) : '';
  } catch (e) {
    await guard.catch(() => undefined);
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
  // whole index; the whole index is parsed once aptly runs, when this thread only waits, and must
  // agree with them.
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
  // Every path out has the whole index parsed (a damaged index is reported on every path).
  const refusal = async (state: RepositoryState) => {
    await allPublished();
    return { problems: [...state.problems, ...problems], result, write: async () => result };
  };
  if (problems.length) return refusal(await checked);
  // The build's published packages must be in the pool (as the RPM side checks its own): one lost
  // is sent again from the build, create-only; one holding other bytes is refused.
  const pool = await checkPoolHoldsBuild(b, classified.present, published, logger);
  if (pool.problems.length) {
    problems.push(...pool.problems);
    return refusal(await checked);
  }

  // Nothing new, and the repository complete: its Release stays (a rotation signs it again).
  // An incomplete one (listed.incomplete) is published again below, completing it.
  if (classified.fresh.length === 0 && !listed.incomplete) {
    await allPublished();
    const state = await checked;
    if (state.problems.length) return refusal(state);
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
        await sendToPool(b, pool.lost, logger);
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

  // The published tree (dists/ and links to the new packages) is made in memory.
  const outDir = await mkdtemp(path.join(memoryScratch(), 'ket-deb-out-'));
  opts.onCleanup(() => removeTree(outDir));
  try {
    // The new tree is made (locally) while the key guard runs; a refusal throws it away. Both end
    // before anything is thrown (no aptly left running in a folder the cleanup removes).
    const [guarded, made] = await Promise.allSettled([
      checked,
      publishIntoDirectory(opts, {
        whole: allPublished,
        named: published,
        indexText,
        unsigned: listed.body !== undefined && listed.releaseText === undefined,
        fresh: classified.fresh,
        present: classified.present,
        // Completing an incomplete repository, the build's published packages' pool files are
        // sent again too (create-only: the same bytes are accepted); otherwise the lost ones.
        resend: listed.incomplete !== undefined ? classified.present : pool.lost.map((l) => l.p),
        outDir,
        key: opts.key,
      }),
    ]);
    if (guarded.status === 'rejected') throw guarded.reason;
    if (made.status === 'rejected') throw made.reason;
    const [state, write] = [guarded.value, made.value];
    if (state.problems.length) {
      await removeTree(outDir);
      return refusal(state);
    }
    return {
      problems: [],
      result,
      write: (beforeEntryFiles) => timed(logger, 'upload', `${b.label}: upload`, () => write(beforeEntryFiles, state)),
    };
  } catch (e) {
    await removeTree(outDir);
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
  readonly whole: () => Promise<PublishedPackage[]>;
  /** The published entries of the build's package names. */
  readonly named: readonly PublishedPackage[];
  /** The published Packages index (checked against InRelease), '' when there is none. */
  readonly indexText: string;
  /** The index has no signed listing (a Packages.gz without InRelease). */
  readonly unsigned: boolean;
  /** The build's packages the repository lacks: aptly writes their paragraphs; the pool receives them (create-only). */
  readonly fresh: readonly BuildPackage[];
  /** The build's packages the repository holds already. */
  readonly present: readonly BuildPackage[];
  /** The present packages whose pool files are sent again (create-only). */
  readonly resend: readonly BuildPackage[];
  readonly outDir: string;
  /** Awaited when the Release is signed. */
  readonly key: Promise<SigningKey>;
}

/** The index files of the component, relative to dists/DISTRIBUTION/ as the Release lists them. */
const BINARY_DIR = `${COMPONENT}/binary-${DEB_ARCH}`;

/**
 * The new published tree, made in outDir, with its Release signed; returns the upload step.
 *
 * aptly publishes the new packages alone from an empty root: their paragraphs, their places in
 * the pool and a Release with this publish's date. The published index with aptly's paragraphs
 * appended (lib/publish/metadata appendParagraphs) then replaces aptly's Packages and
 * Packages.gz, with their by-hash names, and the Release lists them (relistRelease). A publish
 * thus costs the new packages plus one pass over the index (gzip, hashes), not a run of aptly
 * over every published package: at 10,000 packages aptly's `publish update` took ~0.5 s (a folder
 * and a link per package and the whole index rebuilt from its database), the append ~0.1 s.
 * The published index, checked against the signed InRelease, is the only record of what the
 * repository holds (aptly keeps no database between publishes).
 * @throws UserError when aptly's index does not list exactly the new packages with the build's
 *   SHA256, or (an unsigned index) the pool lacks a package the index lists; ToolError from aptly, gpg
 */
async function publishIntoDirectory(
  opts: DebPrepareOptions,
  { whole, named, indexText, unsigned, fresh, present, resend, outDir, key: keyOpening }: Prepared,
): Promise<(beforeEntryFiles: () => void, keys: RepositoryState) => Promise<PublishResult>> {
  const { bucket: b, logger } = opts;
  const repo = b.label;
  // aptly's root on disk, not in memory: its pool takes a copy (or a hard link) of each new
  // package, up to the image bundle's gigabyte.
  const aptlyRoot = path.join(opts.workDir, 'aptly');
  const configFile = path.join(opts.workDir, 'aptly.conf');
  const taskFile = path.join(opts.workDir, 'aptly-task');
  // The new packages, by directory (one short command line however many there are), under their
  // own names: aptly names the published pool file after the file it was given.
  const newDir = path.join(opts.workDir, 'new-debs');
  // One aptly run (`aptly task run`: one start), stopping at the first failing command.
  const commands = aptlyPublishCommands(fresh.length ? newDir : undefined);
  // (All end before a failure is thrown: nothing keeps writing into the work folder.)
  await mkdir(aptlyRoot, { recursive: true });
  const made = await Promise.allSettled([
    writeFile(configFile, aptlyConfig(aptlyRoot, outDir)),
    writeFile(taskFile, commands.map((c) => c.map(shellQuote).join(' ')).join('\n') + '\n'),
    mkdir(newDir, { recursive: true }).then(() =>
      Promise.all(fresh.map((p) => symlink(path.resolve(p.file), path.join(newDir, path.basename(p.file))))),
    ),
  ]);
  for (const r of made) if (r.status === 'rejected') throw r.reason;

  logger.info(`${repo}: adding ${fresh.length} package(s): ${fresh.map((p) => path.basename(p.file)).join(', ') || 'none'}`);
  const aptly = timed(logger, 'aptly', `${repo}: aptly (the new packages)`, () =>
    run('aptly', [`-config=${configFile}`, 'task', 'run', `-filename=${taskFile}`], { what: `${repo}: aptly publishing the new packages` }),
  );
  // The whole index is parsed while aptly runs; both end before a failure is thrown.
  const [ran, parsed] = await Promise.allSettled([aptly, whole()]);
  if (ran.status === 'rejected') throw ran.reason;
  if (parsed.status === 'rejected') throw parsed.reason;
  if (unsigned) {
    // (The build's own published packages are sent again below, completing the pool.)
    const resent = new Set(resend.map(packageIdentity));
    await checkPoolHolds(
      b,
      parsed.value.filter((p) => !resent.has(packageIdentity(p))),
      logger,
    );
  }

  const distDir = path.join(outDir, 'dists', DISTRIBUTION);
  const binDir = path.join(distDir, BINARY_DIR);
  const { packages, gz, locations } = await timed(logger, 'aptly', `${repo}: published paragraphs appended`, async () => {
    const paragraphs = await readFile(path.join(binDir, 'Packages'), 'utf8');
    const listedNew = parsePackagesIndex(paragraphs);
    const byIdentity = new Map(listedNew.map((p) => [packageIdentity(p), p]));
    const wrong = fresh.filter((p) => byIdentity.get(packageIdentity(p))?.sha256 !== p.sha256);
    if (wrong.length || listedNew.length !== fresh.length)
      throw new UserError(
        `${repo}: aptly's index of the new packages lists ${listedNew.map(packageIdentity).join(', ') || 'none'}, not exactly ${fresh.map(packageIdentity).join(', ') || 'none'} with this build's SHA256; nothing written`,
      );
    const text = Buffer.from(appendParagraphs(indexText, paragraphs));
    // aptly's index files and their by-hash names make way for the whole index's.
    await removeTree(path.join(binDir, 'by-hash'));
    const compressed = await gzipAsync(text);
    await Promise.all([writeFile(path.join(binDir, 'Packages'), text), writeFile(path.join(binDir, 'Packages.gz'), compressed)]);
    return { packages: text, gz: compressed, locations: new Map(listedNew.map((p) => [packageIdentity(p), p.location])) };
  });
  // Each index under its by-hash names (hard links, as aptly makes them); the component's Release
  // is aptly's, the same bytes on every publish.
  const componentRelease = await readFile(path.join(binDir, 'Release'));
  for (const type of BY_HASH_TYPES) {
    const dir = path.join(binDir, 'by-hash', type);
    await mkdir(dir, { recursive: true });
    for (const [name, bytes] of [
      ['Packages', packages],
      ['Packages.gz', gz],
      ['Release', componentRelease],
    ] as const)
      await link(path.join(binDir, name), path.join(dir, createHash(type.toLowerCase()).update(bytes).digest('hex')));
  }
  const releaseFile = path.join(distDir, 'Release');
  const release = relistRelease(
    await readFile(releaseFile, 'utf8'),
    new Map([
      [`${BINARY_DIR}/Packages`, packages],
      [`${BINARY_DIR}/Packages.gz`, gz],
    ]),
    `${repo}: the Release aptly wrote`,
  );
  await writeFile(releaseFile, release);
  const key = await keyOpening;
  // Both signatures at once; both end before a failure is thrown (no gpg left writing into outDir).
  await timed(logger, 'sign', `${repo}: InRelease, Release.gpg`, async () => {
    const signed = await Promise.allSettled([
      clearSignSha512(key, releaseFile, path.join(distDir, 'InRelease')),
      detachSignSha512(key, releaseFile, path.join(distDir, 'Release.gpg')),
    ]);
    for (const r of signed) if (r.status === 'rejected') throw r.reason;
  });

  // Where the packages go in the pool: the new ones where aptly's index puts them, the others
  // where the published index has them.
  const publishedAt = new Map(named.map((p) => [packageIdentity(p), p.location]));
  const uploads = [
    ...fresh.map((p) => ({ ...p, location: locations.get(packageIdentity(p))! })),
    ...resend.map((p) => ({ ...p, location: publishedAt.get(packageIdentity(p))! })),
  ];
  const distFiles = await walkFiles(path.join(outDir, 'dists'), 'dists');

  return async (beforeEntryFiles, keys) => {
    const phase = (name: ReturnType<typeof distsUploadPhase>) => distFiles.filter((f) => distsUploadPhase(f) === name);
    // Each index is written once under several names (hard links): one file's names are sent
    // once and copied in the bucket (CopyObject), not sent again. At 10,000 packages that is
    // 6.8 MB not sent twice in each round.
    const files = await sameFileGroups(outDir, [...phase('by-hash'), ...phase('index')]);
    const packageUploads = mapConcurrent(uploads, 8, (p) => putCreateOnly(b, p.location, p.file, p.sha256, logger));
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
      // Where the first name was already there (an earlier, interrupted run, or the component's
      // Release, the same on every publish), the others may not be: each is sent create-only, as
      // the first was.
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
    // (Both end before a failure is thrown: no upload of the first round outlives the publish.)
    for (const r of await Promise.allSettled([packageUploads, byHash])) if (r.status === 'rejected') throw r.reason;
    logger.info(
      `${repo}: ${fresh.length} new package(s) in the pool${resend.length ? `, ${resend.length} published one(s) checked and sent again where missing` : ''}`,
    );
    beforeEntryFiles();
    // A new key reaches public.key before anything it signed (no request when it is unchanged).
    await writeIfChanged(b, 'public.key', keys.publicKey, CACHE_REVALIDATE, Promise.resolve(keys.currentPublicKey));
    await mapConcurrent([...phase('index'), ...phase('top')], 8, async (rel) => {
      const twin = files.get(rel)?.find((other) => inBucket.has(other));
      const headers = { contentType: contentTypeOf(rel), cacheControl: cacheControlOf('deb', rel) };
      if (twin) return copyWithin(b, inBucket.get(twin)!, rel, path.join(outDir, rel), headers);
      return uploadFile(b, rel, path.join(outDir, rel), { cacheControl: headers.cacheControl });
    });
    logger.info(`${repo}: published dists/${DISTRIBUTION} (InRelease signed by ${key.fingerprint})`);
    const added = new Set(fresh.map(packageIdentity));
    return {
      added: uploads.filter((p) => added.has(packageIdentity(p))).map((p) => path.posix.basename(p.location)),
      alreadyPresent: present.map((p) => path.basename(p.file)),
    };
  };
}

/**
 * Where the build's published packages (`present`) stand in the pool: a HEAD each, at the place
 * the published index (`named`, its entries of the build's names) lists. An object with sha256
 * metadata (lib/publish/upload putCreateOnly) must carry the index's SHA256.
 * @returns the lost ones (no object), with their places; problems naming objects with other bytes
 */
async function checkPoolHoldsBuild(
  b: Bucket,
  present: readonly BuildPackage[],
  named: readonly PublishedPackage[],
  logger: Logger,
): Promise<{ lost: Array<{ p: BuildPackage; location: string }>; problems: string[] }> {
  if (!present.length) return { lost: [], problems: [] };
  const listed = new Map(named.map((e) => [packageIdentity(e), e]));
  const found = await timed(logger, 'check', `${b.label}: build DEBs in the pool`, () =>
    mapConcurrent(present, 8, async (p) => {
      const entry = listed.get(packageIdentity(p))!;
      return { p, entry, head: await headObject(b, entry.location) };
    }),
  );
  // (An object without sha256 metadata, as the old process uploaded them, is taken as it is: the
  // Packages entries publish reads carry no size to compare, and a GET of each is what this avoids.)
  const problems = found
    .filter(({ entry, head }) => head?.metadata.sha256 !== undefined && head.metadata.sha256 !== entry.sha256)
    .map(
      ({ entry, head }) =>
        `${b.label}: ${entry.location} holds other bytes than the index lists (sha256 ${head!.metadata.sha256}, listed ${entry.sha256}); the repository is damaged: nothing written`,
    );
  const lost = found.filter(({ head }) => !head).map(({ p, entry }) => ({ p, location: entry.location }));
  if (lost.length)
    logger.warn(
      `${b.label}: the pool lacks ${lost.map((l) => l.location).join(', ')} (listed by the index); sending them again from the build`,
    );
  return { lost, problems };
}

/** Sends the build's lost pool files again, create-only, 8 at a time. */
async function sendToPool(b: Bucket, lost: ReadonlyArray<{ p: BuildPackage; location: string }>, logger: Logger): Promise<void> {
  await mapConcurrent(lost, 8, ({ p, location }) => putCreateOnly(b, location, p.file, p.sha256, logger));
  if (lost.length) logger.info(`${b.label}: sent ${lost.length} lost pool file(s) again`);
}

/**
 * An index without a signed listing (a first publish interrupted before its top files, or top
 * files lost) is trusted only as far as the pool bears it out: every package it lists must be in
 * the bucket as a publish wrote it (its sha256 metadata, lib/publish/upload putCreateOnly, equal to
 * the index's SHA256). HEAD requests only, 16 at a time.
 * @throws UserError naming the first few packages the pool lacks or holds with other bytes
 */
async function checkPoolHolds(b: Bucket, listed: readonly PublishedPackage[], logger: Logger): Promise<void> {
  logger.info(`${b.label}: the index has no signed listing; checking that the pool holds the ${listed.length} package(s) it lists`);
  const found = await mapConcurrent(listed, 16, async (p) => ({ p, head: await headObject(b, p.location) }));
  const bad = found.filter(({ p, head }) => head?.metadata.sha256 !== p.sha256);
  if (bad.length)
    throw new UserError(
      `${b.label}: ${PACKAGES_INDEX} has no signed listing (no ${IN_RELEASE}) and lists ${bad.length} package(s) the pool lacks or holds with other bytes (${bad
        .slice(0, 5)
        .map(({ p, head }) => `${p.location}: ${head ? `sha256 ${head.metadata.sha256 ?? 'unknown'}, listed ${p.sha256}` : 'missing'}`)
        .join('; ')}${bad.length > 5 ? '; …' : ''}): the repository is damaged; nothing written`,
    );
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
