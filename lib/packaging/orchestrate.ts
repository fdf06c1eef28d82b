import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { ensureFolder } from '../util/folder';
import { Downloader, DownloadStats } from '../download/cache';
import { Manifest, PackageMetadata, ResolvedPackage, ResolvedSource } from '../manifest/types';
import { openSigningKey, SigningKey, SigningKeyOptions } from '../signing/keyring';
import { mapConcurrent } from '../util/concurrency';
import { throwIfAborted, UserError } from '../util/errors';
import { run, ToolError } from '../util/exec';
import { Logger, stderrLogger } from '../util/log';
import { buildDeb } from './deb';
import { repackageDeb, repackageRpms } from './repackage';
import { buildRpm } from './rpm';
import { signRpms } from './sign';
import { DebContents, DebExtras, PackageFile, PayloadCompression, RpmContents, RpmExtras } from './types';

/**
 * The 1.7.4-1 release date (2017-08-21), used as every file's mtime and the build time when
 * SOURCE_DATE_EPOCH is not set, so two builds of one manifest give the same bytes.
 */
export const DEFAULT_SOURCE_DATE_EPOCH = 1503273600;

/** What an image-bundle package (kismatic-offline) contributes: its files, and how to compress them. */
export interface ImageBundleResult {
  readonly files: readonly PackageFile[];
  readonly compression?: PayloadCompression;
  /** The digest each image was copied at, for the release manifest. */
  readonly digests?: ReadonlyMap<string, string>;
}

export interface ImageBundleContext {
  readonly cacheDir: string;
  /** A scratch folder of this build, removed afterwards. */
  readonly workDir: string;
  readonly allowUnpinned: boolean;
  readonly logger: Logger;
  /** The build's abort signal (Ctrl-C): pass it to every tool. */
  readonly signal?: AbortSignal;
}

/**
 * THE HOOK for packages with `images` (kismatic-offline): called once per such package; the
 * returned files are written into its RPM and DEB like any other package's. Without a hook,
 * `build` skips those packages and says so.
 */
export type ImageBundleHook = (pkg: ResolvedPackage, ctx: ImageBundleContext) => Promise<ImageBundleResult>;

export interface BuildOptions {
  readonly manifest: Manifest;
  /** Package names to build; all when absent. */
  readonly only?: readonly string[];
  /** Output folder: OUT/rpms/*.rpm, OUT/debs/*.deb. */
  readonly outDir: string;
  readonly cacheDir: string;
  readonly mirror?: string;
  readonly allowUnpinned?: boolean;
  readonly signing: SigningKeyOptions;
  readonly logger?: Logger;
  readonly sourceDateEpoch?: number;
  /** Payload compression for binary packages; the writers' default when absent. */
  readonly compression?: PayloadCompression;
  readonly imageBundles?: ImageBundleHook;
  /** Downloads at once. */
  readonly downloadConcurrency?: number;
  /**
   * Aborting it (Ctrl-C) kills the running tools, closes the downloads in flight and stops between
   * steps; the partial output, partial downloads and the temporary GnuPG home are removed as on
   * any failure.
   */
  readonly signal?: AbortSignal;
}

export interface BuildResult {
  readonly rpms: readonly string[];
  readonly debs: readonly string[];
  /** Packages not built, with the reason. */
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
  readonly downloads: DownloadStats;
  /** Image name → the digest its archive was copied at (image bundles built by this run). */
  readonly imageDigests: ReadonlyMap<string, string>;
}

/** Picks the packages `only` names (all when absent or empty), refusing unknown names. */
export function selectPackages(manifest: Manifest, only: readonly string[] | undefined): ResolvedPackage[] {
  if (!only || only.length === 0) return [...manifest.packages];
  const known = manifest.packages.map((p) => p.name);
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length > 0)
    throw new UserError(`only: no package named ${unknown.join(', ')} in ${manifest.file} (packages: ${known.join(', ')})`);
  return manifest.packages.filter((p) => only.includes(p.name));
}

