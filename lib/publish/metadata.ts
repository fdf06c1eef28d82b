import { createHash } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { SaxesParser, SaxesTagPlain } from 'saxes';
import { controlField, parseControlParagraphs } from '../util/debian-control';
import { UserError } from '../util/errors';

/**
 * Pure readers of published repository metadata: what a repository already holds, so a publish
 * can tell new packages from re-published ones and refuse a changed package under an old version.
 */

/** One package as identified in a repository: the identity that must never change bytes. */
export interface PublishedPackage {
  readonly name: string;
  /** RPM: [epoch:]version-release; DEB: the Version field. */
  readonly version: string;
  readonly arch: string;
  readonly sha256: string;
  /** Path of the package file relative to the repository root. */
  readonly location: string;
  /** Bytes of the package file (primary.xml's <size package=…>), when the metadata gives it. */
  readonly size?: number;
}

export interface RepomdEntry {
  readonly type: string;
  readonly href: string;
  readonly checksum: string;
  readonly checksumType: string;
  /** Bytes of the file (<size>), when given. */
  readonly size?: number;
}

/**
 * A saxes parser for one document, strict about what a truncated or damaged file shows. saxes is
 * a conforming XML parser: input that ends inside an element (truncation), a mismatched or stray
 * end tag, a repeated attribute, a second root element, text outside the root and characters XML
 * does not allow are its errors; here each becomes a UserError naming `what` and the line and
 * column. What saxes cannot know is added: the root element must be `root`. `opentag` receives
 * every start tag from the root on (the root is checked once; no work per element is added).
 * A handler's own UserError passes through unchanged.
 * @returns the parser (set its other handlers; write chunks in order) and `end`, called after the
 *   last chunk
 */
function strictParser(
  what: string,
  root: string,
  opentag: (tag: SaxesTagPlain) => void,
): { parser: SaxesParser<{ xmlns: false }>; end(): void } {
  const parser = new SaxesParser<{ xmlns: false }>({ xmlns: false });
  let ended = false;
  parser.on('error', (e) => {
    // saxes: "<line>:<column>: <reason>."
    const [, line, column, reason] = /^(\d+):(\d+): (.*?)\.?$/s.exec(e.message) ?? ['', parser.line, parser.column, e.message];
    throw new UserError(
      ended
        ? `${what} is not well-formed XML: ${reason} where the input ends (line ${line}); the file is truncated or damaged`
        : `${what} is not well-formed XML: ${reason} (line ${line}, column ${column})`,
    );
  });
  parser.on('opentag', (tag) => {
    if (tag.name !== root) throw new UserError(`${what}: the root element is <${tag.name}>, expected <${root}>`);
    parser.on('opentag', opentag);
    opentag(tag);
  });
  return {
    parser,
    end() {
      ended = true;
      parser.close();
    },
  };
}

/**
 * Reads repomd.xml (the rpm-md format createrepo_c writes: <repomd><data type=…><checksum
 * type=…>…</checksum><location href=…/></data></repomd>) with an XML parser: attributes in any
 * order, namespaces and entities as XML has them.
 * @throws UserError naming an entry without location or checksum, or saying why the XML is not
 *   well-formed (strictParser: truncated, damaged, or a root other than <repomd>)
 */
