import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { detachSign, SigningKey } from '../signing/keyring';
import { mapConcurrent } from '../util/concurrency';
import { UserError } from '../util/errors';
import { run } from '../util/exec';
import { Logger } from '../util/log';
import { classifyPackages, conflictMessage, decompressMetadata, parsePrimaryXml, parseRepomd, PublishedPackage, rpmEvr } from './metadata';
import { LocalPackage, sha256File } from './package-file';
import { CACHE_IMMUTABLE, CACHE_METADATA, getObjectBytes, headObject, isS3Error, putFile, putObject, S3Target } from './s3';

/**
 * Publishes RPMs into a yum repository in a bucket:
 *   packages/*.rpm, repodata/ (createrepo_c), repodata/repomd.xml.asc, public.key, kismatic.repo.
 * Only the old repodata is read: createrepo_c --update --skip-stat --recycle-pkglist keeps the old
 * package entries without the old RPMs on disk, and --pkglist adds the new ones.
 */
export interface RpmPublishOptions {
  readonly target: S3Target;
  readonly bucket: string;
  readonly rpms: readonly string[];
  /** Opened while the metadata is read; awaited before the first signature and the first write. */
  readonly key: Promise<SigningKey>;
  /** Public URL of the repository, written into kismatic.repo. */
  readonly baseUrl: string;
  readonly workDir: string;
  readonly logger: Logger;
  /** Called right before the top files are written (the lock check). */
  readonly beforeTopFiles: () => void;
}

export interface PublishResult {
  readonly added: string[];
  readonly alreadyPresent: string[];
}

export const RPM_PACKAGE_DIR = 'packages';

