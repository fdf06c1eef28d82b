import { Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { SaxesParser, SaxesTagPlain } from 'saxes';
import { parseControlParagraphs } from '../util/debian-control';
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
 * Reads the packages of a primary.xml (createrepo_c format) as a stream, so memory stays flat
 * whatever the repository's size: only the fields publish compares are kept per package.
 * Compression follows the file name: .gz, or none (.xml); others are refused by name. The input
 * is destroyed when the read fails, so a producer feeding it (a download) is never held up.
 * @returns the packages in document order
 * @throws UserError naming `file`: an entry lacking name, arch, version, sha256 or location; XML
 *   that is not well-formed, ends early or has a root other than <metadata> (strictParser); a
 *   <metadata packages="N"> count (createrepo_c always writes it) missing or different from the
 *   entries read; a gzip or read error
 */
export function readPrimaryXml(input: Readable, file: string): Promise<PublishedPackage[]> {
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
  return new Promise((resolve, reject) => {
    let source: Readable = input;
    // 256 KiB pieces instead of zlib's 16 KiB: fewer, larger writes into saxes (a fifth less time
    // on a primary.xml of 10,000 packages).
    if (file.endsWith('.gz')) source = input.pipe(createGunzip({ chunkSize: 256 * 1024 }));
    else if (!file.endsWith('.xml')) {
      input.destroy();
      return reject(new UserError(`${file}: unsupported metadata compression (publish writes and reads .gz, which CentOS 7 reads)`));
    }
    let failed = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      // Both: the input too, so a producer piping into it (a download) is let go, not stalled.
      source.destroy();
      input.destroy();
      reject(e instanceof UserError ? e : new UserError(`${file}: ${e.message}`));
    };
    input.on('error', fail);
    source.setEncoding('utf8');
    source.on('data', (chunk: string) => {
      try {
        parser.write(chunk);
      } catch (e) {
        fail(e as Error);
      }
    });
    source.on('error', fail);
    source.on('end', () => {
      try {
        end();
        counted();
        resolve(packages);
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

export function decompressMetadata(file: string, body: Buffer): string {
  if (file.endsWith('.gz')) return gunzipSync(body).toString('utf8');
  if (/\.(xml|txt)$/.test(file) || !/\.[a-z0-9]+$/.test(file)) return body.toString('utf8');
  throw new UserError(`${file}: unsupported metadata compression (expected .gz)`);
}

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
  return parseControlParagraphs(text, 'Packages index').map((paragraph) => {
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