export function parseRepomd(xml: string): RepomdEntry[] {
  const entries: RepomdEntry[] = [];
  let current: { type: string; href?: string; checksum?: string; checksumType?: string; size?: string } | undefined;
  let inChecksum = false;
  let inSize = false;
  const { parser, end } = strictParser('repomd.xml', 'repomd', (tag) => {
    const attr = tag.attributes;
    if (tag.name === 'data') current = { type: attr.type ?? '' };
    else if (current && tag.name === 'location') current.href = attr.href;
    else if (current && tag.name === 'checksum') {
      current.checksumType = attr.type;
      current.checksum = '';
      inChecksum = true;
    } else if (current && tag.name === 'size') {
      current.size = '';
      inSize = true;
    }
  });
  parser.on('text', (t) => {
    if (inChecksum && current) current.checksum += t;
    if (inSize && current) current.size += t;
  });
  parser.on('closetag', (tag) => {
    if (tag.name === 'checksum') inChecksum = false;
    else if (tag.name === 'size') inSize = false;
    else if (tag.name === 'data' && current) {
      if (!current.href || !current.checksum || !current.checksumType)
        throw new UserError(`repomd.xml: entry '${current.type}' has no location or checksum`);
      const size = current.size?.trim() ? { size: Number(current.size.trim()) } : {};
      entries.push({
        type: current.type,
        href: current.href,
        checksum: current.checksum.trim(),
        checksumType: current.checksumType,
        ...size,
      });
      current = undefined;
    }
  });
  parser.write(xml);
  end();
  return entries;
}

export function rpmEvr(epoch: string | undefined, version: string, release: string): string {
  return `${epoch && epoch !== '0' ? `${epoch}:` : ''}${version}-${release}`;
}

/**
 * readPrimaryXml's parser, fed text in pieces: `write` each in order, then `finish` (checks the
 * end and the count).
 * @throws UserError as readPrimaryXml, from `write` or `finish`
 */
function primaryReader(file: string): { write(text: string): void; finish(): PublishedPackage[] } {
  const packages: PublishedPackage[] = [];
  type Partial = { name?: string; arch?: string; version?: string; sha256?: string; location?: string; size?: number };
  let pkg: Partial | undefined;
  let field: 'name' | 'arch' | 'sha256' | undefined;
  let text = '';
  let announced: string | undefined;
  const { parser, end } = strictParser(file, 'metadata', (tag) => {
    const attr = tag.attributes;
    if (tag.name === 'package') pkg = {};
    else if (!pkg) {
      if (tag.name === 'metadata') announced = attr.packages;
    } else if (tag.name === 'name' || tag.name === 'arch') {
      field = tag.name;
      text = '';
    } else if (tag.name === 'checksum' && attr.type === 'sha256') {
      field = 'sha256';
      text = '';
    } else if (tag.name === 'version') pkg.version = rpmEvr(attr.epoch, attr.ver ?? '', attr.rel ?? '');
    else if (tag.name === 'location') pkg.location = attr.href;
    else if (tag.name === 'size' && attr.package !== undefined) pkg.size = Number(attr.package);
  });
  parser.on('text', (t) => {
    if (field) text += t;
  });
  parser.on('closetag', (tag) => {
    if (!pkg) return;
    if (field && (tag.name === field || (field === 'sha256' && tag.name === 'checksum'))) {
      pkg[field] = text.trim();
      field = undefined;
    } else if (tag.name === 'package') {
      const p = pkg;
      pkg = undefined;
      if (!p.name || !p.arch || !p.version || !p.sha256 || !p.location)
        throw new UserError(`${file}: a package entry lacks name, arch, version, sha256 checksum or location (${p.name ?? 'unnamed'})`);
      const size = p.size !== undefined ? { size: p.size } : {};
      packages.push({ name: p.name, arch: p.arch, version: p.version, sha256: p.sha256, location: p.location, ...size });
    }
  });
  // After a well-formed document: the count createrepo_c writes tells a complete file from one
  // that lost entries yet still closes (damage saxes cannot see).
  const counted = () => {
    if (announced === undefined)
      throw new UserError(`${file}: <metadata> has no packages="N" count (createrepo_c writes one); the file is damaged`);
    if (!/^\d+$/.test(announced) || Number(announced) !== packages.length)
      throw new UserError(
        `${file}: <metadata> announces packages="${announced}" but ${packages.length} package entries were read; the file is damaged`,
      );
  };
  return {
    write: (text) => parser.write(text),
    finish: () => {
      end();
      counted();
      return packages;
    },
  };
}

