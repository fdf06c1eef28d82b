import { loadManifest } from '../manifest/load';
import { Manifest } from '../manifest/types';
import { Logger, stderrLogger } from '../util/log';
import { ExpectedPackage, verifyRepositories } from '../verify';

/**
 * The packages a release must serve, at the exact strings KET installs: RPM by name and
 * version-release (the EVR without epoch, as `dnf` lists it), DEB by name and version.
 */
export function expectedPackages(manifest: Manifest): { rpm: ExpectedPackage[]; deb: ExpectedPackage[] } {
  return {
    rpm: manifest.packages.map((p) => ({ name: p.name, version: p.rpm.evr })),
    deb: manifest.packages.map((p) => ({ name: p.name, version: p.deb.version })),
  };
}

export interface VerifyReleaseOptions {
  /** The release manifest (a path, or one already loaded) whose packages must be served. */
  readonly manifest: string | Manifest;
  /** Base URL of the yum repository (where kismatic.repo and repodata/ are). */
  readonly rpmUrl: string;
  /** Base URL of the apt repository (where dists/ and pool/ are). */
  readonly debUrl: string;
  /** @default stderrLogger */
  readonly logger?: Logger;
}

/**
 * Checks published repositories with real dnf and apt-get in throwaway roots (lib/verify): every
 * package of the manifest listed at its exact version, downloadable and correctly signed.
 * @throws UserError listing every problem found
 */
export async function verifyRelease(opts: VerifyReleaseOptions): Promise<void> {
  const manifest = typeof opts.manifest === 'string' ? loadManifest(opts.manifest) : opts.manifest;
  await verifyRepositories({
    rpmUrl: opts.rpmUrl,
    debUrl: opts.debUrl,
    ...expectedPackages(manifest),
    logger: opts.logger ?? stderrLogger,
  });
}
