import { ManifestPin, writePins } from '../manifest/pin-edit';
import { Manifest } from '../manifest/types';
import { UserError } from '../util/errors';
import { ToolError } from '../util/exec';
import { Logger } from '../util/log';
import { describeImage, resolveImageDigest } from './images';
import { RegistryMirror } from './reference';

export interface ImagePin {
  readonly packageName: string;
  readonly imageName: string;
  readonly digest: string;
}

function asManifestPin(pin: ImagePin): ManifestPin {
  return { packageName: pin.packageName, list: 'images', entry: pin.imageName, key: 'digest', value: pin.digest };
}

/**
 * Looks up the digest every unpinned image's tag points at now (skopeo inspect: the manifest
 * list's digest for multi-arch images) and writes it into the manifest file.
 */
export async function pinImages(
  manifest: Manifest,
  manifestPath: string,
  mirror: RegistryMirror | undefined,
  logger: Logger,
): Promise<ImagePin[]> {
  const unpinned = manifest.packages.flatMap((p) => p.images.filter((i) => i.digest === undefined).map((image) => ({ pkg: p, image })));
  if (unpinned.length === 0) {
    logger.info(`${manifest.file}: every image is pinned; nothing to do`);
    return [];
  }
  const pins: ImagePin[] = [];
  for (const { pkg, image } of unpinned) {
    let digest: string;
    try {
      digest = await resolveImageDigest(image.repository, image.tag, mirror);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      const detail = e instanceof ToolError && !e.timedOut ? e.stderrTail : e.message;
      throw new UserError(`${describeImage(image)}: cannot resolve its digest: ${detail.trim().split('\n').pop()}`);
    }
    pins.push({ packageName: pkg.name, imageName: image.name, digest });
    logger.info(`pinned      ${pkg.name} image ${image.name} (${image.reference}): ${digest}`);
  }
  await writePins(manifestPath, pins.map(asManifestPin), manifest.file);
  return pins;
}