/**
 * Reads the packages of a primary.xml (createrepo_c format) as a stream, so memory stays flat
 * whatever the repository's size: only the fields publish compares are kept per package.
 * Compression follows the file name: .gz, or none (.xml); others are refused by name. The input
 * is read as it arrives, whatever the parse's pace (what the parse has not reached is held here:
 * at most the whole input), so a producer feeding it (a download) is never held back by the
 * parse; it is destroyed when the read fails, so such a producer is let go.
 * @returns the packages in document order
 * @throws UserError naming `file`: an entry lacking name, arch, version, sha256 or location; XML
 *   that is not well-formed, ends early or has a root other than <metadata> (strictParser); a
 *   <metadata packages="N"> count (createrepo_c always writes it) missing or different from the
 *   entries read; a gzip or read error
 */
export function readPrimaryXml(input: Readable, file: string): Promise<PublishedPackage[]> {
  const reader = primaryReader(file);
  return new Promise((resolve, reject) => {
    if (!file.endsWith('.gz') && !file.endsWith('.xml')) {
      input.destroy();
      return reject(new UserError(`${file}: unsupported metadata compression (publish writes and reads .gz, which CentOS 7 reads)`));
    }
    // 256 KiB pieces instead of zlib's 16 KiB: fewer, larger writes into saxes (a fifth less time
    // on a primary.xml of 10,000 packages).
    const source: Transform = file.endsWith('.gz') ? createGunzip({ chunkSize: 256 * 1024 }) : new PassThrough();
    let failed = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      // Both: the input too, so a producer piping into it (a download) is let go, not stalled.
      source.destroy();
      input.destroy();
      reject(e instanceof UserError ? e : new UserError(`${file}: ${e.message}`));
    };
    // The input is taken as it arrives, whatever the parse's pace: what the parse has not reached
    // waits in `source` (at most the whole input), so a producer feeding `input` (a download
    // through a tee) is never held back by the parse (write()'s answer is ignored on purpose).
    input.on('data', (chunk: Buffer) => {
      if (!failed) source.write(chunk);
    });
    input.on('end', () => source.end());
    input.on('error', fail);
    // Destroyed without an error before its end: the document is incomplete.
    input.on('close', () => {
      if (!input.readableEnded) fail(new UserError(`${file}: the input stopped before its end`));
    });
    source.setEncoding('utf8');
    source.on('data', (chunk: string) => {
      try {
        reader.write(chunk);
      } catch (e) {
        fail(e as Error);
      }
    });
    source.on('error', fail);
    source.on('end', () => {
      try {
        resolve(reader.finish());
      } catch (e) {
        fail(e as Error);
      }
    });
  });
}

/** primary.xml from a string or buffer (tests, small repositories). */
export function parsePrimaryXml(xml: string | Buffer, file = 'primary.xml'): Promise<PublishedPackage[]> {
  return readPrimaryXml(Readable.from([Buffer.from(xml)]), file);
}

/**
 * The entries of a primary.xml (createrepo_c format, decompressed) for some package names only:
 * all a publish compares its build with (a re-published or conflicting NEVRA has the same name,
 * and so has an epoch-only change that collides on the file name, which begins with the name).
 * The document is not parsed as a whole (at 10,000 packages that was ~0.4 s of the publish's one
 * JavaScript thread, ~80 ms at 1,000): each <package> element is found by its start and end tags
 * (XML escapes '<' in text and attribute values, so no tag appears inside them), its <name> read,
 * and only the elements of `names` are parsed, by readPrimaryXml's strict XML reader.
 *
 * The whole file's integrity is the caller's to check first, against the checksum repomd.xml lists
 * for it (verifyListedChecksum; repomd.xml itself is checked against the repository's key by the
 * key guard): here the root must be <metadata>, its packages="N" count must match the <package>
 * elements found, every element must end, and only whitespace may follow the last one.
 * @returns the named entries in document order, and where the file's parts are (repodataEntries)
 * @throws UserError naming `file`, as above, or as readPrimaryXml for a named entry
 */
