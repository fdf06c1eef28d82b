import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_CACHE_DIR, Downloader } from '../download/cache';
import { pinSources } from '../download/pin';
import { pinImages } from '../image-bundle/pin';
import { RegistryMirror } from '../image-bundle/reference';
import { loadManifest } from '../manifest/load';
import { throwIfAborted } from '../util/errors';
import { Logger, stderrLogger } from '../util/log';

export interface PinReleaseOptions {
  /** Path of the release manifest, edited in place (comments and order kept). */
  readonly manifestFile: string;
  /** Fetch every upstream URL from MIRROR/HOST/PATH instead. */
  readonly mirror?: string;
  /** Look every container image up in this registry instead. */
  readonly registryMirror?: RegistryMirror;
  /** @default .cache/ket-packages/downloads under the current folder */
  readonly cacheDir?: string;
  /** @default stderrLogger */
  readonly logger?: Logger;
  /** Aborting (Ctrl-C) stops the downloads in flight at once; the manifest is then left as it was. */
  readonly signal?: AbortSignal;
}

export interface PinReleaseResult {
  /** Sources that got a sha256 in place of `unpinned: true`. */
  readonly sources: number;
  /** Images that got a digest in place of `unpinned: true`. */
  readonly images: number;
}

/**
 * Pins what the manifest marks `unpinned: true`: downloads each such source and writes its sha256,
 * and looks each such image tag up (skopeo inspect) and writes its digest.
 * @throws UserError when a source or image cannot be fetched or resolved; pins written before
 *   the failure stay (each is a correct pin).
 */
export async function pinRelease(opts: PinReleaseOptions): Promise<PinReleaseResult> {
  const logger = opts.logger ?? stderrLogger;
  const manifest = loadManifest(opts.manifestFile);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ket-pin-'));
  try {
    const downloader = new Downloader({
      cacheDir: path.resolve(opts.cacheDir ?? DEFAULT_CACHE_DIR),
      mirror: opts.mirror,
      logger,
      scratchDir: scratch,
      signal: opts.signal,
    });
    const sources = await pinSources(manifest, opts.manifestFile, downloader, logger);
    throwIfAborted(opts.signal);
    const images = await pinImages(manifest, opts.manifestFile, opts.registryMirror, logger);
    return { sources: sources.length, images: images.length };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
