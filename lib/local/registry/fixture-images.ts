import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { inspectDigest, inspectRawManifest, pushOciLayout } from '../../image-bundle/skopeo';
import { sourceRepository, RegistryMirror } from '../../image-bundle/reference';
import { mapConcurrent } from '../../util/concurrency';
import { LayerFile, writeOciImage } from './oci-layout';
import { mixedContent, textChunk } from './fixture-content';
import { LocalRegistry, startRegistry, StartRegistryOptions } from './registry';

/** An image to serve: pushed to REGISTRY/<fully qualified repository>:tag, the mirror layout. */
export interface FixtureImageSpec {
  readonly name: string;
  readonly repository: string;
  readonly tag: string;
  /** Uncompressed size of its content, bytes (default 64 KiB: fixtures stay fast). */
  readonly bytes?: number;
}

export interface PushedFixtureImage extends FixtureImageSpec {
  /** The manifest digest in the registry: what a manifest pins. */
  readonly digest: string;
  /** The config digest: what a docker-archive of it must carry. */
  readonly configDigest: string;
}

export interface FixtureRegistry {
  readonly registry: LocalRegistry;
  /** The value for `build --registry-mirror`. */
  readonly mirrorUrl: string;
  readonly mirror: RegistryMirror;
  readonly images: readonly PushedFixtureImage[];
  stop(): Promise<void>;
}

/** Layers of a fixture image: a "binary" and a text file, about `bytes` together. */
export function fixtureLayers(spec: FixtureImageSpec): LayerFile[][] {
  const bytes = spec.bytes ?? 64 * 1024;
  const binary = Math.max(1, Math.floor(bytes * 0.9));
  const text = Math.max(1, bytes - binary);
  const label = Buffer.from(`${spec.repository}:${spec.tag}\n`);
  return [
    [{ path: `usr/bin/${spec.name}`, size: binary, content: () => mixedContent(binary), mode: 0o755 }],
    [
      {
        path: `etc/${spec.name}/IMAGE`,
        size: label.length,
        content: async function* () {
          yield label;
        },
      },
      {
        path: `etc/${spec.name}/notes.txt`,
        size: text,
        content: async function* () {
          yield textChunk(text);
        },
      },
    ],
  ];
}

/**
 * Writes each image as an OCI layout (no container engine), pushes it with skopeo to `registry`
 * under the mirror layout, and returns the digests the registry serves it at.
 */
export async function pushFixtureImages(
  registry: LocalRegistry,
  specs: readonly FixtureImageSpec[],
  concurrency = 4,
): Promise<PushedFixtureImage[]> {
  const mirror: RegistryMirror = { base: registry.host, tlsVerify: false };
  const work = await mkdtemp(path.join(os.tmpdir(), 'ket-fixture-images-'));
  try {
    return await mapConcurrent(specs, concurrency, async (spec, i) => {
      const layout = path.join(work, String(i));
      await writeOciImage(layout, spec.tag, { layers: fixtureLayers(spec), labels: { 'io.kismatic.fixture': spec.name } });
      const dest = `docker://${sourceRepository(spec.repository, mirror)}:${spec.tag}`;
      await pushOciLayout(layout, spec.tag, dest, { tlsVerify: false, what: `pushing fixture image ${spec.name}` });
      await rm(layout, { recursive: true, force: true });
      const digest = await inspectDigest(dest, { tlsVerify: false, what: `fixture image ${spec.name}` });
      const manifest = await inspectRawManifest(`docker://${sourceRepository(spec.repository, mirror)}@${digest}`, { tlsVerify: false });
      return { ...spec, digest, configDigest: manifest.config!.digest };
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A local docker-registry serving fixture images, so a whole release (kismatic-offline included)
 * builds without internet: build with `--registry-mirror <mirrorUrl>` and a manifest that pins
 * each image's `digest` from `images`.
 */
export async function startFixtureRegistry(
  specs: readonly FixtureImageSpec[],
  options: StartRegistryOptions = {},
): Promise<FixtureRegistry> {
  const registry = await startRegistry(options);
  try {
    const images = await pushFixtureImages(registry, specs);
    return {
      registry,
      mirrorUrl: `http://${registry.host}`,
      mirror: { base: registry.host, tlsVerify: false },
      images,
      stop: () => registry.stop(),
    };
  } catch (e) {
    await registry.stop();
    throw e;
  }
}

/** The images of every package of a manifest, as fixture specs (small images of the same names). */
export function fixtureImageSpecs(
  packages: readonly { readonly images: readonly { name: string; repository: string; tag: string }[] }[],
): FixtureImageSpec[] {
  return packages.flatMap((p) => p.images.map((i) => ({ name: i.name, repository: i.repository, tag: i.tag })));
}

/**
 * Manifest text with each image pinned to its fixture's digest (comments and order kept), so the
 * fixture manifest builds kismatic-offline from the fixture registry with every digest verified.
 */
export function pinImagesInManifestText(text: string, images: readonly PushedFixtureImage[]): string {
  const doc = parseDocument(text);
  const packages = doc.get('packages');
  if (!isSeq(packages)) return text;
  for (const item of packages.items) {
    if (!isMap(item)) continue;
    const list = item.get('images');
    if (!isSeq(list)) continue;
    for (const entry of list.items) {
      if (!isMap(entry)) continue;
      const pushed = images.find((i) => i.name === entry.get('name'));
      if (!pushed) continue;
      entry.delete('unpinned');
      entry.set('digest', pushed.digest);
    }
  }
  return doc.toString();
}