export function primaryEntriesNamed(
  xml: Buffer,
  file: string,
  names: ReadonlySet<string>,
): { packages: PublishedPackage[]; layout: RepodataLayout } {
  const named: string[] = [];
  const layout = repodataEntries(xml, file, 'primary', (start, end) => {
    const nameAt = xml.indexOf('<name>', start);
    if (nameAt < 0 || nameAt >= end) return;
    const name = xml.toString('utf8', nameAt + '<name>'.length, xml.indexOf('</name>', nameAt)).trim();
    // A name written with an entity is parsed to compare it (createrepo_c writes none: RPM names
    // are letters, digits and -._+).
    if (names.has(name) || name.includes('&')) named.push(xml.toString('utf8', start, end));
  });
  const reader = primaryReader(file);
  reader.write(`<metadata packages="${named.length}">${named.join('')}</metadata>`);
  const parsed = reader.finish();
  return { packages: parsed.filter((p) => names.has(p.name)), layout };
}

/** The repodata files a publish reads and writes, by their repomd.xml type. */
export const REPODATA_TYPES = ['primary', 'filelists', 'other'] as const;
export type RepodataType = (typeof REPODATA_TYPES)[number];

/** The root element of each (createrepo_c's xml_dump: <metadata>, <filelists>, <otherdata>). */
const REPODATA_ROOTS: Record<RepodataType, string> = { primary: 'metadata', filelists: 'filelists', other: 'otherdata' };

/** Where a repodata file's parts are, in bytes (repodataEntries). */
export interface RepodataLayout {
  /** The XML declaration and the root's start tag, with what follows it up to the first entry. */
  readonly prologue: string;
  /** Offset of the first <package> element (the end of the prologue). */
  readonly entriesStart: number;
  /** Offset just past the last </package> (entriesStart when there is none). */
  readonly entriesEnd: number;
  /** The <package> elements found. */
  readonly total: number;
}

/**
 * Finds the <package> elements of a decompressed primary, filelists or other file (createrepo_c
 * format) by their start and end tags, without parsing the document: XML escapes '<' in text and
 * attribute values, so no tag appears inside them. `visit` gets each element's byte range
 * [start, end). The file's integrity is the caller's to check first, against the checksum
 * repomd.xml lists for it (verifyListedChecksum; repomd.xml itself is checked against the
 * repository's key by the key guard): here the root must be the type's, its packages="N" count
 * must match the elements found, every element must end, and only whitespace may follow the last
 * one before the root's end tag (an empty root may close itself).
 * @throws UserError naming `file`, as above
 */
export function repodataEntries(
  xml: Buffer,
  file: string,
  type: RepodataType,
  visit?: (start: number, end: number) => void,
): RepodataLayout {
  const rootName = REPODATA_ROOTS[type];
  // Searched as bytes (the tags are ASCII): only the prologue becomes a string, not the whole
  // file (15 MB at 10,000 packages).
  const first = packageStart(xml, 0);
  const head = xml.toString('utf8', 0, first < 0 ? xml.length : first);
  const root = new RegExp(`<${rootName}\\b[^>]*>`).exec(head);
  if (!root || /<(?![?!])/.test(head.slice(0, root.index)))
    throw new UserError(`${file}: no <${rootName}> root element where the file begins; the file is damaged`);
  const announced = /\spackages="([^"]*)"/.exec(root[0])?.[1];
  if (announced === undefined)
    throw new UserError(`${file}: <${rootName}> has no packages="N" count (createrepo_c writes one); the file is damaged`);
  // An empty repository's root may close itself.
  const last = root[0].endsWith('/>') ? '' : `</${rootName}>`;
  let total = 0;
  let at = Buffer.byteLength(head.slice(0, root.index + root[0].length));
  const entriesStart = last && first >= 0 ? first : at;
  for (let start = last ? packageStart(xml, at) : -1; start >= 0; start = packageStart(xml, at)) {
    const end = xml.indexOf('</package>', start);
    if (end < 0) throw new UserError(`${file}: a <package> element has no end tag; the file is truncated or damaged`);
    total++;
    at = end + '</package>'.length;
    visit?.(start, at);
  }
  if (xml.toString('utf8', at).trim() !== last)
    throw new UserError(`${file}: what follows the last <package> is not the end of <${rootName}>; the file is truncated or damaged`);
  if (!/^\d+$/.test(announced) || Number(announced) !== total)
    throw new UserError(
      `${file}: <${rootName}> announces packages="${announced}" but ${total} package entries were read; the file is damaged`,
    );
  return { prologue: xml.toString('utf8', 0, entriesStart), entriesStart, entriesEnd: total ? at : entriesStart, total };
}

