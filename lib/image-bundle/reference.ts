import { UserError } from '../util/errors';

/**
 * Image reference arithmetic (pure). Docker's rules: the first path component is a registry host
 * only if it contains '.' or ':' or is 'localhost'; otherwise the image lives on Docker Hub
 * (docker.io), and a one-component name lives under library/ (busybox → docker.io/library/busybox).
 */

export const DOCKER_HUB = 'docker.io';

export function isRegistryHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Fully qualified repository: busybox → docker.io/library/busybox, calico/node → docker.io/calico/node. */
export function normalizeRepository(repository: string): string {
  const parts = repository.split('/');
  if (parts.length > 1 && isRegistryHost(parts[0])) return repository;
  return parts.length === 1 ? `${DOCKER_HUB}/library/${repository}` : `${DOCKER_HUB}/${repository}`;
}

/** A registry mirror: every image is fetched from HOST[/PREFIX]/ + the fully qualified repository. */
export interface RegistryMirror {
  /** host[:port][/path], without scheme or trailing slash. */
  readonly base: string;
  /** false for http:// mirrors: skopeo then speaks plain HTTP and skips certificate checks. */
  readonly tlsVerify: boolean;
}

/**
 * Parses a registry mirror. `http://` means plain HTTP (a local registry such as the fixtures' on
 * 127.0.0.1); `https://` or no scheme means TLS with certificate verification. Plain HTTP is
 * acceptable because every image is still verified against its pinned digest.
 */
export function parseRegistryMirror(value: string): RegistryMirror {
  const m = /^(?:(https?):\/\/)?([^/\s?#]+)((?:\/[^/\s?#]+)*)\/?$/.exec(value.trim());
  if (!m || !/^[A-Za-z0-9.-]+(:\d+)?$/.test(m[2])) {
    throw new UserError(`registry mirror must look like http://HOST:PORT or https://HOST[/PATH], got ${JSON.stringify(value)}`);
  }
  return { base: `${m[2]}${m[3]}`.toLowerCase(), tlsVerify: m[1] !== 'http' };
}

/**
 * Where an image is fetched from. With a mirror, the original registry host stays as the first
 * path component (gcr.io/google_containers/pause-amd64 → MIRROR/gcr.io/google_containers/pause-amd64,
 * busybox → MIRROR/docker.io/library/busybox), so images of different registries that share a
 * path (registry:2.6.2 on Docker Hub, …/registry elsewhere) can never collide in one mirror.
 */
export function sourceRepository(repository: string, mirror?: RegistryMirror): string {
  const full = normalizeRepository(repository);
  return mirror ? `${mirror.base}/${full}` : full;
}

/** skopeo's docker:// reference by digest (what is copied) or by tag (what is diagnosed/resolved). */
export function dockerTransportRef(repository: string, pin: { digest: string } | { tag: string }): string {
  return 'digest' in pin ? `docker://${repository}@${pin.digest}` : `docker://${repository}:${pin.tag}`;
}

/**
 * The name:tag recorded in the docker-archive, exactly as the old `docker save REF` wrote it, so
 * `docker load` restores the tag KET runs (busybox:latest stays busybox:latest).
 */
export function archiveTag(repository: string, tag: string): string {
  return `${repository}:${tag}`;
}

/** The cache file of an image: keyed by the content digest, then by the tag written inside it. */
export function cacheFileName(digest: string, repository: string, tag: string): string {
  const hex = digest.replace(/^sha256:/, '');
  const safe = `${repository}_${tag}`.replace(/[^A-Za-z0-9_.-]+/g, '_');
  return `${hex}/${safe}.tar`;
}
