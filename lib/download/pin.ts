import { readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument, Scalar, YAMLMap } from 'yaml';
import { Manifest } from '../manifest/types';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { Downloader } from './cache';

export interface SourcePin {
  readonly packageName: string;
  readonly sourceId: string;
  readonly sha256: string;
}

/**
 * Replaces `unpinned: true` with `sha256: HEX` in place in the manifest text, through the yaml
 * Document API so comments, key order and flow style stay as written.
 */
export function applySourcePins(text: string, pins: readonly SourcePin[], file: string): string {
  const doc = parseDocument(text);
  const packages = doc.get('packages');
  if (!isSeq(packages)) throw new UserError(`${file}: no packages list`);
  for (const pin of pins) {
    const pkg = packages.items.find((p) => isMap(p) && p.get('name') === pin.packageName) as YAMLMap | undefined;
    const sources = pkg?.get('sources');
    const source = isSeq(sources) ? (sources.items.find((s) => isMap(s) && s.get('id') === pin.sourceId) as YAMLMap | undefined) : undefined;
    if (!source) throw new UserError(`${file}: package "${pin.packageName}" has no source "${pin.sourceId}"`);
    const pair = source.items.find((p) => (p.key as Scalar | string) !== undefined && String((p.key as Scalar).value ?? p.key) === 'unpinned');
    if (!pair) throw new UserError(`${file}: package "${pin.packageName}" source "${pin.sourceId}" is not marked unpinned`);
    // Same position as the `unpinned` key it replaces.
    pair.key = doc.createNode('sha256');
    pair.value = doc.createNode(pin.sha256);
  }
  return doc.toString({ lineWidth: 0 });
}

/**
 * Downloads every unpinned source once (sources with the same URL share the download) and
 * records its sha256 in the manifest file. The files land in the download cache under their
 * new checksum, so the next build does not fetch them again.
 */
export async function pinSources(manifest: Manifest, manifestPath: string, downloader: Downloader, logger: Logger): Promise<SourcePin[]> {
  const unpinned = manifest.packages.flatMap((p) => p.sources.filter((s) => !s.checksum).map((s) => ({ pkg: p, source: s })));
  if (unpinned.length === 0) {
    logger.info(`${manifest.file}: every source is pinned; nothing to do`);
    return [];
  }
  const pins: SourcePin[] = [];
  for (const { pkg, source } of unpinned) {
    const file = await downloader.download({ what: `${pkg.name} source ${source.id}`, url: source.url });
    await downloader.adoptIntoCache(file.path, file.sha256);
    pins.push({ packageName: pkg.name, sourceId: source.id, sha256: file.sha256 });
    logger.info(`pinned      ${pkg.name} source ${source.id}: sha256 ${file.sha256}`);
  }
  const text = await readFile(manifestPath, 'utf8');
  const updated = applySourcePins(text, pins, manifest.file);
  const tmp = path.join(path.dirname(manifestPath), `.${path.basename(manifestPath)}.pin-tmp`);
  await writeFile(tmp, updated);
  await rename(tmp, manifestPath);
  return pins;
}
