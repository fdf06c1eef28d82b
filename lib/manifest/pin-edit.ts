import { readFile, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, Scalar, YAMLMap } from 'yaml';
import { UserError } from '../util/errors';
import { describeYamlError } from '../util/yaml-error';

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
 * Replaces `unpinned: true` with KEY: VALUE in place in the manifest text. The yaml Document API
 * finds each entry; the edit is a splice of the source text over that pair's range, so every other
 * byte of the file (comments, flow sequences, spacing, quoting) stays exactly as written —
 * re-serializing the document would restyle, e.g. `[a, b]` as `[ a, b ]`.
 */
export function applyPins(text: string, pins: readonly ManifestPin[], file: string): string {
  const doc = parseDocument(text);
  // The file is read again to be written (it may have been edited since it was loaded).
  if (doc.errors.length > 0) throw new UserError(`${file}: YAML syntax error at ${describeYamlError(doc.errors[0])}`);
  const packages = doc.get('packages');
  if (!isSeq(packages)) throw new UserError(`${file}: no packages list`);
  const edits: Array<{ start: number; end: number; text: string }> = [];
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
    const start = isScalar(pair.key) ? pair.key.range?.[0] : undefined;
    const end = isScalar(pair.value) ? pair.value.range?.[1] : undefined;
    if (start === undefined || end === undefined)
      throw new UserError(`${file}: package "${pin.packageName}" ${kind} "${pin.entry}": cannot locate \`unpinned\` in the text`);
    // Same position as the `unpinned` key it replaces.
    edits.push({ start, end, text: `${pin.key}: ${pin.value}` });
  }
  let out = text;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

/** Applies pins to the manifest file, replacing it atomically (a temp file renamed over it). */
export async function writePins(manifestPath: string, pins: readonly ManifestPin[], file: string): Promise<void> {
  const updated = applyPins(await readFile(manifestPath, 'utf8'), pins, file);
  const tmp = path.join(path.dirname(manifestPath), `.${path.basename(manifestPath)}.pin-tmp`);
  await writeFile(tmp, updated);
  await rename(tmp, manifestPath);
}
