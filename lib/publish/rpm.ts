import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { SigningKey } from '../signing/keyring';
import { mapConcurrent } from '../util/concurrency';
import { UserError } from '../util/errors';
import { run } from '../util/exec';
import { Logger, timed } from '../util/log';
import { CACHE_REVALIDATE, RPM_PACKAGE_DIR } from './layout';
import { classifyPackages, conflictMessage, parseRepomd, PublishedPackage, readPrimaryXml } from './metadata';
import { RepositoryState, PreparedRepository, PublishResult, readRepositoryKeys } from './repository';
import { Bucket, downloadToFile, getObjectBytes, headObject } from './s3';
import { detachSignSha512 } from './sign';
import { putCreateOnly, putHashed, uploadFile, writeIfChanged } from './upload';
import { BuildPackage, checkRpmSignatures, fileNameCollisions, InputProblem } from './validate';

/**
 * The yum repository in a bucket:
 *   packages/*.rpm, repodata/ (createrepo_c), repodata/repomd.xml.asc, public.key, kismatic.repo.
 * Only the old repodata is read: createrepo_c --update --skip-stat --recycle-pkglist keeps the old
 * package entries without the old RPMs on disk, and --pkglist adds the new ones.
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
 */
export async function prepareRpmRepository(opts: RpmPrepareOptions): Promise<PreparedRepository> {
  const { bucket: b, logger } = opts;
  const repoDir = path.join(opts.workDir, 'rpm-repo');
  // The requests go out first; the work folder is made while they are answered.
  // kismatic.repo as it is now, for the write (read under the lock, like everything here).
  const currentRepoFile = getObjectBytes(b, 'kismatic.repo');
  currentRepoFile.catch(() => undefined);
  const entryFiles = timed(logger, 'read metadata', `${b.label}: repomd.xml`, () =>
    Promise.all([getObjectBytes(b, 'repodata/repomd.xml'), getObjectBytes(b, 'repodata/repomd.xml.asc')]),
  );
  entryFiles.catch(() => undefined);
  const publicKey = getObjectBytes(b, 'public.key');
  publicKey.catch(() => undefined);
  await mkdir(path.join(repoDir, 'repodata'), { recursive: true });
  await mkdir(path.join(repoDir, RPM_PACKAGE_DIR), { recursive: true });
  const [repomd, repomdAsc] = await entryFiles;
  // The key guard runs while the metadata downloads (it needs only repomd.xml and its signature).
  const keyGuard: Promise<RepositoryState> = timed(logger, 'key', `${b.label}: key guard`, () =>
    readRepositoryKeys(b, {
      key: opts.key,
      allowKeyChange: opts.allowKeyChange,
      signature: repomdAsc?.body,
      signed: repomd?.body,
      scratch: opts.workDir,
      logger,
      publicKey,
    }),
  );
  keyGuard.catch(() => undefined);
  let published: PublishedPackage[] = [];
  let oldFiles = new Set<string>();
  if (repomd)
    await timed(logger, 'read metadata', `${b.label}: primary, filelists, other`, async () => {
      const entries = parseRepomd(repomd.body.toString('utf8'));
      oldFiles = new Set(entries.map((e) => e.href));
      // createrepo_c --update needs primary, filelists and other (read at once); sqlite copies an
      // older publish may have written are not needed: they are not written again.
      const needed = entries.filter((e) => ['primary', 'filelists', 'other'].includes(e.type));
      logger.info(`${b.label}: reading ${needed.length} metadata files (${needed.map((e) => path.basename(e.href)).join(', ')})`);
      await writeFile(path.join(repoDir, 'repodata', 'repomd.xml'), repomd.body);
      await Promise.all(
        needed.map(async (e) => {
          // primary.xml is parsed as it downloads (the file is for createrepo_c --update).
          const tee = e.type === 'primary' ? new PassThrough() : undefined;
          const parsed = tee && readPrimaryXml(tee, e.href);
          parsed?.catch(() => undefined); // awaited below, once the download has settled
          if (!(await downloadToFile(b, e.href, path.join(repoDir, e.href), tee)))
            throw new UserError(`${b.label}: repomd.xml lists ${e.href} but it is missing from the bucket; the repository is damaged`);
          if (parsed) published = await parsed;
        }),
      );
    });

  const classified = classifyPackages(opts.rpms, published);
  const inputProblems: InputProblem[] = fileNameCollisions(opts.rpms, published);
  // The new metadata is built and signed locally while the checks below run (nothing is written
  // to the bucket before they all pass; a refusal throws the local work away).
  const local =
    classified.fresh.length && !inputProblems.length ? buildMetadata(opts, repoDir, classified.fresh, repomd !== undefined) : undefined;
  local?.catch(() => undefined);

  try {
    const state = await keyGuard;
    const problems: string[] = [...state.problems];
    // A package uploaded by a publish that died before its metadata: same name must mean same bytes.
    await timed(logger, 'check', `${b.label}: new packages not in the bucket yet`, () =>
      mapConcurrent(classified.fresh, 8, async (p) => {
        if (inputProblems.some((i) => i.file === p.file)) return;
        const head = await headObject(b, p.location);
        if (head && head.metadata.sha256 && head.metadata.sha256 !== p.sha256) {
          classified.conflicts.push({ local: p, published: { ...p, sha256: head.metadata.sha256 } });
        } else if (head && !head.metadata.sha256) {
          problems.push(
            `${b.label}: ${p.location} exists but is not in the metadata and carries no sha256; remove or republish it by hand`,
          );
        }
      }),
    );
    if (classified.conflicts.length) problems.push(conflictMessage(b.label, classified.conflicts));
    // Every RPM must verify against the key(s) the repository will serve.
    if (state.publicKeys.length)
      inputProblems.push(
        ...(await timed(logger, 'check', `${b.label}: RPM signatures`, () =>
          checkRpmSignatures(
            opts.rpms.map((p) => p.file),
            state.publicKeys,
            opts.workDir,
          ),
        )),
      );
    for (const i of inputProblems) problems.push(`${b.label}: ${path.basename(i.file)}: ${i.rule}`);
    const fresh = classified.fresh.filter((p) => !classified.conflicts.some((c) => c.local === p));
    const result: PublishResult = {
      added: fresh.map((p) => path.posix.basename(p.location)),
      alreadyPresent: classified.present.map((p) => path.posix.basename(p.location)),
    };
    if (problems.length) {
      await local?.catch(() => undefined); // no createrepo_c left writing into the work folder
      return { problems, result, write: async () => result };
    }

    const repoFile = kismaticRepoFile(opts.baseUrl);
    const key = await opts.key;
    const repomdFile = path.join(repoDir, 'repodata', 'repomd.xml');
    const ascFile = path.join(repoDir, 'repodata', 'repomd.xml.asc');
    const metadataFiles = local ? (await local).filter((f) => !oldFiles.has(`repodata/${f}`)) : [];
    // Nothing new but a rotation: the same metadata is signed again under the new key.
    const resign = fresh.length > 0 || (repomd !== undefined && state.rotation);
    if (resign && !local) await timed(logger, 'sign', `${b.label}: repomd.xml.asc`, () => detachSignSha512(key, repomdFile, ascFile));

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
            mapConcurrent(metadataFiles, 8, (f) => putHashed(b, `repodata/${f}`, path.join(repoDir, 'repodata', f))),
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
    // No createrepo_c left writing into the work folder that the cleanup removes.
    await local?.catch(() => undefined);
    throw e;
  }
}

