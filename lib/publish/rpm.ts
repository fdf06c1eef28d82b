import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { SigningKey } from '../signing/keyring';
import { mapConcurrent } from '../util/concurrency';
import { UserError } from '../util/errors';
import { run } from '../util/exec';
import { Logger, timed } from '../util/log';
import { CACHE_REVALIDATE, RPM_PACKAGE_DIR } from './layout';
import {
  classifyPackages,
  conflictMessage,
  decompressMetadataBytes,
  parseRepomd,
  primaryEntriesNamed,
  PublishedPackage,
  REPODATA_TYPES,
  RepodataType,
  verifyListedChecksum,
} from './metadata';
import { RepositoryState, PreparedRepository, PublishResult, readRepositoryKeys } from './repository';
import { Bucket, getObjectBytes, headObject } from './s3';
import { appendToRepodata, PublishedRepodataFile, publishedRepodataFile, RepodataFile } from './repodata-append';
import { detachSignSha512 } from './sign';
import { putCreateOnly, putHashed, uploadFile, writeIfChanged } from './upload';
import { BuildPackage, checkRpmSignatures, fileNameCollisions, InputProblem } from './validate';

/**
 * The yum repository in a bucket:
 *   packages/*.rpm, repodata/ (createrepo_c), repodata/repomd.xml.asc, public.key, kismatic.repo.
 * Only the old repodata is read, never the old RPMs: createrepo_c writes the new packages' entries
 * and the published ones are appended to them as they are (lib/publish/repodata-append).
 */
export interface RpmPrepareOptions {
  readonly bucket: Bucket;
  readonly rpms: readonly BuildPackage[];
  /** Opened while the metadata is read; awaited before the first signature. */
  readonly key: Promise<SigningKey>;
  readonly allowKeyChange: boolean;
  /** Public URL of the repository, written into kismatic.repo. */
  readonly baseUrl: string;
  readonly workDir: string;
  readonly logger: Logger;
}

/** The ready-to-use client file, as the old repository shipped it, plus repo_gpgcheck. */
export function kismaticRepoFile(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  return [
    '[kismatic]',
    'name=Kismatic Packages',
    `baseurl=${base}/`,
    'enabled=1',
    `gpgkey=${base}/public.key`,
    'gpgcheck=1',
    'repo_gpgcheck=1',
    '',
  ].join('\n');
}

/**
 * createrepo_c's output, told explicitly: SHA-256 checksums and gzip for every file, which CentOS
 * 7's yum reads (createrepo_c 1.x would otherwise write zstd), and no sqlite databases: dnf
 * (libsolv) reads only the XML, and CentOS 7's yum uses primary_db/filelists_db/other_db when
 * repomd.xml lists them and otherwise builds the same sqlite files itself from the XML it
 * downloads. Rebuilding the three databases on every publish costs time that grows with the
 * repository (README, "Benchmark").
 */
export const CREATEREPO_FORMAT = [
  '--checksum=sha256',
  '--repomd-checksum=sha256',
  '--general-compress-type=gz',
  '--compress-type=gz',
  '--no-database',
];

/**
 * Reads the repository, checks the build against it and prepares everything locally (metadata,
 * signature): nothing is written. The returned `problems` are every reason to refuse; `write`
 * uploads in crash-safe order.
 *
 * What runs at once, from the start (the locks are held): the entry files (repomd.xml, its
 * signature, public.key, kismatic.repo), a HEAD of every build RPM's object, then the old
 * primary, filelists and other files; the key guard once repomd.xml is in, and the RPM signature
 * check once the key guard knows the keys. createrepo_c starts as soon as the HEADs have answered,
 * while the old metadata is still being read: its package list is a forecast
 * (speculativePackages), checked against the parse before it is used. Every decision is still the
 * parse's (classification, conflicts, epochs, file-name collisions), before any write: a refusal
 * or a wrong forecast stops createrepo_c (or modifyrepo_c) and throws its output away, and no tool
 * started here is left running when this returns or throws.
 */