/**
 * Refuses unpinned sources and images before anything is downloaded, naming every one of them in
 * one message (not sources first and images on the next run).
 * @throws UserError listing each unpinned source (package, id, URL) and image (package, name, tag)
 */
export function checkPinned(packages: readonly ResolvedPackage[], allowUnpinned: boolean, manifestFile: string): void {
  if (allowUnpinned) return;
  const sources = packages.flatMap((p) =>
    p.sources.filter((s) => !s.checksum).map((s) => `package "${p.name}" source "${s.id}" (${s.url})`),
  );
  const images = packages.flatMap((p) =>
    p.images.filter((i) => i.digest === undefined).map((i) => `package "${p.name}" image "${i.name}" (${i.repository}:${i.tag})`),
  );
  if (sources.length + images.length === 0) return;
  const list = (items: string[]) => items.map((u) => `  - ${u}`).join('\n');
  const parts = [
    ...(sources.length ? [`${sources.length} source(s) have no pinned checksum:\n${list(sources)}`] : []),
    ...(images.length ? [`${images.length} image(s) have no pinned digest:\n${list(images)}`] : []),
  ];
  throw new UserError(
    `${manifestFile}: ${parts.join('\n')}\n` +
      '  run `ket-packages pin` where the upstream is reachable to record their sha256 and digests, or build with --allow-unpinned',
  );
}

/** Sources a format uses: the shared ones plus those restricted to it. */
export function sourcesFor(pkg: ResolvedPackage, format: 'rpm' | 'deb'): ResolvedSource[] {
  return pkg.sources.filter((s) => s.format === undefined || s.format === format);
}

export function describeSource(pkg: ResolvedPackage, s: ResolvedSource): string {
  return `${pkg.name} source ${s.id}`;
}

/**
 * Builds every selected package into a temporary folder next to OUT, signs the RPMs, and only
 * then moves them into OUT/rpms and OUT/debs: a failure anywhere leaves nothing of this build.
 */
