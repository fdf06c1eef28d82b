import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * Writes container images as OCI image layouts (the format `skopeo copy oci:DIR:TAG …` reads),
 * without any container engine: tar layers, a config, a manifest and index.json. Layers are
 * streamed to disk while hashed, so an image of any size costs a few MiB of memory.
 */

export interface LayerFile {
  /** Path inside the image, relative, e.g. usr/bin/tool. */
  readonly path: string;
  readonly size: number;
  /** Produces exactly `size` bytes. */
  readonly content: () => AsyncIterable<Buffer>;
  readonly mode?: number;
}

export interface OciImage {
  /** Each layer is a list of files (a tar without directories entries is valid for docker load). */
  readonly layers: readonly (readonly LayerFile[])[];
  /** Recorded in the config, e.g. for `docker inspect`. */
  readonly labels?: Readonly<Record<string, string>>;
  readonly created?: string;
}

export interface WrittenOciImage {
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** Uncompressed layer sizes, bytes. */
  readonly layerBytes: number;
}

const BLOCK = 512;
const FIXED_MTIME = 1503273600; // 2017-08-21, the day of the 1.7.4-1 release commit

/** A POSIX ustar header for a regular file. Pure, so it is unit-tested against tar(1) expectations. */
export function ustarHeader(name: string, size: number, mode = 0o644, mtime = FIXED_MTIME): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar member name longer than 100 bytes: ${name}`);
  if (size >= 8 ** 11) throw new Error(`tar member too large for ustar: ${name}`);
  const h = Buffer.alloc(BLOCK, 0);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(mtime, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 1, 'ascii'); // regular file
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** The bytes of a tar archive holding `files`, as a stream of chunks. */
export async function* tarStream(files: readonly LayerFile[]): AsyncGenerator<Buffer> {
  for (const f of files) {
    yield ustarHeader(f.path, f.size, f.mode ?? 0o644);
    let written = 0;
    for await (const chunk of f.content()) {
      written += chunk.length;
      yield chunk;
    }
    if (written !== f.size) throw new Error(`layer file ${f.path}: content produced ${written} bytes, declared ${f.size}`);
    const pad = (BLOCK - (f.size % BLOCK)) % BLOCK;
    if (pad) yield Buffer.alloc(pad, 0);
  }
  yield Buffer.alloc(BLOCK * 2, 0);
}

/** Streams chunks into blobs/sha256/HEX of the layout; returns digest and size. */
async function writeBlob(layoutDir: string, chunks: AsyncIterable<Buffer> | Buffer): Promise<{ digest: string; size: number }> {
  const blobs = path.join(layoutDir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const tmp = path.join(blobs, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const hash = createHash('sha256');
  let size = 0;
  async function* tee(): AsyncGenerator<Buffer> {
    const source = Buffer.isBuffer(chunks) ? [chunks] : chunks;
    for await (const c of source) {
      hash.update(c);
      size += c.length;
      yield c;
    }
  }
  try {
    await pipeline(tee(), createWriteStream(tmp));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  const hex = hash.digest('hex');
  await rename(tmp, path.join(blobs, hex));
  return { digest: `sha256:${hex}`, size };
}

/** Writes `image` as the OCI layout `layoutDir` (one image, named `tag` in index.json). */
export async function writeOciImage(layoutDir: string, tag: string, image: OciImage): Promise<WrittenOciImage> {
  const layers: { digest: string; size: number }[] = [];
  let layerBytes = 0;
  for (const files of image.layers) {
    const blob = await writeBlob(layoutDir, tarStream(files));
    layers.push(blob);
    layerBytes += blob.size;
  }
  const config = {
    created: image.created ?? new Date(FIXED_MTIME * 1000).toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: image.labels ?? {}, Cmd: ['/bin/sh'] },
    // Uncompressed layers: their diff IDs are their own digests.
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    history: layers.map(() => ({ created: new Date(FIXED_MTIME * 1000).toISOString(), created_by: 'ket-packages fixture' })),
  };
  const configBlob = await writeBlob(layoutDir, Buffer.from(JSON.stringify(config)));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size })),
  };
  const manifestBlob = await writeBlob(layoutDir, Buffer.from(JSON.stringify(manifest)));
  const entry = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: manifestBlob.digest,
    size: manifestBlob.size,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  };
  await writeFile(path.join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(path.join(layoutDir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
  return { manifestDigest: manifestBlob.digest, configDigest: configBlob.digest, layerBytes };
}