export async function prepareRpmRepository(opts: RpmPrepareOptions): Promise<PreparedRepository> {
  const { bucket: b, logger } = opts;
  // kismatic.repo as it is now, for the write (read under the lock, like everything here).
  const currentRepoFile = getObjectBytes(b, 'kismatic.repo');
  currentRepoFile.catch(() => undefined);
  const entryFiles = timed(logger, 'read metadata', `${b.label}: repomd.xml`, () =>
    Promise.all([getObjectBytes(b, 'repodata/repomd.xml'), getObjectBytes(b, 'repodata/repomd.xml.asc')]),
  );
  entryFiles.catch(() => undefined);
  const publicKey = getObjectBytes(b, 'public.key');
  publicKey.catch(() => undefined);
  // A package object uploaded by a publish that died before its metadata must have the same bytes
  // as the build's (checked once the parse says which packages are new); the answers also tell
  // createrepo_c's forecast which packages the repository does not hold yet.
  const heads = timed(logger, 'check', `${b.label}: build RPMs in the bucket`, () =>
    mapConcurrent(opts.rpms, 8, (p) => headObject(b, p.location)),
  );
  heads.catch(() => undefined);

  // Every tool started below, so that each path out waits for them (they write into the work folder).
  const tools: Promise<unknown>[] = [];
  const track = <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => undefined); // awaited where it is used, or settled by settleTools
    tools.push(p);
    return p;
  };
  const stopTools = new AbortController();
  const settleTools = async () => {
    stopTools.abort(new UserError('publish stopped'));
    await Promise.allSettled(tools);
  };
  try {
    const [repomd, repomdAsc] = await entryFiles;
    // The key guard runs while the metadata downloads (it needs only repomd.xml and its signature).
    const keyGuard: Promise<RepositoryState> = track(
      timed(logger, 'key', `${b.label}: key guard`, () =>
        readRepositoryKeys(b, {
          key: opts.key,
          allowKeyChange: opts.allowKeyChange,
          signature: repomdAsc?.body,
          signed: repomd?.body,
          scratch: opts.workDir,
          logger,
          publicKey,
        }),
      ),
    );
    // Every RPM must verify against the key(s) the repository will serve: checked as soon as the
    // key guard knows them, beside the HEADs and the parse.
    const signatures = track(
      keyGuard.then((state) =>
        state.publicKeys.length
          ? timed(logger, 'check', `${b.label}: RPM signatures`, () =>
              checkRpmSignatures(
                opts.rpms.map((p) => p.file),
                state.publicKeys,
                opts.workDir,
              ),
            )
          : [],
      ),
    );

    const old = repomd ? readOldMetadata(b, repomd.body, new Set(opts.rpms.map((p) => p.name)), logger) : undefined;
    const oldFiles = new Set(old?.hrefs ?? []);
    // The published repodata once read and checked (none: a repository without metadata yet).
    const oldRepodata = old ? old.read.then((r) => r.files) : Promise.resolve(undefined);
    oldRepodata.catch(() => undefined); // awaited by createrepo_c's step, which a refusal may never reach

    // createrepo_c on the forecast, as soon as the HEADs have answered.
    const forecast = heads.then((found) => speculativePackages(opts.rpms, found));
    forecast.catch(() => undefined); // the HEADs' failure is awaited below
    const speculative = track(
      forecast.then((packages) => (packages.length ? buildMetadata(opts, 'rpm-repo', oldRepodata, packages, stopTools.signal) : undefined)),
    );

    // The decisions: the parse (a download failure is named first: the parse fails with it).
    const [published, found] = await Promise.all([old ? old.read.then((r) => r.packages) : Promise.resolve<PublishedPackage[]>([]), heads]);
    const classified = classifyPackages(opts.rpms, published);
    const inputProblems: InputProblem[] = fileNameCollisions(opts.rpms, published);
    const state = await keyGuard;
    const problems: string[] = [...state.problems];
    for (const p of classified.fresh) {
      if (inputProblems.some((i) => i.file === p.file)) continue;
      const head = found[opts.rpms.indexOf(p)];
      if (head && head.metadata.sha256 && head.metadata.sha256 !== p.sha256) {
        classified.conflicts.push({ local: p, published: { ...p, sha256: head.metadata.sha256 } });
      } else if (head && !head.metadata.sha256) {
        problems.push(`${b.label}: ${p.location} exists but is not in the metadata and carries no sha256; remove or republish it by hand`);
      }
    }
    if (classified.conflicts.length) problems.push(conflictMessage(b.label, classified.conflicts));
    inputProblems.push(...(await signatures));
    for (const i of inputProblems) problems.push(`${b.label}: ${path.basename(i.file)}: ${i.rule}`);
    const fresh = classified.fresh.filter((p) => !classified.conflicts.some((c) => c.local === p));
    const result: PublishResult = {
      added: fresh.map((p) => path.posix.basename(p.location)),
      alreadyPresent: classified.present.map((p) => path.posix.basename(p.location)),
    };
    if (problems.length) {
      await settleTools(); // createrepo_c's output is thrown away; no tool left writing into the work folder
      return { problems, result, write: async () => result };
    }

    // The forecast holds exactly the new packages (the usual case): its metadata is the one. Else
    // (a package object without metadata from a publish that died, or metadata naming a missing
    // object) it is stopped and createrepo_c runs again on the parse's list: the published entries
    // are appended to its entries as they are, so a package of the forecast the metadata already
    // lists would be listed twice, and one it leaves out would be missing.
    const guessed = await forecast;
    let local = speculative;
    if (guessed.length !== fresh.length || !fresh.every((p) => guessed.includes(p))) {
      await settleTools();
      const names = (ps: readonly BuildPackage[]) => ps.map((p) => p.location).join(', ');
      const lost = guessed.filter((p) => !fresh.includes(p));
      const leftOver = fresh.filter((p) => !guessed.includes(p));
      if (lost.length)
        logger.warn(
          `${b.label}: the metadata lists ${names(lost)} but the bucket does not hold the object(s): clients cannot download them`,
        );
      if (leftOver.length)
        logger.info(
          `${b.label}: ${names(leftOver)} in the bucket without metadata (a publish that died before it): added to the metadata now`,
        );
      if (fresh.length) logger.info(`${b.label}: createrepo_c again, on the ${fresh.length} new package(s) the metadata does not list`);
      local = track(fresh.length ? buildMetadata(opts, 'rpm-repo-again', oldRepodata, fresh) : Promise.resolve(undefined));
    }
    const built = await local;

    const repoFile = kismaticRepoFile(opts.baseUrl);
    const key = await opts.key;
    // Nothing new (a rotation): the published repomd.xml, signed again.
    const outDir = built?.dir ?? path.join(opts.workDir, 'rpm-resign');
    const repomdFile = path.join(outDir, 'repodata', 'repomd.xml');
    const ascFile = path.join(outDir, 'repodata', 'repomd.xml.asc');
    const metadataFiles = built ? built.files.filter((f) => !oldFiles.has(`repodata/${f}`)) : [];
    // Nothing new but a rotation: the same metadata is signed again under the new key.
    const resign = fresh.length > 0 || (repomd !== undefined && state.rotation);
    if (resign && !built) {
      await mkdir(path.dirname(repomdFile), { recursive: true });
      await writeFile(repomdFile, repomd!.body);
      await timed(logger, 'sign', `${b.label}: repomd.xml.asc`, () => detachSignSha512(key, repomdFile, ascFile));
    }

    return {
      problems: [],
      result,
      write: (beforeEntryFiles) =>
        timed(logger, 'upload', `${b.label}: upload`, async () => {
          if (!resign) {
            logger.info(`${b.label}: all ${opts.rpms.length} packages already published; metadata unchanged`);
            await writeIfChanged(b, 'public.key', state.publicKey, CACHE_REVALIDATE, Promise.resolve(state.currentPublicKey));
            await writeIfChanged(b, 'kismatic.repo', repoFile, undefined, currentRepoFile);
            return result;
          }
          // 1. packages (create-only: a package object is never replaced) and the new hashed
          //    metadata files (new names only; old ones stay for clients holding the old
          //    repomd.xml), at once: nothing names either until repomd.xml does.
          if (fresh.length) logger.info(`${b.label}: adding ${fresh.length} package(s): ${result.added.join(', ')}`);
          await Promise.all([
            mapConcurrent(fresh, 8, (p) => putCreateOnly(b, p.location, p.file, p.sha256, logger)),
            mapConcurrent(metadataFiles, 8, (f) => putHashed(b, `repodata/${f}`, path.join(outDir, 'repodata', f))),
          ]);
          // 2. public.key (every key of a served package) and kismatic.repo, then repomd.xml and its
          //    signature last, both revalidated by every cache.
          beforeEntryFiles();
          await Promise.all([
            writeIfChanged(b, 'public.key', state.publicKey, CACHE_REVALIDATE, Promise.resolve(state.currentPublicKey)),
            writeIfChanged(b, 'kismatic.repo', repoFile, undefined, currentRepoFile),
          ]);
          // Together: a client reading the pair while it changes fails its signature check either way
          // (old repomd.xml with the new signature, or the reverse), and retries.
          await Promise.all([
            uploadFile(b, 'repodata/repomd.xml', repomdFile, { cacheControl: CACHE_REVALIDATE }),
            uploadFile(b, 'repodata/repomd.xml.asc', ascFile, { cacheControl: CACHE_REVALIDATE }),
          ]);
          logger.info(
            `${b.label}: published repodata (${metadataFiles.length} new metadata files), repomd.xml signed by ${key.fingerprint}`,
          );
          return result;
        }),
    };
  } catch (e) {
    // No createrepo_c, gpg or rpmkeys left writing into the work folder that the cleanup removes.
    await settleTools();
    throw e;
  }
}

