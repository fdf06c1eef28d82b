import { APT_REPOSITORY } from '../release/apt-layout';
import { accessSync, constants, existsSync } from 'node:fs';
import * as os from 'node:os';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { clearSign, detachSign, SigningKey } from '../signing/keyring';
import { mapConcurrent } from '../util/concurrency';
import { UserError } from '../util/errors';
import { run } from '../util/exec';
import { Logger } from '../util/log';
import { LocalPackage, sha256File } from './package-file';
import { classifyPackages, conflictMessage, decompressMetadata, packageIdentity, parsePackagesIndex, PublishedPackage } from './metadata';
import { putCreateOnly, PublishResult, writeIfChanged } from './rpm';
import { CACHE_IMMUTABLE, CACHE_METADATA, getObjectBytes, isS3Error, putFile, putObject, S3Target } from './s3';

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
export const { distribution: DISTRIBUTION, component: COMPONENT, architecture: DEB_ARCH } = APT_REPOSITORY;
const APTLY_REPO = 'kismatic';
const PACKAGES_INDEX = `dists/${DISTRIBUTION}/${COMPONENT}/binary-${DEB_ARCH}/Packages.gz`;

export interface DebPublishOptions {
  readonly target: S3Target;
  readonly bucket: string;
  readonly debs: readonly string[];
  /** Opened while the metadata is read; awaited before the first signature and the first write. */
  readonly key: Promise<SigningKey>;
  /** Private place for aptly's database: bucket and key prefix. */
  readonly state: { readonly target: S3Target; readonly bucket: string; readonly prefix: string };
  readonly workDir: string;
  readonly logger: Logger;
  readonly beforeTopFiles: () => void;
}

export async function readDebPackage(file: string): Promise<LocalPackage> {
  const { stdout } = await run('dpkg-deb', ['--show', '--showformat=${Package}\\t${Version}\\t${Architecture}', file], {
    what: `reading ${path.basename(file)}`,
  });
  const [name, version, arch] = stdout.trim().split('\t');
  return { name, version, arch, sha256: await sha256File(file), location: '', file };
}