/** Byte offset of the next `<package` start tag from `from` (not `<packager>`), or -1. */
function packageStart(xml: Buffer, from: number): number {
  for (let i = xml.indexOf('<package', from); i >= 0; i = xml.indexOf('<package', i + 1)) {
    const next = xml[i + '<package'.length];
    // '>' or XML whitespace: the element itself.
    if (next === 62 || next === 32 || next === 9 || next === 10 || next === 13) return i;
  }
  return -1;
}

/**
 * Checks a downloaded metadata file's bytes against the checksum repomd.xml lists for it
 * (<checksum type="sha256|sha512|sha1|sha">: createrepo_c writes sha256 here, older createrepo
 * "sha" for SHA-1).
 * @throws UserError naming `entry.href`: an unknown checksum type, or other bytes than listed
 */
export function verifyListedChecksum(entry: RepomdEntry, bytes: Buffer): void {
  const algorithm = ({ sha256: 'sha256', sha512: 'sha512', sha1: 'sha1', sha: 'sha1' } as const)[entry.checksumType];
  if (!algorithm) throw new UserError(`${entry.href}: repomd.xml lists a ${entry.checksumType} checksum, which publish does not know`);
  const actual = createHash(algorithm).update(bytes).digest('hex');
  if (actual !== entry.checksum.toLowerCase())
    throw new UserError(
      `${entry.href} does not match the ${entry.checksumType} checksum repomd.xml lists for it (${entry.checksum}, found ${actual}); the repository is damaged`,
    );
}

/**
 * A metadata file's text by its name: .gz decompressed (in zlib's thread pool, not on this
 * thread: 1.7 MB of Packages.gz at 10,000 packages), .xml, .txt or no extension as is.
 * @throws UserError naming `file` for another compression, or for gzip's error
 */
export async function decompressMetadata(file: string, body: Buffer): Promise<string> {
  return (await decompressMetadataBytes(file, body)).toString('utf8');
}

/** decompressMetadata's bytes, before decoding. */
export async function decompressMetadataBytes(file: string, body: Buffer): Promise<Buffer> {
  // Output pieces of about the whole output's size, not zlib's 16 KiB: each piece is a round trip
  // through this thread, so a busy thread held a 5 MB index's decompression back (~320 pieces).
  const chunkSize = Math.min(Math.max(body.length * 8, 64 * 1024), 16 * 1024 * 1024);
  if (file.endsWith('.gz'))
    return gunzipAsync(body, { chunkSize }).catch((e: Error) => Promise.reject(new UserError(`${file}: ${e.message}`)));
  if (/\.(xml|txt)$/.test(file) || !/\.[a-z0-9]+$/.test(file)) return body;
  throw new UserError(`${file}: unsupported metadata compression (expected .gz)`);
}

const gunzipAsync = promisify(gunzip);

/** The fields of a Packages index paragraph a publish reads (parsePackagesIndex). */
const PACKAGES_INDEX_FIELDS: ReadonlySet<string> = new Set(['Package', 'Version', 'Architecture', 'SHA256', 'Filename']);