/**
 * The build RPMs createrepo_c is started on before the parse has spoken: those whose object the
 * bucket does not hold (`found[i]`, the HEAD of `rpms[i]`, undefined). In a repository that is not
 * damaged these are exactly the packages its metadata does not list, because a package object is
 * always uploaded before the metadata that names it: the forecast is wrong only after a publish
 * that died between the two (an object without metadata), or when an object named by the metadata
 * is gone. prepareRpmRepository checks it against the parse either way.
 */
export function speculativePackages<T extends BuildPackage>(rpms: readonly T[], found: readonly (object | undefined)[]): T[] {
  return rpms.filter((_, i) => found[i] === undefined);
}

/**
 * Reads the published primary, filelists and other files that repomd.xml lists (appendToRepodata
 * needs the three; sqlite copies an older publish may have written are not written again), each
 * checked against the checksum repomd.xml lists and decompressed, and finds their entries once
 * (repodataEntries); primary.xml's entries of the build's package names are parsed
 * (primaryEntriesNamed: the only ones a publish compares with).
 * @returns `hrefs` of every file repomd.xml lists; `read`: the three files and the named entries
 *   (rejects with a UserError naming the repository and each file missing from the bucket or
 *   other bytes than listed, as repodataEntries or primaryEntriesNamed; or the S3 error)
 * @throws UserError when repomd.xml itself is damaged (parseRepomd) or lists not all three
 */