export async function readRpmPackage(file: string): Promise<LocalPackage> {
  const { stdout } = await run('rpm', ['-qp', '--nosignature', '--qf', '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}', file], {
    what: `reading ${path.basename(file)}`,
  });
  const [name, epoch, version, release, arch] = stdout.trim().split('\t');
  return {
    name,
    version: rpmEvr(epoch, version, release),
    arch,
    sha256: await sha256File(file),
    location: `${RPM_PACKAGE_DIR}/${path.basename(file)}`,
    file,
  };
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

export async function publishRpmRepository(opts: RpmPublishOptions): Promise<PublishResult> {
  const { target, bucket, logger } = opts;
  const repo = `RPM repository s3://${bucket}`;
  const local = await mapConcurrent(opts.rpms, 4, readRpmPackage);

  const repoDir = path.join(opts.workDir, 'rpm-repo');
  await mkdir(path.join(repoDir, 'repodata'), { recursive: true });
  await mkdir(path.join(repoDir, RPM_PACKAGE_DIR), { recursive: true });

  const repomd = await getObjectBytes(target, bucket, 'repodata/repomd.xml');
  let published: PublishedPackage[] = [];
  let oldFiles = new Set<string>();
  if (repomd) {
    const entries = parseRepomd(repomd.body.toString('utf8'));
    oldFiles = new Set(entries.map((e) => e.href));
    // createrepo_c --update needs primary, filelists and other; the sqlite copies are rebuilt.
    const needed = entries.filter((e) => ['primary', 'filelists', 'other'].includes(e.type));
    logger.info(`${repo}: reading ${needed.length} metadata files (${needed.map((e) => path.basename(e.href)).join(', ')})`);
    await writeFile(path.join(repoDir, 'repodata', 'repomd.xml'), repomd.body);
    for (const e of needed) {
      const obj = await getObjectBytes(target, bucket, e.href);
      if (!obj) throw new UserError(`${repo}: repomd.xml lists ${e.href} but it is missing from the bucket; the repository is damaged`);
      await writeFile(path.join(repoDir, e.href), obj.body);
      if (e.type === 'primary') published = parsePrimaryXml(decompressMetadata(e.href, obj.body));
    }
  }

  const classified = classifyPackages(local, published);
  // A package uploaded by a publish that died before its metadata: same name must mean same bytes.
  for (const p of classified.fresh) {
    const head = await headObject(target, bucket, p.location);
    if (head && head.metadata.sha256 && head.metadata.sha256 !== p.sha256) {
      classified.conflicts.push({ local: p, published: { ...p, sha256: head.metadata.sha256 } });
    } else if (head && !head.metadata.sha256) {
      throw new UserError(`${repo}: ${p.location} exists but is not in the metadata and carries no sha256; remove or republish it by hand`);
    }
  }
  if (classified.conflicts.length) throw new UserError(conflictMessage(repo, classified.conflicts));
  const fresh = classified.fresh.filter((p) => !classified.conflicts.some((c) => c.local === p));

  const repoFile = kismaticRepoFile(opts.baseUrl);
  if (fresh.length === 0) {
    logger.info(`${repo}: all ${local.length} packages already published; metadata unchanged`);
    await writeRootFiles(opts, await opts.key, repoFile);
    return { added: [], alreadyPresent: local.map((p) => path.basename(p.location)) };
  }

  logger.info(`${repo}: adding ${fresh.length} package(s): ${fresh.map((p) => path.basename(p.location)).join(', ')}`);
  for (const p of fresh) await copyFile(p.file, path.join(repoDir, p.location));
  const pkglist = path.join(opts.workDir, 'rpm-pkglist');
  await writeFile(pkglist, fresh.map((p) => p.location).join('\n') + '\n');
  const args = repomd ? ['--update', '--skip-stat', '--recycle-pkglist', '--pkglist', pkglist, repoDir] : ['--pkglist', pkglist, repoDir];
  await run('createrepo_c', ['--quiet', ...args], { what: `${repo}: createrepo_c` });
  const key = await opts.key;
  await detachSign(key, path.join(repoDir, 'repodata', 'repomd.xml'), path.join(repoDir, 'repodata', 'repomd.xml.asc'));

  // 1. packages (create-only: a package object is never replaced)
  await mapConcurrent(fresh, 4, async (p) => {
    await putCreateOnly(target, bucket, p.location, p.file, p.sha256, repo);
  });
  logger.info(`${repo}: uploaded ${fresh.length} package(s)`);
  // 2. hashed metadata files (new names only; old ones stay for clients holding the old repomd.xml)
  const metadataFiles = (await readdir(path.join(repoDir, 'repodata'))).filter(
    (f) => f !== 'repomd.xml' && f !== 'repomd.xml.asc' && !oldFiles.has(`repodata/${f}`),
  );
  await mapConcurrent(metadataFiles, 4, async (f) => {
    try {
      await putFile(target, bucket, `repodata/${f}`, path.join(repoDir, 'repodata', f), {
        cacheControl: CACHE_IMMUTABLE,
        ifNoneMatch: '*',
      });
    } catch (e) {
      // Same hashed name = same bytes (written by an earlier, interrupted run).
      if (!isS3Error(e, 'PreconditionFailed', '412')) throw e;
    }
  });
  // 3. the root files, then repomd.xml and its signature last, back to back
  opts.beforeTopFiles();
  await writeRootFiles(opts, key, repoFile);
  await putFile(target, bucket, 'repodata/repomd.xml', path.join(repoDir, 'repodata', 'repomd.xml'), { cacheControl: CACHE_METADATA });
  await putFile(target, bucket, 'repodata/repomd.xml.asc', path.join(repoDir, 'repodata', 'repomd.xml.asc'), {
    cacheControl: CACHE_METADATA,
  });
  logger.info(`${repo}: published repodata (${metadataFiles.length} new metadata files), repomd.xml signed by ${key.keyId}`);
  return { added: fresh.map((p) => path.basename(p.location)), alreadyPresent: classified.present.map((p) => path.basename(p.location)) };
}

/** Uploads a package create-only; if it is already there, it must carry the same sha256. */
export async function putCreateOnly(
  target: S3Target,
  bucket: string,
  key: string,
  file: string,
  sha256: string,
  repo: string,
): Promise<void> {
  try {
    await putFile(target, bucket, key, file, { cacheControl: CACHE_IMMUTABLE, ifNoneMatch: '*', metadata: { sha256 } });
  } catch (e) {
    if (!isS3Error(e, 'PreconditionFailed', '412')) throw e;
    const head = await headObject(target, bucket, key);
    if (head?.metadata.sha256 !== sha256) {
      throw new UserError(
        `${repo}: ${key} appeared with different content (sha256 ${head?.metadata.sha256 ?? 'unknown'}) while publishing; not replaced`,
      );
    }
  }
}

/** public.key and kismatic.repo, written only when they differ (a re-publish changes nothing). */
async function writeRootFiles(opts: RpmPublishOptions, key: SigningKey, repoFile: string): Promise<void> {
  await writeIfChanged(opts.target, opts.bucket, 'public.key', key.publicKeyArmored);
  await writeIfChanged(opts.target, opts.bucket, 'kismatic.repo', repoFile);
}

export async function writeIfChanged(target: S3Target, bucket: string, key: string, content: string): Promise<boolean> {
  const current = await getObjectBytes(target, bucket, key);
  if (current && current.body.toString('utf8') === content) return false;
  await putObject(target, bucket, key, content, { cacheControl: CACHE_METADATA });
  return true;
}

export async function listPackageFiles(dir: string, ext: '.rpm' | '.deb'): Promise<string[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(
      `cannot read ${dir}: ${e.code === 'ENOENT' ? 'no such directory (run ket-packages build first, or pass --from)' : e.message}`,
    );
  });
  return names
    .filter((n) => n.endsWith(ext))
    .sort()
    .map((n) => path.join(dir, n));
}
