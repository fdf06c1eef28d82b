import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parsePrimaryXml, parseRepomd } from '../publish/metadata';
import { UserError } from '../util/errors';

/**
 * Pure readers of what a repository's signed top files reference: every object a client can
 * reach from repomd.xml or InRelease, with the size and SHA-256 the signed metadata gives for it.
 * Those numbers are what the clone copies and checks against; nothing here trusts a listing.
 */
export interface ReferencedObject {
  /** Key in the repository bucket. */
  readonly key: string;
  /** Size in bytes, as the signed metadata states it. */
  readonly size: number;
  /** Lowercase hex SHA-256 of the content, from the signed metadata. */
  readonly sha256: string;
  /** What the object is: decides write order and caching. */
  readonly kind: 'package' | 'metadata' | 'index';
  /**
   * Key in the source bucket to copy from, when not `key`: a DEB plain index is copied from its
   * immutable by-hash twin, so a publish into the source meanwhile cannot slip a newer one in.
   */
  readonly sourceKey?: string;
  /** Content-Type and Cache-Control to set, when the copy cannot keep the source's (plain indexes). */
  readonly headers?: { readonly contentType?: string; readonly cacheControl?: string };
}

/** A package a repository lists, and its file. */
export interface ListedPackage {
  readonly pkg: { readonly name: string; readonly version: string; readonly arch: string };
  readonly object: ReferencedObject;
}

export interface RepomdFile {
  readonly type: string;
  readonly href: string;
  readonly sha256: string;
  readonly size: number;
}

/**
 * The files repomd.xml lists (primary, filelists, other and their sqlite copies). createrepo_c
 * writes sha256 checksums by default; another type cannot be checked against our metadata and is
 * refused.
 * @throws UserError naming the entry when a location, checksum or size is missing.
 */
export function repomdFiles(repomdXml: string): RepomdFile[] {
  // publish's reader (saxes): one XML parser for the project's repodata.
  return parseRepomd(repomdXml).map((d) => {
    if (d.checksumType !== 'sha256' || !/^[0-9a-f]{64}$/.test(d.checksum))
      throw new UserError(`repomd.xml: entry '${d.type}' has checksum type '${d.checksumType}', expected sha256`);
    if (d.size === undefined || !Number.isFinite(d.size)) throw new UserError(`repomd.xml: entry '${d.type}' has no <size>`);
    return { type: d.type, href: d.href, sha256: d.checksum, size: d.size };
  });
}

/**
 * Packages listed in a primary.xml (`file` names it and its compression: .xml or .gz): location,
 * size and sha256 (pkgid), read with publish's streaming reader.
 * @throws UserError naming the package when a field is missing.
 */
export async function primaryPackages(primaryXml: string | Buffer, file = 'primary.xml'): Promise<ListedPackage[]> {
  return (await parsePrimaryXml(primaryXml, file)).map((p) => {
    if (!/^[0-9a-f]{64}$/.test(p.sha256) || p.size === undefined || !Number.isFinite(p.size))
      throw new UserError(`${file}: package '${p.name}' lacks a sha256 checksum or a package size`);
    // Full EVR as verify lists it: the epoch only when not 0 (RPM's own convention, rpmEvr).
    return {
      pkg: { name: p.name, version: p.version, arch: p.arch },
      object: { key: p.location, size: p.size, sha256: p.sha256, kind: 'package' as const },
    };
  });
}

export interface ReleaseFile {
  /** Path relative to dists/DISTRIBUTION/, e.g. main/binary-amd64/Packages.gz. */
  readonly name: string;
  readonly size: number;
  /** Hex digest per hash section present (MD5Sum, SHA1, SHA256, SHA512). */
  readonly hashes: Readonly<Record<string, string>>;
}

export const RELEASE_HASHES = ['MD5Sum', 'SHA1', 'SHA256', 'SHA512'] as const;

/** The fields and the file list of a Debian Release file. */
export function parseRelease(release: string): { fields: Record<string, string>; files: ReleaseFile[] } {
  const fields: Record<string, string> = {};
  const files = new Map<string, { size: number; hashes: Record<string, string> }>();
  let section = '';
  for (const line of release.split('\n')) {
    if (/^\s/.test(line)) {
      if (!(RELEASE_HASHES as readonly string[]).includes(section)) continue;
      const [digest, size, name] = line.trim().split(/\s+/);
      if (!digest || !name) continue;
      const f = files.get(name) ?? { size: Number(size), hashes: {} };
      f.hashes[section] = digest;
      files.set(name, f);
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    section = line.slice(0, i);
    fields[section] = line.slice(i + 1).trim();
  }
  return { fields, files: [...files].map(([name, f]) => ({ name, ...f })) };
}

/**
 * Every object a Release file references under dists/DISTRIBUTION/: each index at its plain path
 * (copied from its SHA256 by-hash twin) and, with Acquire-By-Hash, at by-hash/HASHTYPE/DIGEST for
 * each hash type. apt only fetches files it needs, and aptly lists files it did not write (e.g.
 * the uncompressed Packages next to Packages.gz it wrote), so `present` filters to what exists.
 * @throws UserError when the Release has no SHA256 section for a file.
 */
export function releaseObjects(distribution: string, release: string, present: (key: string) => boolean): ReferencedObject[] {
  const { fields, files } = parseRelease(release);
  const byHash = /^yes$/i.test(fields['Acquire-By-Hash'] ?? '');
  const out: ReferencedObject[] = [];
  for (const f of files) {
    const sha256 = f.hashes.SHA256;
    if (!sha256) throw new UserError(`dists/${distribution}/Release: ${f.name} has no SHA256 entry`);
    const plain = `dists/${distribution}/${f.name}`;
    const dir = path.posix.dirname(plain);
    const twin = `${dir}/by-hash/SHA256/${sha256}`;
    if (byHash) {
      for (const h of RELEASE_HASHES) {
        const digest = f.hashes[h];
        const key = `${dir}/by-hash/${h}/${digest}`;
        if (digest && present(key)) out.push({ key, size: f.size, sha256, kind: 'metadata', sourceKey: twin });
      }
    }
    if (present(plain) || (byHash && present(twin)))
      out.push({ key: plain, size: f.size, sha256, kind: 'index', sourceKey: byHash && present(twin) ? twin : undefined });
  }
  return out;
}

/**
 * Pool files listed in a Packages index: Filename, Size, SHA256.
 * @throws UserError naming the package when a field is missing.
 */
export function packagesIndexObjects(packagesText: string): ListedPackage[] {
  const out: ListedPackage[] = [];
  for (const block of packagesText.split(/\n\s*\n/)) {
    if (!block.trim()) continue;
    const f: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0 && !/^\s/.test(line)) f[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    if (!f.Filename || !f.Size || !/^[0-9a-f]{64}$/.test(f.SHA256 ?? ''))
      throw new UserError(`Packages index: entry '${f.Package ?? '(unnamed)'}' lacks Filename, Size or SHA256`);
    out.push({
      pkg: { name: f.Package ?? '', version: f.Version ?? '', arch: f.Architecture ?? '' },
      object: { key: f.Filename, size: Number(f.Size), sha256: f.SHA256, kind: 'package' },
    });
  }
  return out;
}

/** Decompresses a metadata file by its name (.gz or plain). */
export function metadataText(name: string, body: Buffer): string {
  if (name.endsWith('.gz')) return gunzipSync(body).toString('utf8');
  if (/\.(bz2|xz|zst|zck)$/.test(name)) throw new UserError(`${name}: compression not supported here (expected .gz or plain)`);
  return body.toString('utf8');
}