export function aptlyConfig(rootDir: string, outDir: string): string {
  return JSON.stringify(
    {
      rootDir,
      architectures: [DEB_ARCH],
      dependencyFollowSuggests: false,
      gpgDisableSign: true,
      gpgDisableVerify: true,
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

export function stateKey(prefix: string, bucket: string): string {
  return `${prefix}aptly/${bucket}/db.tar.gz`;
}

/** Upload order within dists/: by-hash files, then plain indexes, then the signed top files. */
export function distsUploadPhase(rel: string): 'by-hash' | 'index' | 'top' | 'skip' {
  const base = path.posix.basename(rel);
  if (rel.includes('/by-hash/')) return /^[0-9a-f]{32,128}$/.test(base) ? 'by-hash' : 'skip';
  if (rel === `dists/${DISTRIBUTION}/Release` || rel === `dists/${DISTRIBUTION}/Release.gpg` || rel === `dists/${DISTRIBUTION}/InRelease`)
    return 'top';
  return 'index';
}

export async function publishDebRepository(opts: DebPublishOptions): Promise<PublishResult> {
  const { target, bucket, logger } = opts;
  const repo = `DEB repository s3://${bucket}`;
  const local = await mapConcurrent(opts.debs, 4, readDebPackage);
  const index = await getObjectBytes(target, bucket, PACKAGES_INDEX);
  const published = index ? parsePackagesIndex(decompressMetadata(PACKAGES_INDEX, index.body)) : [];
  logger.info(
    `${repo}: ${published.length} package(s) published${index ? ` (read ${PACKAGES_INDEX}, ${index.body.length} bytes)` : ' (empty repository)'}`,
  );
  const classified = classifyPackages(local, published);
  if (classified.conflicts.length) throw new UserError(conflictMessage(repo, classified.conflicts));
  if (classified.fresh.length === 0) {
    logger.info(`${repo}: all ${local.length} packages already published; metadata unchanged`);
    await writeIfChanged(target, bucket, 'public.key', (await opts.key).publicKeyArmored);
    return { added: [], alreadyPresent: local.map((p) => path.basename(p.file)) };
  }

  const aptlyRoot = path.join(opts.workDir, 'aptly');
  await mkdir(aptlyRoot, { recursive: true });
  // The published tree is one directory and one symlink per package plus small indexes: on some
  // disks each mkdir/symlink costs ~0.5 ms (1.4 s of 1.5 s at 1,000 packages), in memory nothing.
  const outDir = await mkdtemp(path.join(memoryScratch(), 'ket-deb-out-'));
  try {
    return await publishFromAptly(opts, { repo, local, published, classified, aptlyRoot, outDir });
  } finally {
    await rm(outDir, { recursive: true, force: true });
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
  readonly repo: string;
  readonly local: LocalPackage[];
  readonly published: PublishedPackage[];
  readonly classified: ReturnType<typeof classifyPackages<LocalPackage>>;
  readonly aptlyRoot: string;
  readonly outDir: string;
}

async function publishFromAptly(
  opts: DebPublishOptions,
  { repo, published, classified, aptlyRoot, outDir }: Prepared,
): Promise<PublishResult> {
  const { target, bucket, logger } = opts;
  const configFile = path.join(opts.workDir, 'aptly.conf');
  await writeFile(configFile, aptlyConfig(aptlyRoot, outDir));
  const aptly = (args: string[], what: string) => run('aptly', [`-config=${configFile}`, ...args], { what: `${repo}: ${what}` });

  // aptly's database: restore it from the state place, or start a new one.
  const dbKey = stateKey(opts.state.prefix, bucket);
  const snapshot = await getObjectBytes(opts.state.target, opts.state.bucket, dbKey);
  if (snapshot) {
    await writeFile(path.join(opts.workDir, 'aptly-db.tar.gz'), snapshot.body);
    await run('tar', ['-xzf', path.join(opts.workDir, 'aptly-db.tar.gz'), '-C', aptlyRoot], { what: 'unpacking the aptly database' });
    logger.info(`${repo}: restored aptly's database from s3://${opts.state.bucket}/${dbKey} (${snapshot.body.length} bytes)`);
  } else {
    await aptly(
      ['repo', 'create', `-distribution=${DISTRIBUTION}`, `-component=${COMPONENT}`, APTLY_REPO],
      'creating the aptly repository',
    );
    if (published.length)
      logger.warn(`${repo}: no aptly database at s3://${opts.state.bucket}/${dbKey}; rebuilding it from the published repository`);
  }

  // Anything published that the database lacks (a lost database, or a publish that died before
  // saving it) is taken back from the published pool: only in that case are .debs downloaded.
  const inDb = new Set(
    parseAptlyRepoShow((await aptly(['repo', 'show', '-with-packages', APTLY_REPO], 'listing the aptly repository')).stdout),
  );
  const missing = published.filter((p) => !inDb.has(aptlyPackageRef(p)));
  if (missing.length) {
    logger.info(`${repo}: the aptly database lacks ${missing.length} published package(s); fetching them from the pool to rebuild it`);
    const rebuildDir = path.join(opts.workDir, 'rebuild');
    await mkdir(rebuildDir, { recursive: true });
    const files = await mapConcurrent(missing, 4, async (p) => {
      const obj = await getObjectBytes(target, bucket, p.location);
      if (!obj) throw new UserError(`${repo}: the index lists ${p.location} but the pool has no such file`);
      const file = path.join(rebuildDir, path.posix.basename(p.location));
      await writeFile(file, obj.body);
      if ((await sha256File(file)) !== p.sha256)
        throw new UserError(`${repo}: ${p.location} does not match the SHA256 of the published index`);
      return file;
    });
    await aptly(['repo', 'add', APTLY_REPO, ...files], 'adding published packages to the rebuilt database');
  }

  logger.info(`${repo}: adding ${classified.fresh.length} package(s): ${classified.fresh.map((p) => path.basename(p.file)).join(', ')}`);
  await aptly(['repo', 'add', APTLY_REPO, ...classified.fresh.map((p) => p.file)], 'adding the new packages');
  // The snapshot is only ever saved after a publish, so a restored database has the publication.
  const publishedBefore = snapshot !== undefined;
  const common = ['-skip-signing', '-skip-contents', '-skip-bz2', '-batch'];
  if (publishedBefore) {
    await aptly(['publish', 'update', '-skip-cleanup', ...common, DISTRIBUTION, 'filesystem:out:'], 'aptly publish update');
  } else {
    await aptly(
      [
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
      'aptly publish repo',
    );
  }
  // aptly is done with its database: pack it while we sign and upload.
  const packedDb = run('tar', ['-czf', path.join(opts.workDir, 'aptly-db-new.tar.gz'), '-C', aptlyRoot, 'db'], {
    what: 'packing the aptly database',
  });
  packedDb.catch(() => undefined);
  const distDir = path.join(outDir, 'dists', DISTRIBUTION);
  const key = await opts.key;
  await clearSign(key, path.join(distDir, 'Release'), path.join(distDir, 'InRelease'));
  await detachSign(key, path.join(distDir, 'Release'), path.join(distDir, 'Release.gpg'));

  // Where the new packages went in the pool, from the index aptly just wrote.
  const newIndex = parsePackagesIndex(
    await readFile(path.join(outDir, 'dists', DISTRIBUTION, COMPONENT, `binary-${DEB_ARCH}`, 'Packages'), 'utf8'),
  );
  const locations = new Map(newIndex.map((p) => [packageIdentity(p), p.location]));
  const fresh = classified.fresh.map((p) => ({ ...p, location: locations.get(packageIdentity(p))! }));
  const lost = published.filter((p) => !locations.has(packageIdentity(p)));
  if (lost.length)
    throw new UserError(
      `${repo}: aptly's new index would drop ${lost.length} published package(s) (${lost.map(packageIdentity).join(', ')}); nothing written`,
    );

  // 1. pool files
  await mapConcurrent(fresh, 4, (p) => putCreateOnly(target, bucket, p.location, p.file, p.sha256, repo));
  logger.info(`${repo}: uploaded ${fresh.length} package(s)`);
  // 2. by-hash indexes, 3. plain indexes, 4. Release, Release.gpg, InRelease
  const distFiles = await walkFiles(path.join(outDir, 'dists'), 'dists');
  const phase = (name: ReturnType<typeof distsUploadPhase>) => distFiles.filter((f) => distsUploadPhase(f) === name);
  await mapConcurrent(phase('by-hash'), 4, async (rel) => {
    try {
      await putFile(target, bucket, rel, path.join(outDir, rel), { cacheControl: CACHE_IMMUTABLE, ifNoneMatch: '*' });
    } catch (e) {
      if (!isS3Error(e, 'PreconditionFailed', '412')) throw e;
    }
  });
  await mapConcurrent(phase('index'), 4, (rel) => putFile(target, bucket, rel, path.join(outDir, rel), { cacheControl: CACHE_METADATA }));
  opts.beforeTopFiles();
  await writeIfChanged(target, bucket, 'public.key', key.publicKeyArmored);
  for (const name of ['Release', 'Release.gpg', 'InRelease']) {
    const rel = `dists/${DISTRIBUTION}/${name}`;
    await putFile(target, bucket, rel, path.join(outDir, rel), { cacheControl: CACHE_METADATA });
  }
  logger.info(`${repo}: published dists/${DISTRIBUTION} (InRelease signed by ${key.keyId})`);

  // aptly's database, for the next publish (if this is lost, the next one rebuilds from the pool).
  await packedDb;
  await putObject(opts.state.target, opts.state.bucket, dbKey, await readFile(path.join(opts.workDir, 'aptly-db-new.tar.gz')), {
    cacheControl: 'no-store',
    contentType: 'application/gzip',
  });
  return { added: fresh.map((p) => path.posix.basename(p.location)), alreadyPresent: classified.present.map((p) => path.basename(p.file)) };
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
