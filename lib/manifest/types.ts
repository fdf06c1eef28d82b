/** The release manifest as written in release.yaml (after schema validation). */
export interface ManifestFile {
  readonly metadata: PackageMetadata;
  readonly packages: readonly PackageSpec[];
}

export interface PackageMetadata {
  readonly maintainer: string;
  readonly vendor: string;
  readonly license: string;
  readonly homepage: string;
  readonly arch: { readonly rpm: string; readonly deb: string };
}

/**
 * How a package's RPM and DEB version strings derive from its one written version.
 * - kismatic: KISMATIC_PACKAGE_VERSION style: 1.7.4 + iteration 1 → RPM 1.7.4_1-1, DEB 1.7.4-1
 * - upstream: upstream version with our release: 3.1.10 + iteration 1 → RPM 3.1.10-1, DEB 3.1.10
 * - repackaged: an upstream package kept as built: RPM VERSION-rpmRelease, DEB VERSION-debRevision
 */
export type Versioning = 'kismatic' | 'upstream' | 'repackaged';
export type PackageFormat = 'rpm' | 'deb';

export interface PackageSpec {
  readonly name: string;
  readonly description: string;
  readonly versioning: Versioning;
  /** Upstream version, e.g. 1.7.4. Exactly one of version and versionFrom. */
  readonly version?: string;
  /** Follow another package's version and iteration (kubectl and kismatic-offline follow kubelet). */
  readonly versionFrom?: string;
  readonly iteration?: number;
  readonly rpmRelease?: string;
  readonly debRevision?: string;
  readonly sources?: readonly SourceSpec[];
  readonly files?: readonly FileSpec[];
  readonly depends?: { readonly rpm?: readonly string[]; readonly deb?: readonly string[] };
  readonly images?: readonly ImageSpec[];
  /** Where KET states this package's versions; templates may use {version}, {rpm}, {deb}. */
  readonly ket?: KetMapping;
}

/**
 * Where a KET checkout states a version of this release, for `ket-packages consume`: each map
 * is NAME → template, expanded when the manifest is loaded. The mapping lives here, in data, so
 * a renamed KET variable or a new image is one edit of release.yaml and no code.
 */
export interface KetMapping {
  /** Top-level variables of KET's ansible/group_vars/all.yaml, e.g. kismatic_yum_version: "{rpm}". */
  readonly variables?: Readonly<Record<string, string>>;
  /** Variables assigned in KET's Makefile, e.g. KUBECTL_VERSION: "v{version}". */
  readonly make?: Readonly<Record<string, string>>;
  /** Rows of the "Components" table of KET's README.md: component → version cell, e.g. Kubernetes: "v{version}". */
  readonly readme?: Readonly<Record<string, string>>;
  /** "Kismatic package of COMPONENT VERSION" cells of KET's docs/provision.md: component → version. */
  readonly provision?: Readonly<Record<string, string>>;
}

export interface SourceSpec {
  readonly id: string;
  /** URL template: {version}, {iteration}, {rpmRelease}, {debRevision} are substituted. */
  readonly url: string;
  readonly sha256?: string;
  readonly sha512?: string;
  /** No checksum is published upstream: `build` refuses it unless --allow-unpinned. */
  readonly unpinned?: boolean;
  /** Restrict the source to one package format (an upstream .rpm or .deb to repackage). */
  readonly format?: PackageFormat;
}

export interface FileSpec {
  /** Source id. */
  readonly from: string;
  /** Path inside the source archive; absent when the source is the file itself. */
  readonly member?: string;
  /** Installed absolute path. */
  readonly path: string;
  /** Octal mode, e.g. "0755". */
  readonly mode: string;
}

export interface ImageSpec {
  /** Archive name: installed as /opt/images/NAME.tar; also the name KET's variables refer to. */
  readonly name: string;
  /** Repository without tag, e.g. gcr.io/google_containers/kube-proxy-amd64. */
  readonly repository: string;
  /** Tag template, e.g. v{version}. */
  readonly tag: string;
  readonly digest?: string;
  readonly unpinned?: boolean;
  /** Where KET states this image's tag; templates may use {tag} and {version} (the package's). */
  readonly ket?: KetMapping;
}

/** A package with templates expanded and version strings derived. */
export interface ResolvedPackage extends PackageSpec {
  readonly version: string;
  /**
   * The RPM's EVR parts and file name. No epoch is ever used, so `evr` is VERSION-RELEASE, as
   * `rpm -q` and `dnf list` print it (1.7.4_1-1); the NEVRA adds the name and metadata.arch.rpm.
   */
  readonly rpm: { readonly version: string; readonly release: string; readonly evr: string; readonly fileName: string };
  /** The Debian version (upstream version and, when there is one, the Debian revision), and the pool file name. */
  readonly deb: { readonly version: string; readonly fileName: string };
  readonly sources: readonly ResolvedSource[];
  readonly files: readonly FileSpec[];
  readonly images: readonly ResolvedImage[];
}

export interface ResolvedSource extends SourceSpec {
  readonly url: string;
  /** The pinned checksum, as algorithm and lowercase hex; undefined when unpinned. */
  readonly checksum?: { readonly algorithm: 'sha256' | 'sha512'; readonly hex: string };
}

export interface ResolvedImage extends ImageSpec {
  readonly tag: string;
  /** repository:tag, the reference kept inside the docker-archive. */
  readonly reference: string;
}

export interface Manifest {
  readonly file: string;
  readonly metadata: PackageMetadata;
  readonly packages: readonly ResolvedPackage[];
}
