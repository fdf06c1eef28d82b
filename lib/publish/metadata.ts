import { gunzipSync } from 'node:zlib';
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
}

export interface RepomdEntry {
  readonly type: string;
  readonly href: string;
  readonly checksum: string;
  readonly checksumType: string;
}

export function parseRepomd(xml: string): RepomdEntry[] {
  const entries: RepomdEntry[] = [];
  for (const m of xml.matchAll(/<data\s+type="([^"]+)"\s*>([\s\S]*?)<\/data>/g)) {
    const body = m[2];
    const href = /<location\s+href="([^"]+)"/.exec(body)?.[1];
    const ck = /<checksum\s+type="([^"]+)"\s*>([0-9a-f]+)<\/checksum>/.exec(body);
    if (!href || !ck) throw new UserError(`repomd.xml: entry '${m[1]}' has no location or checksum`);
    entries.push({ type: m[1], href, checksum: ck[2], checksumType: ck[1] });
  }
  return entries;
}

function unescapeXml(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

export function rpmEvr(epoch: string | undefined, version: string, release: string): string {
  return `${epoch && epoch !== '0' ? `${epoch}:` : ''}${version}-${release}`;
}

/** Reads the packages of a primary.xml (createrepo_c format). */
export function parsePrimaryXml(xml: string): PublishedPackage[] {
  const packages: PublishedPackage[] = [];
  for (const m of xml.matchAll(/<package\s+type="rpm"\s*>([\s\S]*?)<\/package>/g)) {
    const body = m[1];
    const name = /<name>([^<]*)<\/name>/.exec(body)?.[1];
    const arch = /<arch>([^<]*)<\/arch>/.exec(body)?.[1];
    const ver = /<version\s+epoch="([^"]*)"\s+ver="([^"]*)"\s+rel="([^"]*)"/.exec(body);
    const ck = /<checksum\s+type="sha256"\s+pkgid="YES"\s*>([0-9a-f]{64})<\/checksum>/.exec(body);
    const href = /<location\s+(?:xml:base="[^"]*"\s+)?href="([^"]+)"/.exec(body)?.[1];
    if (!name || !arch || !ver || !ck || !href)
      throw new UserError(`primary.xml: a package entry lacks name, arch, version, sha256 checksum or location: ${body.slice(0, 200)}`);
    packages.push({
      name: unescapeXml(name),
      arch,
      version: rpmEvr(ver[1], unescapeXml(ver[2]), unescapeXml(ver[3])),
      sha256: ck[1],
      location: unescapeXml(href),
    });
  }
  return packages;
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

export function parsePackagesIndex(text: string): PublishedPackage[] {
  return parseDebianStanzas(text).map((f) => {
    if (!f.Package || !f.Version || !f.Architecture || !f.SHA256 || !f.Filename) {
      throw new UserError(`Packages index: an entry lacks Package, Version, Architecture, SHA256 or Filename (${f.Package ?? 'unnamed'})`);
    }
    return { name: f.Package, version: f.Version, arch: f.Architecture, sha256: f.SHA256, location: f.Filename };
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