/** Parses a Debian Packages index into stanzas of fields (lib/util/debian-control). */
export function parseDebianStanzas(text: string): Array<Record<string, string>> {
  return parseControlParagraphs(text, 'Packages index').map((p) => Object.fromEntries(p));
}

/**
 * The packages of a Debian Packages index: identity (Package, Version, Architecture), SHA256 and
 * Filename of each paragraph. Field names as aptly and dpkg write them (case as written); a field
 * given twice counts with its last value, as in parseDebianStanzas. Only these five fields are
 * picked from each paragraph, without a record of all its fields. Measured standalone at 10,000
 * packages (this and the parser of lib/util/debian-control together, on a busy machine): 88–168 ms
 * on a process's first call and 16–28 ms warm, against 120–228 ms and 73–89 ms before.
 * @throws UserError for a malformed line (parseControlParagraphs) or an entry lacking one of the five
 */
export function parsePackagesIndex(text: string): PublishedPackage[] {
  return parseControlParagraphs(text, 'Packages index', PACKAGES_INDEX_FIELDS).map((paragraph) => {
    let name: string | undefined, version: string | undefined, arch: string | undefined;
    let sha256: string | undefined, location: string | undefined;
    for (const [field, value] of paragraph) {
      if (field === 'Package') name = value;
      else if (field === 'Version') version = value;
      else if (field === 'Architecture') arch = value;
      else if (field === 'SHA256') sha256 = value;
      else if (field === 'Filename') location = value;
    }
    if (!name || !version || !arch || !sha256 || !location) {
      throw new UserError(`Packages index: an entry lacks Package, Version, Architecture, SHA256 or Filename (${name ?? 'unnamed'})`);
    }
    return { name, version, arch, sha256, location };
  });
}

/**
 * The entries of a Packages index for some package names only (what a publish compares its build
 * with, as for primary.xml: primaryEntriesNamed), without parsing the whole index first (at 10,000
 * packages, 5 MB of text and ~100 ms of a process's first parse). Each paragraph holding a
 * `Package: NAME` line, as aptly writes it, is parsed by parsePackagesIndex. The caller checks the
 * result against the whole index parsed later (namedEntriesAgree) before any write.
 * @throws UserError as parsePackagesIndex, for a named paragraph
 */
export function packagesIndexEntriesNamed(text: string, names: ReadonlySet<string>): PublishedPackage[] {
  const paragraphs: string[] = [];
  for (const name of names) {
    const line = `Package: ${name}\n`;
    for (let at = text.indexOf(line); at >= 0; at = text.indexOf(line, at + line.length)) {
      if (at > 0 && text[at - 1] !== '\n') continue; // inside another line
      const before = text.lastIndexOf('\n\n', at);
      const after = text.indexOf('\n\n', at);
      paragraphs.push(text.slice(before < 0 ? 0 : before + 2, after < 0 ? text.length : after));
    }
  }
  return parsePackagesIndex(paragraphs.join('\n\n')).filter((p) => names.has(p.name));
}

/** The named entries found early are exactly the whole index's entries of those names. */
export function namedEntriesAgree(
  named: readonly PublishedPackage[],
  all: readonly PublishedPackage[],
  names: ReadonlySet<string>,
): boolean {
  const key = (p: PublishedPackage) => `${packageIdentity(p)} ${p.sha256} ${p.location}`;
  const expected = all
    .filter((p) => names.has(p.name))
    .map(key)
    .sort();
  const found = named.map(key).sort();
  return expected.length === found.length && expected.every((k, i) => k === found[i]);
}

export function packageIdentity(p: Pick<PublishedPackage, 'name' | 'version' | 'arch'>): string {
  return `${p.name} ${p.version} ${p.arch}`;
}

