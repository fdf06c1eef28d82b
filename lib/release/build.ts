import { DEFAULT_CACHE_DIR } from '../download/cache';
import { offlineImageBundles } from '../image-bundle/hook';
import { RegistryMirror } from '../image-bundle/reference';
import { loadManifest } from '../manifest/load';
import { BuildResult, buildPackages, checkPinned, selectPackages } from '../packaging/orchestrate';
import { writeReleaseManifest } from '../release-manifest';
import { SigningKeyOptions } from '../signing/keyring';
import { ensureFolder } from '../util/folder';
import { Logger, stderrLogger } from '../util/log';

export interface BuildReleaseOptions {
  /** Path of the release manifest (release.yaml). */
  readonly manifestFile: string;
  /** Package names to build; every package of the manifest when absent. */
  readonly only?: readonly string[];
  /** Output folder: OUT/rpms/*.rpm and OUT/debs/*.deb. */
  readonly outDir: string;
  /**
   * Content-addressed download and image cache.
   * @default .cache/ket-packages/downloads under the current folder (the folder CodeBuild caches)
   */
  readonly cacheDir?: string;
  /** Fetch every upstream URL from MIRROR/HOST/PATH instead (lib/download/mirror). */
  readonly mirror?: string;
  /** Fetch every container image from this registry instead (lib/image-bundle/reference). */
  readonly registryMirror?: RegistryMirror;
  /**
   * Build sources without a pinned checksum and images without a pinned digest, unverified.
   * @default false
   */
  readonly allowUnpinned?: boolean;
  readonly signing: SigningKeyOptions;
  /**
   * Every file's mtime and the RPM build time, in Unix seconds (reproducible-builds.org's
   * SOURCE_DATE_EPOCH).
   * @default DEFAULT_SOURCE_DATE_EPOCH (lib/packaging/orchestrate: the 1.7.4-1 release date)
   */
  readonly sourceDateEpoch?: number;
  /** @default stderrLogger */
  readonly logger?: Logger;
  /** Aborting it (Ctrl-C) kills the running tools; OUT stays as it was. */
  readonly signal?: AbortSignal;
}

/**
 * Builds and signs the packages of a release manifest, image bundles (kismatic-offline) included:
 * what `ket-packages build` and `ket-packages local` run. Unpinned sources and images are refused
 * before any download (naming every one) unless `allowUnpinned`; the signing key is opened before
 * any download too. Nothing lands in OUT unless everything, signing included, succeeded; then
 * OUT/release-manifest.json describes what OUT holds (lib/release-manifest).
 * @throws UserError for a bad manifest, an unknown name in `only`, an unpinned source or image, a
 *   key that cannot sign, a download or tool failure; OUT is then as it was.
 */
export async function buildRelease(opts: BuildReleaseOptions): Promise<BuildResult> {
  const manifest = loadManifest(opts.manifestFile);
  // Both folders up front: a file in the way fails now, not after every download.
  await ensureFolder(opts.outDir, 'output folder');
  const cacheDir = await ensureFolder(opts.cacheDir ?? DEFAULT_CACHE_DIR, 'download cache folder');
  const allowUnpinned = opts.allowUnpinned ?? false;
  // Sources and images of every selected package, in one message.
  checkPinned(selectPackages(manifest, opts.only), allowUnpinned, manifest.file);
  const result = await buildPackages({
    manifest,
    only: opts.only,
    outDir: opts.outDir,
    cacheDir,
    mirror: opts.mirror,
    allowUnpinned,
    signing: opts.signing,
    sourceDateEpoch: opts.sourceDateEpoch,
    logger: opts.logger ?? stderrLogger,
    imageBundles: offlineImageBundles({ mirror: opts.registryMirror }),
    signal: opts.signal,
  });
  // What OUT now holds, for publish (each repository's release.json) and consume.
  await writeReleaseManifest(manifest, opts.outDir, result.imageDigests);
  return result;
}
