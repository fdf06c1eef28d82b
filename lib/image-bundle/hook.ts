import { ImageBundleHook } from '../packaging/orchestrate';
import { fetchImages, imagePackageFiles } from './images';
import { OFFLINE_COMPRESSION } from './package';
import { RegistryMirror } from './reference';

/**
 * What `build` plugs into the orchestrator for packages with `images` (kismatic-offline): copy
 * and verify every image into the cache (CACHE_DIR/images/DIGEST/), and hand the archives over as
 * /opt/images/NAME.tar, compressed with OFFLINE_COMPRESSION.
 */
export function offlineImageBundles(options: { mirror?: RegistryMirror; concurrency?: number } = {}): ImageBundleHook {
  return async (pkg, ctx) => {
    const images = await fetchImages(pkg, {
      cacheDir: ctx.cacheDir,
      mirror: options.mirror,
      allowUnpinned: ctx.allowUnpinned,
      logger: ctx.logger,
      concurrency: options.concurrency,
      signal: ctx.signal,
    });
    return {
      files: imagePackageFiles(images),
      compression: OFFLINE_COMPRESSION,
      digests: new Map(images.map((i) => [i.image.name, i.digest])),
    };
  };
}