export interface Classified<T extends PublishedPackage> {
  /** Not in the repository yet. */
  readonly fresh: T[];
  /** Already published with the same bytes. */
  readonly present: T[];
  /** Same name, version and arch already published with different bytes. */
  readonly conflicts: Array<{ local: T; published: PublishedPackage }>;
}

/** Sorts the packages of a build against what a repository already publishes. */
export function classifyPackages<T extends PublishedPackage>(local: readonly T[], published: readonly PublishedPackage[]): Classified<T> {
  const byId = new Map(published.map((p) => [packageIdentity(p), p]));
  const result: Classified<T> = { fresh: [], present: [], conflicts: [] };
  for (const p of local) {
    const old = byId.get(packageIdentity(p));
    if (!old) result.fresh.push(p);
    else if (old.sha256 === p.sha256) result.present.push(p);
    else result.conflicts.push({ local: p, published: old });
  }
  return result;
}

export function conflictMessage(repo: string, conflicts: Classified<PublishedPackage>['conflicts']): string {
  const lines = conflicts.map(
    ({ local, published }) =>
      `  ${local.name} ${local.version} (${local.arch}): published sha256 ${published.sha256}, this build ${local.sha256}`,
  );
  return (
    `${repo}: ${conflicts.length} package(s) already published under the same name and version with different bytes; nothing was written. ` +
    `Bump the version (or the iteration in release.yaml) instead of replacing a published package:\n${lines.join('\n')}`
  );
}

/** One index file a Release lists: its SHA256 and size in bytes. */
export interface ReleaseListing {
  readonly sha256: string;
  readonly size: number;
}

/**
 * The text a clear-signed file (InRelease) signs, read strictly as RFC 4880 §7 writes it: the
 * `-----BEGIN PGP SIGNED MESSAGE-----` line first, `Hash:` armor headers, a blank line, the
 * dash-escaped text, then one signature block and nothing but whitespace after it. Anything else
 * (text before or after the block, a second signed message) is refused rather than guessed at:
 * apt refuses it too (apt-pkg's SplitClearSignedFile), and the key guard's gpg verifies only the
 * signed part, whose text it writes out; the caller compares that with this.
 * @returns the signed text, each line ending in LF without trailing spaces or tabs (as gpg writes it
 *   out)
 * @throws UserError naming `file` when it is not one clear-signed message
 */
export function clearSignedText(body: Buffer, file: string): string {
  const lines = body.toString('utf8').split(/\r?\n/);
  const fail = (why: string) => new UserError(`${file} is not a clear-signed message (${why}); the repository is damaged`);
  if (lines[0] !== '-----BEGIN PGP SIGNED MESSAGE-----') throw fail('it does not begin with -----BEGIN PGP SIGNED MESSAGE-----');
  let i = 1;
  for (; i < lines.length && lines[i] !== ''; i++)
    if (!/^Hash: [A-Za-z0-9, ]+$/.test(lines[i])) throw fail(`unexpected armor header: ${lines[i].slice(0, 80)}`);
  const text: string[] = [];
  for (i++; i < lines.length && lines[i] !== '-----BEGIN PGP SIGNATURE-----'; i++) {
    if (lines[i].startsWith('-----BEGIN PGP ')) throw fail('a second message inside the signed text');
    // Trailing spaces and tabs are not signed (RFC 4880 §7.1), and gpg writes the text without them.
    text.push((lines[i].startsWith('- ') ? lines[i].slice(2) : lines[i]).replace(/[ \t]+$/, ''));
  }
  const end = lines.indexOf('-----END PGP SIGNATURE-----', i);
  if (i >= lines.length || end < 0) throw fail('no complete signature block');
  if (lines.slice(end + 1).some((l) => l.trim() !== '')) throw fail('text after the signature');
  return text.map((l) => `${l}\n`).join('');
}

