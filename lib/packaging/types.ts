/**
 * The contract between what decides a package's contents (lib/packaging for binaries, lib/image-bundle
 * for image bundles) and the writers that turn contents into .rpm and .deb files.
 */
export interface PackageFile {
  /** File on local disk whose bytes are installed. */
  readonly sourcePath: string;
  /** Absolute installed path, e.g. /usr/bin/kubelet. */
  readonly path: string;
  /** Numeric mode, e.g. 0o755. */
  readonly mode: number;
}

/**
 * Payload compression. Both must stay readable by CentOS 7's rpm 4.11 and Ubuntu xenial's
 * dpkg 1.18: gzip or xz, never zstd.
 */
export interface PayloadCompression {
  readonly algorithm: 'gzip' | 'xz';
  /** 0-9. */
  readonly level: number;
  /** Compressor threads; 0 means one per core. */
  readonly threads: number;
}

export interface PackageContents {
  readonly name: string;
  readonly description: string;
  readonly license: string;
  readonly vendor: string;
  readonly maintainer: string;
  readonly homepage: string;
  readonly files: readonly PackageFile[];
  readonly compression?: PayloadCompression;
  /** Fixed timestamp for every mtime and the build time (reproducible builds). */
  readonly sourceDateEpoch: number;
}

export interface RpmContents extends PackageContents, RpmExtras {
  readonly version: string;
  readonly release: string;
  readonly arch: string;
  /** RPM Requires, e.g. "iptables >= 1.4.21". */
  readonly requires: readonly string[];
}

export interface DebContents extends PackageContents, DebExtras {
  readonly version: string;
  readonly arch: string;
  /** Debian Depends entries, e.g. "iptables (>= 1.4.21)". */
  readonly depends: readonly string[];
}

/*
 * Optional parts used when an upstream package is repackaged (docker-engine): what the upstream
 * package carried besides plain files is kept, so the repackaged one installs and behaves alike.
 */

/** A symbolic link installed by the package (owner root:root). */
export interface PackageSymlink {
  readonly path: string;
  readonly target: string;
}

/** A directory the package owns (created and removed with it), with its mode. */
export interface PackageDirectory {
  readonly path: string;
  readonly mode: number;
}

export interface RepackagedParts {
  readonly symlinks?: readonly PackageSymlink[];
  readonly directories?: readonly PackageDirectory[];
  /** Installed paths that are configuration files: RPM %config(noreplace), DEB conffiles. */
  readonly configFiles?: readonly string[];
}

export type RpmScriptletName = 'pretrans' | 'pre' | 'post' | 'preun' | 'postun' | 'posttrans';

export interface RpmScriptlet {
  /** Interpreter, e.g. /bin/sh (the default). */
  readonly interpreter?: string;
  readonly body: string;
}

export interface RpmExtras extends RepackagedParts {
  /** Requires(pre)/Requires(post)/… entries: needed while a scriptlet runs. */
  readonly scriptletRequires?: Readonly<Partial<Record<'pre' | 'post' | 'preun' | 'postun', readonly string[]>>>;
  readonly provides?: readonly string[];
  readonly conflicts?: readonly string[];
  readonly obsoletes?: readonly string[];
  readonly scriptlets?: Readonly<Partial<Record<RpmScriptletName, RpmScriptlet>>>;
}

export type DebMaintainerScript = 'preinst' | 'postinst' | 'prerm' | 'postrm';

export interface DebExtras extends RepackagedParts {
  /** Further control fields in order, e.g. ['Recommends', 'git'], ['Conflicts', 'docker.io']. */
  readonly extraFields?: ReadonlyArray<readonly [string, string]>;
  readonly maintainerScripts?: Readonly<Partial<Record<DebMaintainerScript, string>>>;
}
