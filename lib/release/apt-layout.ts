/**
 * The apt repository's coordinates, one definition for publisher, verifier, the AWS stacks' apt
 * line and `local`'s client lines: clients' sources.list lines name them, so changing one cuts
 * every KET cluster off the repository. "kismatic-xenial main" is what the old process published
 * (reference/release-process.md) and released KET versions configure.
 */
export const APT_REPOSITORY = {
  /** The suite (a.k.a. distribution): dists/kismatic-xenial/. */
  distribution: 'kismatic-xenial',
  component: 'main',
  /** Debian architecture of every package (the manifest's metadata.arch.deb). */
  architecture: 'amd64',
} as const;

/** The sources.list line for a repository at `baseUrl`, trusting the key in `keyring`. */
export function aptSourceLine(baseUrl: string, keyring: string): string {
  return `deb [signed-by=${keyring}] ${baseUrl} ${APT_REPOSITORY.distribution} ${APT_REPOSITORY.component}`;
}
