import { UserError } from '../util/errors';

/**
 * Rewrites an upstream URL onto a mirror, keeping the upstream host as the first path segment
 * so two hosts with the same path cannot collide:
 *   https://dl.k8s.io/v1.7.4/x.tar.gz with mirror http://m:8080/base
 *   → http://m:8080/base/dl.k8s.io/v1.7.4/x.tar.gz
 * A mirror is then a plain copy of `HOST/PATH` files (e.g. `wget -x` output) on any web server.
 */
export function mirrorUrl(upstream: string, mirror: string | undefined): string {
  if (!mirror) return upstream;
  const u = new URL(upstream);
  const base = parseMirror(mirror).replace(/\/+$/, '');
  return `${base}/${u.host}${u.pathname}${u.search}`;
}

/** Validates a mirror URL (http or https, no query or fragment). @throws UserError naming the value */
export function parseMirror(mirror: string): string {
  let u: URL;
  try {
    u = new URL(mirror);
  } catch {
    throw new UserError(`mirror ${JSON.stringify(mirror)} is not a URL (expected e.g. http://127.0.0.1:8080/)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`mirror ${mirror}: only http and https mirrors are supported`);
  if (u.search || u.hash) throw new UserError(`mirror ${mirror}: must not have a query or fragment`);
  return mirror;
}
