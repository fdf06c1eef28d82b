import { mkdir, rename, rm, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { PackageFile } from '../packaging/types';
import { ResolvedImage, ResolvedPackage } from '../manifest/types';
import { mapConcurrent } from '../util/concurrency';
import { UserError } from '../util/errors';
import { ToolError } from '../util/exec';
import { formatBytes, Logger, stderrLogger } from '../util/log';
import { archiveTag, cacheFileName, dockerTransportRef, RegistryMirror, sourceRepository } from './reference';
import { imageArchiveMismatch, manifestsPath, platformEntry, writeImageManifests } from './archive-verify';
import { copyToDockerArchive, inspectDigest, rawManifestText } from './skopeo';

/** Where KET's playbooks `docker load` the bundle from: /opt/images/{{ item }}.tar. */
export const IMAGES_DIR = '/opt/images';

export interface FetchImagesOptions {
  /** The build's cache folder; archives go under CACHE/images/DIGEST/. */
  readonly cacheDir: string;
  readonly mirror?: RegistryMirror;
  /** Copy images marked `unpinned: true` at whatever digest their tag has now. */
  readonly allowUnpinned?: boolean;
  /** Images copied at once (network-bound, plus one decompression per copy). */
  readonly concurrency?: number;
  readonly logger?: Logger;
  /** Stops the copies when aborted (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface FetchedImage {
  readonly image: ResolvedImage;
  /** The manifest digest the archive was copied and verified at. */
  readonly digest: string;
  /** The docker-archive in the cache. */
  readonly archivePath: string;
  readonly bytes: number;
  readonly cached: boolean;
}

export function describeImage(image: ResolvedImage): string {
  return `image "${image.name}" (${image.reference})`;
}

/**
 * The digest a tag points at now, as `ket-packages pin` writes it into release.yaml. For a
 * multi-arch image this is the manifest list's digest (what `docker pull REPO@DIGEST` takes).
 */
export async function resolveImageDigest(repository: string, tag: string, mirror?: RegistryMirror): Promise<string> {
  const source = sourceRepository(repository, mirror);
  return inspectDigest(dockerTransportRef(source, { tag }), {
    tlsVerify: mirror?.tlsVerify ?? true,
    what: `resolving ${repository}:${tag}`,
  });
}

/** Refuses a package with unpinned images up front, before any download, naming all of them. */
export function checkImagesPinned(pkg: ResolvedPackage, allowUnpinned: boolean): void {
  const unpinned = pkg.images.filter((i) => i.digest === undefined);
  if (unpinned.length === 0 || allowUnpinned) return;
  throw new UserError(
    `package "${pkg.name}": ${unpinned.length} image(s) have no pinned digest: ${unpinned.map((i) => i.name).join(', ')}\n` +
      `  pin them (ket-packages pin) or build with --allow-unpinned to copy whatever their tags point at today`,
  );
}

/**
 * Copies every image of a package into docker-archives in the cache, verified against its pinned
 * digest, several at once, with a progress line per image. Any failure fails the whole (the
 * others finish their copy so the cache keeps them), naming the image.
 */
export async function fetchImages(pkg: ResolvedPackage, options: FetchImagesOptions): Promise<FetchedImage[]> {
  const logger = options.logger ?? stderrLogger;
  checkImagesPinned(pkg, options.allowUnpinned ?? false);
  const total = pkg.images.length;
  let done = 0;
  const started = Date.now();
  const fetched = await mapConcurrent(pkg.images, options.concurrency ?? 4, async (image) => {
    const result = await fetchImage(image, options, logger);
    done += 1;
    const how = result.cached ? 'cached' : `copied in ${((Date.now() - started) / 1000).toFixed(1)}s`;
    logger.info(`${pkg.name}: [${done}/${total}] ${image.name} ${formatBytes(result.bytes)} ${how} (${result.digest.slice(0, 19)}…)`);
    return result;
  });
  const bytes = fetched.reduce((sum, f) => sum + f.bytes, 0);
  logger.info(`${pkg.name}: ${total} images, ${formatBytes(bytes)} of archives ready`);
  return fetched;
}

async function fetchImage(image: ResolvedImage, options: FetchImagesOptions, logger: Logger): Promise<FetchedImage> {
  const what = describeImage(image);
  const source = sourceRepository(image.repository, options.mirror);
  const tlsVerify = options.mirror?.tlsVerify ?? true;
  let digest = image.digest;
  if (digest === undefined) {
    digest = await classifyFailure(image, source, tlsVerify, undefined, () =>
      inspectDigest(dockerTransportRef(source, { tag: image.tag }), { tlsVerify, what, signal: options.signal }),
    );
    logger.warn(`${what} is unpinned; its tag points at ${digest} today (pin it: digest: ${digest})`);
  }
  const tag = archiveTag(image.repository, image.tag);
  const archivePath = path.join(options.cacheDir, 'images', cacheFileName(digest, image.repository, image.tag));
  const existing = await stat(archivePath).catch(() => undefined);
  if (existing) {
    // A cached archive is checked against the pin on every use, like a cached download: the cache
    // outlives builds, and a damaged or replaced entry must never be shipped.
    const mismatch = await imageArchiveMismatch(archivePath, digest, tag);
    if (mismatch === undefined) return { image, digest, archivePath, bytes: existing.size, cached: true };
    logger.warn(`${what}: the cached archive ${archivePath} is not ${digest}: ${mismatch}; copying it again`);
    await rm(archivePath, { force: true });
    await rm(manifestsPath(archivePath), { force: true });
  }

  await mkdir(path.dirname(archivePath), { recursive: true });
  // skopeo writes next to the final name, then a rename publishes it: an interrupted or failed
  // copy never leaves a truncated archive that a later build would take for a cached one.
  const partial = `${archivePath}.partial-${process.pid}`;
  await rm(partial, { force: true });
  logger.info(`${image.name}: copying ${source}@${digest}`);
  const pinnedDigest = digest;
  try {
    await classifyFailure(image, source, tlsVerify, pinnedDigest, () =>
      copyToDockerArchive(dockerTransportRef(source, { digest: pinnedDigest }), partial, tag, { tlsVerify, what, signal: options.signal }),
    );
    // What later uses check the archive against: the manifest(s) the pin names, as served.
    const pinned = await rawManifestText(dockerTransportRef(source, { digest: pinnedDigest }), { tlsVerify, what });
    const instance = platformEntry(pinned);
    const imageManifest = instance
      ? await rawManifestText(dockerTransportRef(source, { digest: instance }), { tlsVerify, what })
      : undefined;
    await writeImageManifests(archivePath, { pinned, image: imageManifest });
    const mismatch = await imageArchiveMismatch(partial, pinnedDigest, tag, manifestsPath(archivePath));
    if (mismatch !== undefined) throw new UserError(`${what}: the archive skopeo wrote is not ${pinnedDigest}: ${mismatch}`);
    await rename(partial, archivePath);
  } finally {
    await rm(partial, { force: true });
  }
  const { size } = await stat(archivePath);
  return { image, digest, archivePath, bytes: size, cached: false };
}

/**
 * Turns skopeo's failure into what the release engineer must do. A digest the registry does not
 * know is diagnosed by looking the tag up: moved tag (digest mismatch) versus missing image.
 */
async function classifyFailure<T>(
  image: ResolvedImage,
  source: string,
  tlsVerify: boolean,
  digest: string | undefined,
  action: () => Promise<T>,
): Promise<T> {
  try {
    return await action();
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    const what = describeImage(image);
    const registry = source.split('/')[0];
    if (e.timedOut || e.notInstalled) throw new UserError(`${what}: ${e.message}`);
    // skopeo says what went wrong only in its stderr text (its exit status is 1 for everything).
    const said = e.stderr;
    const detail = lastLine(said);
    if (
      /connection refused|no such host|i\/o timeout|dial tcp|network is unreachable|TLS handshake|server gave HTTP response to HTTPS/i.test(
        said,
      )
    ) {
      throw new UserError(`${what}: cannot reach registry ${registry}: ${detail}`);
    }
    if (/does not match|digest mismatch|manifest digest/i.test(said) && !/manifest unknown/i.test(said)) {
      throw new UserError(`${what}: digest mismatch: ${source} served content that does not hash to the pinned ${digest}: ${detail}`);
    }
    if (/manifest unknown|not found|name unknown|NAME_UNKNOWN|MANIFEST_UNKNOWN/i.test(said)) {
      if (digest !== undefined) {
        const current = await inspectDigest(dockerTransportRef(source, { tag: image.tag }), { tlsVerify }).catch(() => undefined);
        if (current !== undefined && current !== digest) {
          throw new UserError(
            `${what}: digest mismatch: release.yaml pins ${digest}, but ${source}:${image.tag} is ${current} and the pinned digest is not in the registry`,
          );
        }
        throw new UserError(
          `${what}: not found: ${source}@${digest} is not in registry ${registry}${current === undefined ? ` (nor is the tag ${image.tag})` : ''}`,
        );
      }
      throw new UserError(`${what}: not found: ${source}:${image.tag} is not in registry ${registry}`);
    }
    throw new UserError(`${what}: ${e.message}`);
  }
}

function lastLine(message: string): string {
  const lines = message.trim().split('\n');
  const last = lines[lines.length - 1];
  const msg = /msg="(.*)"$/.exec(last);
  return (msg ? msg[1] : last).replace(/\\"/g, '"');
}

/** The package files: each cached archive installed as /opt/images/NAME.tar, read in place. */
export function imagePackageFiles(fetched: readonly FetchedImage[]): PackageFile[] {
  return fetched.map((f) => ({ sourcePath: f.archivePath, path: `${IMAGES_DIR}/${f.image.name}.tar`, mode: 0o644 }));
}
