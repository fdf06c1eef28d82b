import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KetMapping, Manifest } from '../manifest/types';
import { UserError } from '../util/errors';
import { hashFile } from '../util/hash';
import { lazyValidator } from '../validation/lazy-validator';

/**
 * The release manifest: what one release is, as built. `build` writes it to
 * OUT/release-manifest.json, `publish` records it in each repository's release.json, and
 * `ket-packages consume` works from it (no build tools needed). Version strings are exactly what
 * yum/rpm and apt/dpkg see; KET mappings are already expanded.
 */
export interface ReleaseManifest {
  readonly schemaVersion: 1;
  /** The file name of the release.yaml it was made from (its basename: stable wherever the build ran). */
  readonly manifest: string;
  readonly packages: readonly ReleasePackage[];
}

export interface ReleasePackage {
  readonly name: string;
  /** The one written version, e.g. 1.7.4. */
  readonly version: string;
  /** RPM: version-release (1.7.4_1-1), the file name, and its sha256 (absent when not built). */
  readonly rpm: ReleaseFile;
  /** DEB: the Debian version (1.7.4-1), the file name, and its sha256 (absent when not built). */
  readonly deb: ReleaseFile;
  /** The container images of an image bundle (kismatic-offline). */
  readonly images?: readonly ReleaseImage[];
  readonly ket?: KetMapping;
}

export interface ReleaseFile {
  readonly version: string;
  readonly fileName: string;
  /** Lowercase hex sha256 of the package file. */
  readonly sha256?: string;
}

export interface ReleaseImage {
  readonly name: string;
  readonly repository: string;
  readonly tag: string;
  /** The manifest digest the image was copied at (sha256:…); absent when unknown (unpinned, not built). */
  readonly digest?: string;
  readonly ket?: KetMapping;
}

export const RELEASE_MANIFEST_FILE = 'release-manifest.json';

/** The release as release.yaml states it: versions and KET mappings, no checksums. */
export function releaseFromManifest(manifest: Manifest): ReleaseManifest {
  return {
    schemaVersion: 1,
    manifest: path.basename(manifest.file),
    packages: manifest.packages.map((p) => ({
      name: p.name,
      version: p.version,
      rpm: { version: p.rpm.evr, fileName: p.rpm.fileName },
      deb: { version: p.deb.version, fileName: p.deb.fileName },
      ...(p.images.length > 0
        ? {
            images: p.images.map((i) => ({
              name: i.name,
              repository: i.repository,
              tag: i.tag,
              ...(i.digest ? { digest: i.digest } : {}),
              ...(i.ket ? { ket: i.ket } : {}),
            })),
          }
        : {}),
      ...(p.ket ? { ket: p.ket } : {}),
    })),
  };
}

/**
 * Writes OUT/release-manifest.json for the packages of `manifest` whose RPM and DEB are both in
 * OUT/rpms and OUT/debs (what `publish --from OUT` would publish), with their sha256. Image
 * digests come from `imageDigests` (image name → digest the build copied), else the pinned digest.
 * Written to a temporary name and renamed, so a reader never sees half a file.
 * @returns the path written and the packages left out (not built into OUT).
 */
export async function writeReleaseManifest(
  manifest: Manifest,
  outDir: string,
  imageDigests: ReadonlyMap<string, string> = new Map(),
): Promise<{ file: string; notBuilt: string[] }> {
  const release = releaseFromManifest(manifest);
  const notBuilt: string[] = [];
  const packages: ReleasePackage[] = [];
  for (const p of release.packages) {
    const rpmPath = path.join(outDir, 'rpms', p.rpm.fileName);
    const debPath = path.join(outDir, 'debs', p.deb.fileName);
    const present = await Promise.all(
      [rpmPath, debPath].map((f) =>
        stat(f).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (!present.every(Boolean)) {
      notBuilt.push(p.name);
      continue;
    }
    const [rpmSha, debSha] = await Promise.all([hashFile(rpmPath), hashFile(debPath)]);
    packages.push({
      ...p,
      rpm: { ...p.rpm, sha256: rpmSha },
      deb: { ...p.deb, sha256: debSha },
      ...(p.images
        ? { images: p.images.map((i) => ({ ...i, ...(imageDigests.has(i.name) ? { digest: imageDigests.get(i.name) } : {}) })) }
        : {}),
    });
  }
  const file = path.join(outDir, RELEASE_MANIFEST_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify({ ...release, packages }, null, 2)}\n`);
  await rename(tmp, file);
  return { file, notBuilt };
}

const releaseValidator = lazyValidator('release-manifest');

/** Validates parsed JSON as a release manifest; errors name `what` and the field. */
export function parseReleaseManifest(data: unknown, what: string): ReleaseManifest {
  const validateRelease = releaseValidator();
  if (!validateRelease(data)) {
    const problems = (validateRelease.errors ?? []).map(
      (e) => `field "${e.instancePath.slice(1).replace(/\//g, '.') || '(top level)'}" ${e.message}`,
    );
    throw new UserError(`${what}: not a release manifest:\n${[...new Set(problems)].map((p) => `  - ${p}`).join('\n')}`);
  }
  return data as unknown as ReleaseManifest;
}

/** Reads OUT/release-manifest.json (or any release manifest file), validated. */
export async function readReleaseManifest(file: string): Promise<ReleaseManifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read the release manifest: ${(e as Error).message} (\`ket-packages build\` writes it)`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not JSON: ${(e as Error).message}`);
  }
  return parseReleaseManifest(data, file);
}

/**
 * The release a build folder holds, for publish to record: FROM/release-manifest.json, checked
 * against the package files next to it (each listed file present with its sha256). A build folder
 * without one (made before builds wrote it) gives undefined and a warning: publish goes on, but
 * the repositories' release.json is not updated.
 * @throws UserError when the file is malformed or disagrees with the package files.
 */
export async function releaseOfBuild(fromDir: string, logger: { warn(message: string): void }): Promise<ReleaseManifest | undefined> {
  const file = path.join(fromDir, RELEASE_MANIFEST_FILE);
  if (
    !(await stat(file).then(
      () => true,
      () => false,
    ))
  ) {
    logger.warn(`${file} is missing (build it again with this version): the repositories' release.json is not updated`);
    return undefined;
  }
  const release = await readReleaseManifest(file);
  const problems: string[] = [];
  for (const p of release.packages) {
    for (const [dir, f] of [
      ['rpms', p.rpm],
      ['debs', p.deb],
    ] as const) {
      const actual = await hashFile(path.join(fromDir, dir, f.fileName)).catch(() => undefined);
      if (actual === undefined) problems.push(`${dir}/${f.fileName} is listed but not there`);
      else if (f.sha256 !== undefined && actual !== f.sha256)
        problems.push(`${dir}/${f.fileName} has sha256 ${actual}, the manifest says ${f.sha256}`);
    }
  }
  if (problems.length > 0)
    throw new UserError(`${file} does not describe the packages in ${fromDir}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return release;
}
