import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { run, RunOptions } from '../util/exec';
import { decompressMetadataBytes, parseRepomd, REPODATA_TYPES, repodataEntries, RepodataLayout, RepodataType } from './metadata';

/**
 * A yum repository's repodata with new packages added, at a cost that does not grow with the
 * packages already published beyond copying bytes: createrepo_c writes the new packages' entries
 * (run on their RPMs alone), each of primary, filelists and other gets them appended to the
 * published file's entries, which are copied byte for byte, and modifyrepo_c compresses the three
 * files and writes their records (checksums, sizes, unique file names) into createrepo_c's
 * repomd.xml.
 *
 * This is what `createrepo_c --update --skip-stat --recycle-pkglist --pkglist NEW` makes without
 * the old RPMs: the same entries (test/integration/createrepo.test.ts compares the two on the same
 * input; when the new packages' locations sort after the old ones, which createrepo_c sorts by,
 * the files are the same bytes), but without parsing and writing again every published entry,
 * which at 10,000 packages took createrepo_c 0.7 s of CPU (its sorted insert alone is quadratic),
 * against ~0.2 s here (README, "Benchmark").
 */

/** A repodata file: its name (for messages) and decompressed bytes. */
export interface RepodataFile {
  readonly href: string;
  readonly xml: Buffer;
}

/** A published repodata file, checked against repomd.xml, with where its entries are (repodataEntries: found once). */
export interface PublishedRepodataFile extends RepodataFile {
  readonly layout: RepodataLayout;
}

/**
 * A published file as appendPackageEntries takes it, its entries found (repodataEntries).
 * @throws UserError naming `file.href`, as repodataEntries
 */
export function publishedRepodataFile(type: RepodataType, file: RepodataFile): PublishedRepodataFile {
  return { ...file, layout: repodataEntries(file.xml, file.href, type) };
}

/**
 * Options of modifyrepo_c's batch file for each file (GKeyFile syntax; the same choices as
 * CREATEREPO_FORMAT in lib/publish/rpm.ts: gzip, SHA-256, checksum-prefixed names).
 */
const MODIFYREPO_FORMAT = ['compress=true', 'compress-type=gz', 'checksum=sha256', 'unique-md-filenames=true'];

/**
 * One repodata file's XML with the entries of `added` after those of `published`: `added`'s
 * prologue (createrepo_c's declaration and root start tag) with packages="N" counting both, every
 * entry of `published` as its bytes are, then `added`'s entries and end.
 * @param published the decompressed file of the published repodata, checked against the
 *   checksum repomd.xml lists for it, and its layout
 * @param added the decompressed file createrepo_c wrote for the new packages
 * @returns the pieces of the new file, in order (written as they are: nothing is copied into one buffer)
 * @throws UserError naming `added` as repodataEntries (another root, a count that does not match,
 *   a truncated file), or when it holds no entry
 */
export function appendPackageEntries(type: RepodataType, published: PublishedRepodataFile, added: RepodataFile): Buffer[] {
  const old = published.layout;
  const add = repodataEntries(added.xml, added.href, type);
  if (!add.total) throw new UserError(`${added.href}: no package entries to add`);
  const count = /(\spackages=")\d+(")/;
  const prologue = add.prologue.replace(count, `$1${old.total + add.total}$2`);
  return [
    Buffer.from(prologue),
    ...(old.total ? [published.xml.subarray(old.entriesStart, old.entriesEnd), Buffer.from('\n')] : []),
    added.xml.subarray(add.entriesStart),
  ];
}

/**
 * Adds the published packages' entries to the repodata createrepo_c wrote for new packages alone
 * in `repodata` (its repomd.xml and primary, filelists and other files): each file becomes the
 * published entries followed by the new ones (appendPackageEntries, written into `scratch`), and
 * modifyrepo_c replaces the three records of repomd.xml with the new files (it removes
 * createrepo_c's). repomd.xml keeps createrepo_c's revision; it is not signed here.
 * @param published the three published files, decompressed and checked against repomd.xml; each
 *   must count the same packages
 * @param what names the repository in messages
 * @param tool how modifyrepo_c runs: `signal` stops it
 * @throws UserError naming a file (appendPackageEntries, or counts that disagree between the
 *   three), or a `scratch` path the batch file cannot hold; ToolError from modifyrepo_c (stopped
 *   by `signal`)
 */
export async function appendToRepodata(
  repodata: string,
  published: Readonly<Record<RepodataType, PublishedRepodataFile>>,
  scratch: string,
  what: string,
  tool: Pick<RunOptions, 'signal'> = {},
): Promise<void> {
  // GKeyFile reads a backslash as an escape and ends a value at a line break.
  if (/[\\\n\r]/.test(scratch))
    throw new UserError(
      `${what}: the work folder ${JSON.stringify(scratch)} holds a backslash or a line break, which modifyrepo_c's batch file cannot name`,
    );
  const counts = REPODATA_TYPES.map((t) => published[t].layout.total);
  if (new Set(counts).size > 1)
    throw new UserError(
      `${what}: the published ${REPODATA_TYPES.map((t, i) => `${t} (${counts[i]})`).join(', ')} files count different numbers of packages; the repository is damaged`,
    );
  const listed = parseRepomd(await readFile(path.join(repodata, 'repomd.xml'), 'utf8'));
  const batch = await Promise.all(
    REPODATA_TYPES.map(async (type) => {
      const entry = listed.find((e) => e.type === type);
      if (!entry) throw new UserError(`${what}: createrepo_c wrote no ${type} file`);
      const file = path.join(repodata, '..', entry.href);
      const added = { href: entry.href, xml: await decompressMetadataBytes(entry.href, await readFile(file)) };
      // Named as createrepo_c names it: modifyrepo_c keeps the name and prefixes its checksum.
      const merged = path.join(scratch, `${type}.xml`);
      await writeFile(merged, appendPackageEntries(type, published[type], added));
      return [`[${type}]`, `path=${merged}`, `type=${type}`, ...MODIFYREPO_FORMAT, ''].join('\n');
    }),
  );
  const batchFile = path.join(scratch, 'modifyrepo.ini');
  await writeFile(batchFile, batch.join('\n'));
  await run('modifyrepo_c', ['--batchfile', batchFile, repodata], { what: `${what}: modifyrepo_c`, ...tool });
}
