import { buildDeb } from '../packaging/deb';
import { buildRpm } from '../packaging/rpm';
import { packageContents } from '../packaging/orchestrate';
import { PayloadCompression } from '../packaging/types';
import { PackageMetadata, ResolvedPackage } from '../manifest/types';
import { formatBytes, stderrLogger } from '../util/log';
import { fetchImages, FetchImagesOptions, FetchedImage, imagePackageFiles } from './images';

/**
 * Payload compression of the image bundle: xz (CentOS 7's rpm 4.11 and xenial's dpkg 1.18 read
 * it; zstd they do not), preset 0, one thread per core. Measured with `npm run bench:offline` on
 * image-like content (binaries and text), a whole bundle build with preset 0 on 2 threads ran
 * 7.3x faster than with the single-threaded preset 6 default, packages about 13% larger; xz
 * needs ~12 MiB for it, against ~300 MiB for preset 6 on 2 threads. A bundle of 2-3 GB of
 * images is dominated by compression time, so speed wins.
 */
export const OFFLINE_COMPRESSION: PayloadCompression = { algorithm: 'xz', level: 0, threads: 0 };

export interface BuildOfflineOptions extends FetchImagesOptions {
  readonly metadata: PackageMetadata;
  readonly rpmDir: string;
  readonly debDir: string;
  readonly sourceDateEpoch: number;
  /** Overrides OFFLINE_COMPRESSION (the benchmark compares against the writers' default). */
  readonly compression?: PayloadCompression;
  readonly formats?: readonly ('rpm' | 'deb')[];
}

export interface BuiltOfflinePackage {
  readonly images: readonly FetchedImage[];
  readonly rpm?: string;
  readonly deb?: string;
}

/**
 * Builds a package whose content is container images (kismatic-offline) on its own, without
 * signing (the benchmark and tests; `build` goes through the orchestrator's hook, hook.ts): every
 * image is copied and verified first, so a missing or mismatched image fails before any package
 * file is written; then both writers read the cached archives in place (no copy of gigabytes
 * into memory). Contents are assembled by packageContents, as in a full build.
 */
export async function buildOfflinePackage(pkg: ResolvedPackage, options: BuildOfflineOptions): Promise<BuiltOfflinePackage> {
  const logger = options.logger ?? stderrLogger;
  const images = await fetchImages(pkg, options);
  const files = imagePackageFiles(images);
  const compression = options.compression ?? OFFLINE_COMPRESSION;
  const contents = packageContents(pkg, options.metadata, { files, compression, sourceDateEpoch: options.sourceDateEpoch });
  const formats = options.formats ?? ['rpm', 'deb'];
  const what = `${compression.algorithm} -${compression.level}, ${compression.threads === 0 ? 'all cores' : `${compression.threads} thread(s)`}`;
  const total = formatBytes(images.reduce((s, i) => s + i.bytes, 0));
  let rpm: string | undefined;
  let deb: string | undefined;
  if (formats.includes('rpm')) {
    logger.info(`${pkg.name}: writing ${pkg.rpm.fileName} (${total} of images, ${what})`);
    const started = Date.now();
    rpm = await buildRpm(contents.rpm, options.rpmDir);
    logger.info(`${pkg.name}: ${pkg.rpm.fileName} written in ${seconds(started)}`);
  }
  if (formats.includes('deb')) {
    logger.info(`${pkg.name}: writing ${pkg.deb.fileName} (${total} of images, ${what})`);
    const started = Date.now();
    deb = await buildDeb(contents.deb, options.debDir);
    logger.info(`${pkg.name}: ${pkg.deb.fileName} written in ${seconds(started)}`);
  }
  return { images, rpm, deb };
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}