/**
 * The SHA256 listing of a Debian Release file (the signed text of InRelease): its `SHA256:`
 * field, one `<hash> <size> <path>` line per index, paths relative to the distribution's folder
 * (dists/SUITE/), as aptly and dpkg-dev write it (Debian wiki RepositoryFormat).
 * @returns path -> SHA256 (lower case) and size in bytes
 * @throws UserError naming `file`: not one paragraph with a SHA256 field, or a malformed line of it
 */
export function parseReleaseSha256(text: string, file: string): Map<string, ReleaseListing> {
  const paragraphs = parseControlParagraphs(text, file);
  const field = paragraphs.length === 1 ? controlField(paragraphs[0], 'SHA256') : undefined;
  if (field === undefined) throw new UserError(`${file}: not a Release file with a SHA256 field; the repository is damaged`);
  const listed = new Map<string, ReleaseListing>();
  for (const line of field.split('\n')) {
    if (!line.trim()) continue;
    const m = /^\s*([0-9a-fA-F]{64})\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (!m) throw new UserError(`${file}: malformed SHA256 line: ${line.trim().slice(0, 120)}; the repository is damaged`);
    listed.set(m[3], { sha256: m[1].toLowerCase(), size: Number(m[2]) });
  }
  return listed;
}

/** The hash fields of a Release file and node's names of their hashes (Debian wiki RepositoryFormat). */
const RELEASE_HASH_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['MD5Sum', 'md5'],
  ['SHA1', 'sha1'],
  ['SHA256', 'sha256'],
  ['SHA512', 'sha512'],
];

/**
 * A Release text with the listing of some index files replaced by their new bytes' hashes and
 * sizes: in each hash field the text has (MD5Sum, SHA1, SHA256, SHA512), the line of each of
 * `files` becomes ` <hash> <size right-aligned in 8 columns> <path>`, as aptly writes it; every
 * other line (fields, other files' lines) is kept byte for byte.
 * @param text the Release text (one paragraph, lines ending in LF)
 * @param files path relative to dists/SUITE/ (as the Release lists it) -> the file's new bytes
 * @param file names the Release in errors
 * @throws UserError naming `file` and the path when a hash field of the text does not list one of
 *   `files`, or when the text has none of the four hash fields
 */
export function relistRelease(text: string, files: ReadonlyMap<string, Buffer>, file: string): string {
  const hashes = new Map(RELEASE_HASH_FIELDS);
  const listedIn = new Map<string, Set<string>>(); // hash field -> paths of `files` it listed
  let field: string | undefined;
  const lines = text.split('\n').map((line) => {
    if (line !== '' && line[0] !== ' ' && line[0] !== '\t') {
      field = line.slice(0, line.indexOf(':'));
      if (hashes.has(field)) listedIn.set(field, new Set());
      return line;
    }
    const algorithm = field === undefined ? undefined : hashes.get(field);
    const m = algorithm === undefined ? null : /^\s+\S+\s+\d+\s+(\S+)\s*$/.exec(line);
    const bytes = m ? files.get(m[1]) : undefined;
    if (!m || !bytes) return line;
    listedIn.get(field!)!.add(m[1]);
    return ` ${createHash(algorithm!).update(bytes).digest('hex')} ${String(bytes.length).padStart(8)} ${m[1]}`;
  });
  if (listedIn.size === 0) throw new UserError(`${file}: no MD5Sum, SHA1, SHA256 or SHA512 field; not a Release file`);
  for (const [name, listed] of listedIn)
    for (const p of files.keys()) if (!listed.has(p)) throw new UserError(`${file}: its ${name} field does not list ${p}`);
  return lines.join('\n');
}

/**
 * A Packages index with paragraphs appended: `index` byte for byte, one blank line (each
 * paragraph of a Packages index ends with one, as aptly writes it; added where `index` lacks it),
 * then `more`. An empty (or blank) `index` gives `more`.
 */
export function appendParagraphs(index: string, more: string): string {
  if (index.trim() === '') return more;
  return (index.endsWith('\n\n') ? index : index.endsWith('\n') ? `${index}\n` : `${index}\n\n`) + more;
}