function readOldMetadata(
  b: Bucket,
  repomd: Buffer,
  names: ReadonlySet<string>,
  logger: Logger,
): {
  hrefs: string[];
  read: Promise<{ files: Record<RepodataType, PublishedRepodataFile>; packages: PublishedPackage[] }>;
} {
  const entries = named(b, () => parseRepomd(repomd.toString('utf8')));
  const needed = REPODATA_TYPES.map((type) => {
    const entry = entries.find((e) => e.type === type);
    if (!entry) throw new UserError(`${b.label}: repodata/repomd.xml lists no ${type} file; the repository is damaged`);
    return entry;
  });
  logger.info(`${b.label}: reading ${needed.length} metadata files (${needed.map((e) => path.basename(e.href)).join(', ')})`);
  const downloaded = Promise.resolve().then(() =>
    timed(logger, 'read metadata', `${b.label}: primary, filelists, other read and checked`, async () => {
      // Every missing or damaged file named, with the repository.
      const read = await Promise.allSettled(
        needed.map(async (e) => {
          const found = await getObjectBytes(b, e.href);
          if (!found) throw new UserError(`repomd.xml lists ${e.href} but it is missing from the bucket; the repository is damaged`);
          verifyListedChecksum(e, found.body);
          return { href: e.href, xml: await decompressMetadataBytes(e.href, found.body) };
        }),
      );
      const failed = read.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      const s3Failure = failed.find((e) => !(e instanceof UserError));
      if (s3Failure) throw s3Failure;
      if (failed.length) throw new UserError(failed.map((e) => `${b.label}: ${e.message}`).join('\n- '));
      return read.map((r) => (r as PromiseFulfilledResult<RepodataFile>).value);
    }),
  );
  const read = downloaded.then(([primary, filelists, other]) =>
    timed(logger, 'read metadata', `${b.label}: entries found, the build's names read`, async () => {
      return named(b, () => {
        const { packages, layout } = primaryEntriesNamed(primary.xml, primary.href, names);
        logger.info(`${b.label}: ${layout.total} package(s) published, ${packages.length} under the build's names`);
        const files = {
          primary: { ...primary, layout },
          filelists: publishedRepodataFile('filelists', filelists),
          other: publishedRepodataFile('other', other),
        };
        return { files, packages };
      });
    }),
  );
  read.catch(() => undefined);
  return { hrefs: entries.map((e) => e.href), read };
}