export async function buildPackages(opts: BuildOptions): Promise<BuildResult> {
  const logger = opts.logger ?? stderrLogger;
  const started = Date.now();
  const selected = selectPackages(opts.manifest, opts.only);
  const skipped: Array<{ name: string; reason: string }> = [];
  const packages = selected.filter((p) => {
    if (p.images.length > 0 && !opts.imageBundles) {
      const reason = 'its container images are bundled by lib/image-bundle, which this build does not include yet';
      logger.info(`skipping ${p.name}: ${reason}`);
      skipped.push({ name: p.name, reason });
      return false;
    }
    return true;
  });
  checkPinned(packages, opts.allowUnpinned ?? false, opts.manifest.file);
  if (packages.length === 0) {
    logger.info('nothing to build');
    return { rpms: [], debs: [], skipped, downloads: { fetched: 0, fromCache: 0, bytesFetched: 0 }, imageDigests: new Map() };
  }
  const outDir = path.resolve(opts.outDir);
  // Step by step, never mkdir -p: a recursive mkdir loops forever under /proc (lib/util/folder).
  await ensureFolder(outDir, 'output folder');
  await ensureFolder(opts.cacheDir, 'download cache folder');
  const sde = opts.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH;

  // The key first: a missing key or wrong passphrase fails in seconds, not after the downloads.
  const { signal } = opts;
  const key: SigningKey = await openSigningKey(opts.signing, 'signing the RPMs');
  const tmp = await mkdtemp(path.join(path.dirname(outDir), `.${path.basename(outDir)}.partial-`));
  try {
    const rpmDir = path.join(tmp, 'rpms');
    const debDir = path.join(tmp, 'debs');
    const workDir = path.join(tmp, 'work');
    await Promise.all([rpmDir, debDir, workDir].map((d) => mkdir(d, { recursive: true })));
    const downloader = new Downloader({
      cacheDir: opts.cacheDir,
      mirror: opts.mirror,
      logger,
      scratchDir: path.join(workDir, 'unpinned'),
      signal,
    });
    if (opts.mirror) logger.info(`mirror: every upstream URL is fetched from ${opts.mirror.replace(/\/+$/, '')}/HOST/PATH`);

    const allSources = packages.flatMap((p) => p.sources.map((s) => ({ pkg: p, source: s })));
    const downloaded = new Map<string, string>();
    await mapConcurrent(allSources, opts.downloadConcurrency ?? 4, async ({ pkg, source }) => {
      const file = await downloader.download({ what: describeSource(pkg, source), url: source.url, checksum: source.checksum });
      downloaded.set(`${pkg.name}/${source.id}`, file.path);
    });
    throwIfAborted(signal);
    const s = downloader.stats;
    logger.info(`downloads: ${s.fetched} fetched (${(s.bytesFetched / 1048576).toFixed(1)} MiB), ${s.fromCache} from cache`);

    const rpms: string[] = [];
    const debs: string[] = [];
    const imageDigests = new Map<string, string>();
    await mapConcurrent(packages, 2, async (pkg) => {
      const pkgWork = path.join(workDir, pkg.name);
      await mkdir(pkgWork, { recursive: true });
      const sourcePath = (id: string) => downloaded.get(`${pkg.name}/${id}`)!;
      const plainFiles = await manifestFiles(pkg, sourcePath, pkgWork, signal);
      let compression = opts.compression;
      if (pkg.images.length > 0 && opts.imageBundles) {
        const bundle = await opts.imageBundles(pkg, {
          cacheDir: opts.cacheDir,
          workDir: pkgWork,
          allowUnpinned: opts.allowUnpinned ?? false,
          logger,
          signal,
        });
        plainFiles.push(...bundle.files);
        for (const [name, digest] of bundle.digests ?? []) imageDigests.set(name, digest);
        compression = bundle.compression ?? compression;
      }

      const rpmSources = pkg.sources.filter((x) => x.format === 'rpm');
      const rpmParts =
        rpmSources.length > 0
          ? await repackageRpms(
              rpmSources.map((x) => sourcePath(x.id)),
              path.join(pkgWork, 'rpm-in'),
              pkg.name,
              `repackaging ${pkg.name}`,
              signal,
            )
          : undefined;
      const debSource = pkg.sources.filter((x) => x.format === 'deb');
      if (debSource.length > 1)
        throw new UserError(`package "${pkg.name}": only one upstream .deb can be repackaged, ${debSource.length} given`);
      const debParts =
        debSource.length === 1
          ? await repackageDeb(sourcePath(debSource[0].id), path.join(pkgWork, 'deb-in'), `repackaging ${pkg.name}`, signal)
          : undefined;
      const contents = packageContents(pkg, opts.manifest.metadata, {
        files: plainFiles,
        compression,
        sourceDateEpoch: sde,
        rpm: rpmParts,
        deb: debParts,
      });
      logger.info(`building    ${pkg.rpm.fileName}`);
      throwIfAborted(signal);
      rpms.push(await buildRpm(contents.rpm, rpmDir, { signal }));

      logger.info(`building    ${pkg.deb.fileName}`);
      throwIfAborted(signal);
      debs.push(await buildDeb(contents.deb, debDir, { signal }));
      await rm(pkgWork, { recursive: true, force: true });
    });

    logger.info(`signing     ${rpms.length} RPM(s) with ${key.source} (key ${key.fingerprint})`);
    throwIfAborted(signal);
    await signRpms(rpms, key, { signal });

    // Everything built and signed: now, and only now, into OUT.
    const moved = await moveInto(tmp, outDir);
    logger.info(
      `built ${moved.rpms.length} RPM(s) in ${path.join(opts.outDir, 'rpms')} and ${moved.debs.length} DEB(s) in ${path.join(opts.outDir, 'debs')} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    return { ...moved, skipped, downloads: { ...downloader.stats }, imageDigests };
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await key.dispose();
  }
}

/** What goes into one package besides the manifest's metadata and version strings. */
export interface PackageParts {
  /** Files both formats install (manifest files, image archives). */
  readonly files: readonly PackageFile[];
  /** The writers' default when absent. */
  readonly compression?: PayloadCompression;
  readonly sourceDateEpoch: number;
  /** What repackaged upstream RPMs contribute (docker-engine). */
  readonly rpm?: { readonly files: readonly PackageFile[]; readonly extras: RpmExtras & { readonly requires: readonly string[] } };
  /** What a repackaged upstream DEB contributes. */
  readonly deb?: { readonly files: readonly PackageFile[]; readonly depends: readonly string[]; readonly extras: DebExtras };
}

/**
 * The one place a package's RPM and DEB contents are assembled from the manifest: metadata,
 * NEVRA parts (version, release, arch) and DEB version, dependencies (repackaged ones first, then
 * the manifest's depends.rpm / depends.deb), files.
 */
export function packageContents(
  pkg: ResolvedPackage,
  metadata: PackageMetadata,
  parts: PackageParts,
): { rpm: RpmContents; deb: DebContents } {
  const base = {
    name: pkg.name,
    description: pkg.description,
    license: metadata.license,
    vendor: metadata.vendor,
    maintainer: metadata.maintainer,
    homepage: metadata.homepage,
    sourceDateEpoch: parts.sourceDateEpoch,
    compression: parts.compression,
  };
  return {
    rpm: {
      ...base,
      ...parts.rpm?.extras,
      version: pkg.rpm.version,
      release: pkg.rpm.release,
      arch: metadata.arch.rpm,
      files: [...parts.files, ...(parts.rpm?.files ?? [])],
      requires: [...(parts.rpm?.extras.requires ?? []), ...(pkg.depends?.rpm ?? [])],
    },
    deb: {
      ...base,
      ...parts.deb?.extras,
      version: pkg.deb.version,
      arch: metadata.arch.deb,
      files: [...parts.files, ...(parts.deb?.files ?? [])],
      depends: [...(parts.deb?.depends ?? []), ...(pkg.depends?.deb ?? [])],
    },
  };
}

/** Files the manifest lists: the source itself, or a member extracted from the source archive. */
async function manifestFiles(
  pkg: ResolvedPackage,
  sourcePath: (id: string) => string,
  workDir: string,
  signal: AbortSignal | undefined,
): Promise<PackageFile[]> {
  const byArchive = new Map<string, string[]>();
  for (const f of pkg.files) {
    if (f.member !== undefined) byArchive.set(f.from, [...(byArchive.get(f.from) ?? []), f.member]);
  }
  for (const [sourceId, members] of byArchive) {
    const source = pkg.sources.find((s) => s.id === sourceId)!;
    const dir = path.join(workDir, 'src', sourceId);
    await mkdir(dir, { recursive: true });
    const unique = [...new Set(members)];
    try {
      await run('tar', ['-xf', sourcePath(sourceId), '-C', dir, '--no-same-owner', '--', ...unique], {
        what: `extracting from ${pkg.name} source ${sourceId}`,
        signal,
      });
    } catch (e) {
      if (!(e instanceof ToolError)) throw e;
      // GNU tar names each absent member on stderr: "tar: PATH: Not found in archive".
      const missing = /([^\s:]+): Not found in archive/.exec(e.stderr);
      throw new UserError(
        missing
          ? `package "${pkg.name}": source "${sourceId}" (${source.url}) has no member ${missing[1]}`
          : `package "${pkg.name}": cannot extract ${unique.join(', ')} from source "${sourceId}" (${source.url}): ${(e as Error).message}`,
      );
    }
  }
  return pkg.files.map((f) => ({
    sourcePath: f.member !== undefined ? path.join(workDir, 'src', f.from, f.member) : sourcePath(f.from),
    path: f.path,
    mode: parseInt(f.mode, 8),
  }));
}

async function moveInto(tmp: string, outDir: string): Promise<{ rpms: string[]; debs: string[] }> {
  const result = { rpms: [] as string[], debs: [] as string[] };
  for (const kind of ['rpms', 'debs'] as const) {
    const target = path.join(outDir, kind);
    await mkdir(target, { recursive: true });
    for (const name of (await readdir(path.join(tmp, kind))).filter((n) => !n.startsWith('.')).sort()) {
      await rename(path.join(tmp, kind, name), path.join(target, name));
      result[kind].push(path.join(target, name));
    }
  }
  return result;
}
