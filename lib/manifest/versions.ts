import { PackageSpec } from './types';

/** What a package's version strings derive from, once versionFrom is followed. */
export interface VersionInput {
  readonly versioning: PackageSpec['versioning'];
  readonly version: string;
  /**
   * The manifest's `iteration` (fpm's word, kept as the manifest key): the RPM release, and with
   * kismatic versioning also the Debian revision.
   */
  readonly iteration?: number;
  readonly rpmRelease?: string;
  readonly debRevision?: string;
}

/**
 * RPM version and release. RPM versions may not contain '-', so the kismatic scheme folds the
 * iteration into the version with '_' (KISMATIC_PACKAGE_VERSION 1.7.4-1 → 1.7.4_1, release 1).
 */
export function rpmVersion(v: VersionInput): { version: string; release: string } {
  switch (v.versioning) {
    case 'kismatic':
      return { version: `${v.version}_${iterationOf(v)}`, release: '1' };
    case 'upstream':
      return { version: v.version, release: String(iterationOf(v)) };
    case 'repackaged':
      return { version: v.version, release: required(v.rpmRelease, 'rpmRelease') };
  }
}

/**
 * DEB version. The upstream scheme carries no Debian revision for the first iteration (etcd
 * 3.1.10, as the old repository had it); a later iteration must differ, so it gets one.
 */
export function debVersion(v: VersionInput): string {
  switch (v.versioning) {
    case 'kismatic':
      return `${v.version}-${iterationOf(v)}`;
    case 'upstream':
      return iterationOf(v) === 1 ? v.version : `${v.version}-${iterationOf(v)}`;
    case 'repackaged':
      return `${v.version}-${required(v.debRevision, 'debRevision')}`;
  }
}

export function rpmFileName(name: string, v: VersionInput, arch: string): string {
  const r = rpmVersion(v);
  return `${name}-${r.version}-${r.release}.${arch}.rpm`;
}

/** Debian pool file names drop the epoch; we never use one. */
export function debFileName(name: string, v: VersionInput, arch: string): string {
  return `${name}_${debVersion(v)}_${arch}.deb`;
}

function iterationOf(v: VersionInput): number {
  return required(v.iteration, 'iteration');
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined) throw new Error(`version derivation needs ${field}`);
  return value;
}