/** `read()`, its UserError prefixed with the repository (the metadata readers name only the file). */
function named<T>(b: Bucket, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${b.label}: ${e.message}`);
    throw e;
  }
}

/**
 * The repodata of the published repository plus `fresh`, with repomd.xml signed, in WORKDIR/NAME:
 * createrepo_c on `fresh` alone (symbolic links to the build's files: only read), started at
 * once, then the published files' entries appended (appendToRepodata) once `published` has them
 * (undefined: a repository without metadata yet, createrepo_c's files as they are). `signal`
 * stops createrepo_c or modifyrepo_c (and skips the signature).
 * @returns the folder and the file names in its repodata/ afterwards
 * @throws ToolError from createrepo_c, modifyrepo_c or gpg (aborted when `signal` stopped it);
 *   UserError from appendToRepodata; what `published` rejects with
 */
async function buildMetadata(
  opts: RpmPrepareOptions,
  name: string,
  published: Promise<Record<RepodataType, PublishedRepodataFile> | undefined>,
  fresh: readonly BuildPackage[],
  signal?: AbortSignal,
): Promise<{ dir: string; files: string[] }> {
  const { bucket: b, logger } = opts;
  const dir = path.join(opts.workDir, name);
  const repodata = path.join(dir, 'repodata');
  const pkglist = `${dir}.pkglist`;
  const scratch = `${dir}-appended`;
  await Promise.all([mkdir(path.join(dir, RPM_PACKAGE_DIR), { recursive: true }), mkdir(scratch, { recursive: true })]);
  await Promise.all([
    ...fresh.map((p) => symlink(path.resolve(p.file), path.join(dir, p.location))),
    writeFile(pkglist, fresh.map((p) => p.location).join('\n') + '\n'),
  ]);
  await timed(logger, 'createrepo_c', `${b.label}: createrepo_c (the new packages)`, () =>
    run('createrepo_c', ['--quiet', ...CREATEREPO_FORMAT, '--pkglist', pkglist, dir], {
      what: `${b.label}: createrepo_c`,
      signal,
    }),
  );
  const old = await published;
  if (old)
    await timed(logger, 'createrepo_c', `${b.label}: published entries appended (modifyrepo_c)`, () =>
      appendToRepodata(repodata, old, scratch, b.label, { signal }),
    );
  signal?.throwIfAborted();
  const key = await opts.key;
  await timed(logger, 'sign', `${b.label}: repomd.xml.asc`, () =>
    detachSignSha512(key, path.join(repodata, 'repomd.xml'), path.join(repodata, 'repomd.xml.asc')),
  );
  return { dir, files: (await readdir(repodata)).filter((f) => f !== 'repomd.xml' && f !== 'repomd.xml.asc') };
}
