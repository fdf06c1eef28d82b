import { readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument, Scalar, YAMLMap } from 'yaml';
import { Manifest } from '../manifest/types';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { describeImage, resolveImageDigest } from './images';
import { RegistryMirror } from './reference';

export interface ImagePin {
  readonly packageName: string;
  readonly imageName: string;
  readonly digest: string;
}

/**
 * Replaces `unpinned: true` with `digest: sha256:…` in place (same position; comments, order and
 * flow style kept), as applySourcePins does for sources.
 */
export function applyImagePins(text: string, pins: readonly ImagePin[], file: string): string {
  const doc = parseDocument(text);
  const packages = doc.get('packages');
  if (!isSeq(packages)) throw new UserError(`${file}: no packages list`);
  for (const pin of pins) {
    const pkg = packages.items.find((p) => isMap(p) && p.get('name') === pin.packageName) as YAMLMap | undefined;
    const images = pkg?.get('images');
    const image = isSeq(images) ? (images.items.find((i) => isMap(i) && i.get('name') === pin.imageName) as YAMLMap | undefined) : undefined;
    if (!image) throw new UserError(`${file}: package "${pin.packageName}" has no image "${pin.imageName}"`);
    const pair = image.items.find((p) => String((p.key as Scalar).value ?? p.key) === 'unpinned');
    if (!pair) throw new UserError(`${file}: package "${pin.packageName}" image "${pin.imageName}" is not marked unpinned`);
    pair.key = doc.createNode('digest');
    pair.value = doc.createNode(pin.digest);
  }
  return doc.toString({ lineWidth: 0 });
}

/**
 * Looks up the digest every unpinned image's tag points at now (skopeo inspect: the manifest
 * list's digest for multi-arch images) and writes it into the manifest file.
 */
export async function pinImages(manifest: Manifest, manifestPath: string, mirror: RegistryMirror | undefined, logger: Logger): Promise<ImagePin[]> {
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
      throw new UserError(`${describeImage(image)}: cannot resolve its digest: ${(e as Error).message.trim().split('\n').pop()}`);
    }
    pins.push({ packageName: pkg.name, imageName: image.name, digest });
    logger.info(`pinned      ${pkg.name} image ${image.name} (${image.reference}): ${digest}`);
  }
  const text = await readFile(manifestPath, 'utf8');
  const updated = applyImagePins(text, pins, manifest.file);
  const tmp = path.join(path.dirname(manifestPath), `.${path.basename(manifestPath)}.pin-tmp`);
  await writeFile(tmp, updated);
  await rename(tmp, manifestPath);
  return pins;
}
