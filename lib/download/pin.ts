import { applyPins, ManifestPin, writePins } from '../manifest/pin-edit';
import { Manifest } from '../manifest/types';
import { Logger } from '../util/log';
import { Downloader } from './cache';

export interface SourcePin {
  readonly packageName: string;
  readonly sourceId: string;
  readonly sha256: string;
}

/** Replaces `unpinned: true` with `sha256: HEX` for each pinned source (see applyPins). */
export function applySourcePins(text: string, pins: readonly SourcePin[], file: string): string {
  return applyPins(text, pins.map(asManifestPin), file);
}

function asManifestPin(pin: SourcePin): ManifestPin {
  return { packageName: pin.packageName, list: 'sources', entry: pin.sourceId, key: 'sha256', value: pin.sha256 };
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
  await writePins(manifestPath, pins.map(asManifestPin), manifest.file);
  return pins;
}
