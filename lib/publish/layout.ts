import { APT_REPOSITORY } from '../release/apt-layout';

/**
 * Where things live in the two repository buckets, and how long a CDN or client may cache them.
 * One module so the publisher, the verifier and the CDN's cache policy (lib/infra) agree.
 */

/** RPM packages: packages/NAME-VERSION-RELEASE.ARCH.rpm (rpm's own file name: it has no epoch). */
export const RPM_PACKAGE_DIR = 'packages';

/** The apt suite, component and architecture the DEB repository serves (lib/release/apt-layout). */
export const { distribution: DISTRIBUTION, component: COMPONENT, architecture: DEB_ARCH } = APT_REPOSITORY;

/** Architectures each repository serves: its machine architecture and the architecture-free one. */
export const RPM_ARCHES: readonly string[] = ['x86_64', 'noarch'];
export const DEB_ARCHES: readonly string[] = [DEB_ARCH, 'all'];

/** Packages and hashed metadata never change under their name: cache for a year. */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
/** Unsigned plain metadata (indexes apt reads by hash anyway, kismatic.repo): a minute. */
export const CACHE_METADATA = 'public, max-age=60';
/**
 * The signed entry files and the key that checks them. A signature and what it signs are two
 * objects (or one signed object and the key in public.key); cached separately, a CDN can serve a
 * new one with an old other, and clients fail with "Bad GPG signature" / "NO_PUBKEY" until both
 * expire. `no-cache` lets a cache keep them but makes it ask the origin (a conditional GET) on
 * every request, so the only window left is the milliseconds between the two origin writes.
 */
export const CACHE_REVALIDATE = 'no-cache';

/**
 * Every object that must never be served from a cache without asking the origin, per repository,
 * with the Cache-Control publish writes on it. The CDN's cache policy (lib/infra) must not
 * override it (minimum TTL 0, origin Cache-Control honoured) for these paths.
 */
export const SIGNED_ENTRY_FILES = {
  rpm: ['repodata/repomd.xml', 'repodata/repomd.xml.asc', 'public.key', 'release.json', 'release.json.asc'],
  deb: [
    `dists/${DISTRIBUTION}/InRelease`,
    `dists/${DISTRIBUTION}/Release`,
    `dists/${DISTRIBUTION}/Release.gpg`,
    'public.key',
    'release.json',
    'release.json.asc',
  ],
  cacheControl: CACHE_REVALIDATE,
} as const;

/** The Cache-Control publish writes on a repository object. */
export function cacheControlOf(repository: 'rpm' | 'deb', key: string): string {
  if ((SIGNED_ENTRY_FILES[repository] as readonly string[]).includes(key)) return CACHE_REVALIDATE;
  if (key.endsWith('.rpm') || key.endsWith('.deb') || key.includes('/by-hash/') || /^repodata\/[0-9a-f]{64}-/.test(key))
    return CACHE_IMMUTABLE;
  return CACHE_METADATA;
}

/** Object key of an RPM in the repository: rpm's file name convention, which drops the epoch. */
export function rpmPackageKey(p: { name: string; version: string; release: string; arch: string }): string {
  return `${RPM_PACKAGE_DIR}/${p.name}-${p.version}-${p.release}.${p.arch}.rpm`;
}

/** Debian file name of a package: the epoch is dropped (Debian policy 5.6.12 and aptly's pool). */
export function debFileName(p: { name: string; version: string; arch: string }): string {
  return `${p.name}_${p.version.replace(/^\d+:/, '')}_${p.arch}.deb`;
}
