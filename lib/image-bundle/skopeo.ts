import { run } from '../util/exec';
import { UserError } from '../util/errors';

/**
 * Thin wrappers around skopeo, the daemonless image tool. Every image the bundle ships is linux/amd64
 * (the package architecture), whatever machine builds it, hence the explicit overrides: with a
 * multi-arch manifest list skopeo picks that instance and verifies it against the list.
 */

const PLATFORM = ['--override-os', 'linux', '--override-arch', 'amd64'];

export interface SkopeoOptions {
  /** false for plain-HTTP registries (a local mirror); default true. */
  readonly tlsVerify?: boolean;
  /** Names the image in error messages, e.g. 'image "pause" (gcr.io/google_containers/pause-amd64:3.0)'. */
  readonly what?: string;
  /** Kills skopeo when aborted (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** The digest of the manifest (or manifest list) a docker:// reference points at. */
export async function inspectDigest(dockerRef: string, options: SkopeoOptions = {}): Promise<string> {
  const { stdout } = await run(
    'skopeo',
    ['inspect', '--retry-times', '0', `--tls-verify=${options.tlsVerify ?? true}`, ...PLATFORM, '--format', '{{.Digest}}', dockerRef],
    { what: options.what, signal: options.signal },
  );
  const digest = stdout.trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest))
    throw new UserError(`${options.what ?? dockerRef}: skopeo inspect returned no digest: ${JSON.stringify(digest)}`);
  return digest;
}

/**
 * Copies an image into a docker-archive (the `docker save` format) recording `tag` as its
 * RepoTags, so `docker load` restores it under the original name. When `sourceRef` names a
 * digest, skopeo refuses any manifest that does not hash to it, and every blob is checked
 * against the manifest: that is the verification against the pin. skopeo streams blobs to disk.
 */
export async function copyToDockerArchive(sourceRef: string, archivePath: string, tag: string, options: SkopeoOptions = {}): Promise<void> {
  if (archivePath.includes(':')) throw new UserError(`image archive path may not contain ':' (skopeo's separator): ${archivePath}`);
  await run(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--retry-times',
      '0',
      `--src-tls-verify=${options.tlsVerify ?? true}`,
      ...PLATFORM,
      sourceRef,
      `docker-archive:${archivePath}:${tag}`,
    ],
    { what: options.what, signal: options.signal },
  );
}

/** Pushes an OCI layout image to a registry (fixtures, tests, the benchmark). */
export async function pushOciLayout(
  layoutDir: string,
  tag: string,
  destRef: string,
  options: { tlsVerify?: boolean; what?: string } = {},
): Promise<void> {
  await run('skopeo', ['copy', '--quiet', `--dest-tls-verify=${options.tlsVerify ?? true}`, `oci:${layoutDir}:${tag}`, destRef], {
    what: options.what,
  });
}

/**
 * The raw manifest (or manifest list) a docker:// reference names, exactly as the registry serves
 * it: its sha256 is the digest a pin records.
 */
export async function rawManifestText(dockerRef: string, options: SkopeoOptions = {}): Promise<string> {
  const { stdout } = await run(
    'skopeo',
    ['inspect', '--raw', '--retry-times', '0', `--tls-verify=${options.tlsVerify ?? true}`, dockerRef],
    {
      what: options.what,
    },
  );
  return stdout;
}

/** The raw manifest of an image, parsed (docker://… or docker-archive:…). */
export async function inspectRawManifest(
  ref: string,
  options: SkopeoOptions = {},
): Promise<{ config?: { digest: string }; mediaType?: string }> {
  const tls = ref.startsWith('docker://') ? [`--tls-verify=${options.tlsVerify ?? true}`] : [];
  const { stdout } = await run('skopeo', ['inspect', '--raw', ...tls, ref], { what: options.what });
  return JSON.parse(stdout) as { config?: { digest: string }; mediaType?: string };
}
