import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';

/**
 * Proof that a cached docker-archive is the image a pinned digest names, checked on every use.
 *
 * The pin (release.yaml's `digest`) is the sha256 of a registry manifest, or of a manifest list
 * for a multi-arch image; a docker-archive holds neither: it holds the image's config blob (named
 * after its digest) and its layers uncompressed (named after their diff_ids, the sha256 of each
 * uncompressed layer, listed in the config's rootfs.diff_ids). So when the archive is copied, the
 * raw manifest(s) are kept beside it (ARCHIVE.manifests.json); on use, everything is checked from
 * the pin down, with no network:
 *   pin = sha256(pinned manifest) → [linux/amd64 entry of a list = sha256(image manifest)] →
 *   config digest = sha256(config file in the archive) → diff_ids = sha256 of each layer file,
 *   in the order of the archive's manifest.json, whose RepoTags must be exactly the image's tag.
 * A cache entry written or altered by anyone else (another build, a damaged disk) fails one link.
 */
export interface ImageManifests {
  /** The raw bytes (as UTF-8 text) of the manifest or manifest list the pin names. */
  readonly pinned: string;
  /** For a list: the raw linux/amd64 image manifest; absent when `pinned` is the image manifest. */
  readonly image?: string;
}

export function manifestsPath(archivePath: string): string {
  return `${archivePath}.manifests.json`;
}

export async function writeImageManifests(archivePath: string, manifests: ImageManifests): Promise<void> {
  await writeFile(manifestsPath(archivePath), JSON.stringify(manifests));
}

const sha256 = (text: string | Buffer) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

interface RawManifest {
  readonly manifests?: Array<{ digest: string; platform?: { os?: string; architecture?: string } }>;
  readonly config?: { digest: string };
}

/**
 * A reference as docker and skopeo write it into RepoTags: Docker Hub names get their registry
 * (docker.io) and official images their library/ namespace (busybox:1 → docker.io/library/busybox:1).
 */
export function normalizedReference(reference: string): string {
  const [first, ...rest] = reference.split('/');
  const hasRegistry = rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return reference;
  return rest.length === 0 ? `docker.io/library/${reference}` : `docker.io/${reference}`;
}

/** The linux/amd64 entry of a manifest list, or undefined when `raw` is an image manifest. */
export function platformEntry(raw: string): string | undefined {
  const m = JSON.parse(raw) as RawManifest;
  if (!m.manifests) return undefined;
  const entry = m.manifests.find((e) => e.platform?.os === 'linux' && e.platform?.architecture === 'amd64');
  if (!entry) throw new Error('the manifest list has no linux/amd64 image');
  return entry.digest;
}

/**
 * Checks `archivePath` against `pinnedDigest` and `tag` as described above. Returns undefined when
 * every link holds, else the first broken one (a sentence), so the caller can fetch the image
 * again. Reads the archive once, streamed (memory stays flat for GB-sized images).
 */
export async function imageArchiveMismatch(
  archivePath: string,
  pinnedDigest: string,
  tag: string,
  manifestsFile = manifestsPath(archivePath),
): Promise<string | undefined> {
  let manifests: ImageManifests;
  try {
    manifests = JSON.parse(await readFile(manifestsFile, 'utf8')) as ImageManifests;
  } catch {
    return 'no record of the manifest it was copied at';
  }
  if (typeof manifests.pinned !== 'string' || sha256(manifests.pinned) !== pinnedDigest)
    return `its recorded manifest does not hash to the pinned ${pinnedDigest}`;
  let imageManifest = manifests.pinned;
  try {
    const instance = platformEntry(manifests.pinned);
    if (instance !== undefined) {
      if (typeof manifests.image !== 'string' || sha256(manifests.image) !== instance)
        return `its recorded linux/amd64 manifest does not hash to ${instance}, the pinned list's entry`;
      imageManifest = manifests.image;
    }
  } catch (e) {
    return (e as Error).message;
  }
  const configDigest = (JSON.parse(imageManifest) as RawManifest).config?.digest;
  if (!configDigest) return 'its recorded manifest names no config';

  const hashes = new Map<string, string>();
  const small = new Map<string, Buffer>();
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    if (header.type !== 'file') {
      stream.resume();
      stream.on('end', next);
      return;
    }
    const hash = createHash('sha256');
    const keep = header.name === 'manifest.json' || header.name.endsWith('.json');
    const chunks: Buffer[] = [];
    stream.on('data', (d: unknown) => {
      hash.update(d as Buffer);
      if (keep) chunks.push(d as Buffer);
    });
    stream.on('end', () => {
      hashes.set(header.name, `sha256:${hash.digest('hex')}`);
      if (keep) small.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  try {
    await pipeline(createReadStream(archivePath), ex);
  } catch (e) {
    return `it is not a readable tar archive (${(e as Error).message})`;
  }
  const index = small.get('manifest.json');
  if (!index) return 'it has no manifest.json';
  const entries = JSON.parse(index.toString('utf8')) as Array<{ Config: string; RepoTags?: string[]; Layers: string[] }>;
  if (entries.length !== 1) return `its manifest.json lists ${entries.length} images, not 1`;
  const [entry] = entries;
  if (JSON.stringify(entry.RepoTags ?? []) !== JSON.stringify([normalizedReference(tag)]))
    return `it is tagged ${JSON.stringify(entry.RepoTags)}, not ${normalizedReference(tag)}`;
  if (hashes.get(entry.Config) !== configDigest) return `its config ${entry.Config} does not hash to ${configDigest}`;
  const config = JSON.parse(small.get(entry.Config)!.toString('utf8')) as { rootfs?: { diff_ids?: string[] } };
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== entry.Layers.length) return `it holds ${entry.Layers.length} layers, its config lists ${diffIds.length}`;
  for (const [i, layer] of entry.Layers.entries()) {
    if (hashes.get(layer) !== diffIds[i]) return `its layer ${i + 1} (${layer}) does not hash to ${diffIds[i]}`;
  }
  return undefined;
}
