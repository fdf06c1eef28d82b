import { readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument, Scalar, YAMLMap } from 'yaml';
import { UserError } from '../util/errors';

/** One `unpinned: true` to replace with a checksum or digest. */
export interface ManifestPin {
  readonly packageName: string;
  /** The package's list holding the entry, and the entry's identifying key and value. */
  readonly list: 'sources' | 'images';
  readonly entry: string;
  /** The key that replaces `unpinned`, e.g. sha256 or digest, and its value. */
  readonly key: 'sha256' | 'digest';
  readonly value: string;
}

const idKeyOf = { sources: 'id', images: 'name' } as const;
const entryKindOf = { sources: 'source', images: 'image' } as const;

/**
 * Replaces `unpinned: true` with KEY: VALUE in place in the manifest text, through the yaml
 * Document API so comments, key order and flow style stay as written.
 */
export function applyPins(text: string, pins: readonly ManifestPin[], file: string): string {
  const doc = parseDocument(text);
  const packages = doc.get('packages');
  if (!isSeq(packages)) throw new UserError(`${file}: no packages list`);
  for (const pin of pins) {
    const kind = entryKindOf[pin.list];
    const pkg = packages.items.find((p) => isMap(p) && p.get('name') === pin.packageName) as YAMLMap | undefined;
    const list = pkg?.get(pin.list);
    const entry = isSeq(list)
      ? (list.items.find((e) => isMap(e) && e.get(idKeyOf[pin.list]) === pin.entry) as YAMLMap | undefined)
      : undefined;
    if (!entry) throw new UserError(`${file}: package "${pin.packageName}" has no ${kind} "${pin.entry}"`);
    const pair = entry.items.find((p) => String((p.key as Scalar).value ?? p.key) === 'unpinned');
    if (!pair) throw new UserError(`${file}: package "${pin.packageName}" ${kind} "${pin.entry}" is not marked unpinned`);
    // Same position as the `unpinned` key it replaces.
    pair.key = doc.createNode(pin.key);
    pair.value = doc.createNode(pin.value);
  }
  return doc.toString({ lineWidth: 0 });
}

/** Applies pins to the manifest file, replacing it atomically (a temp file renamed over it). */
export async function writePins(manifestPath: string, pins: readonly ManifestPin[], file: string): Promise<void> {
  const updated = applyPins(await readFile(manifestPath, 'utf8'), pins, file);
  const tmp = path.join(path.dirname(manifestPath), `.${path.basename(manifestPath)}.pin-tmp`);
  await writeFile(tmp, updated);
  await rename(tmp, manifestPath);
}