/**
 * createrepo_c over the old repodata plus the new packages, then repomd.xml signed; returns the
 * file names in repodata/ afterwards.
 */
async function buildMetadata(
  opts: RpmPrepareOptions,
  repoDir: string,
  fresh: readonly (BuildPackage & { location: string })[],
  update: boolean,
): Promise<string[]> {
  const { bucket: b, logger } = opts;
  await Promise.all(fresh.map((p) => copyFile(p.file, path.join(repoDir, p.location))));
  const pkglist = path.join(opts.workDir, 'rpm-pkglist');
  await writeFile(pkglist, fresh.map((p) => p.location).join('\n') + '\n');
  const args = update ? ['--update', '--skip-stat', '--recycle-pkglist', '--pkglist', pkglist, repoDir] : ['--pkglist', pkglist, repoDir];
  await timed(logger, 'createrepo_c', `${b.label}: createrepo_c`, () =>
    run('createrepo_c', ['--quiet', ...CREATEREPO_FORMAT, ...args], { what: `${b.label}: createrepo_c` }),
  );
  const key = await opts.key;
  const repodata = path.join(repoDir, 'repodata');
  await timed(logger, 'sign', `${b.label}: repomd.xml.asc`, () =>
    detachSignSha512(key, path.join(repodata, 'repomd.xml'), path.join(repodata, 'repomd.xml.asc')),
  );
  return (await readdir(repodata)).filter((f) => f !== 'repomd.xml' && f !== 'repomd.xml.asc');
}
