import { InvalidArgumentError } from 'commander';
import { parseMirror } from '../download/mirror';
import { parseRegistryMirror, RegistryMirror } from '../image-bundle/reference';
import { UserError } from '../util/errors';

/**
 * commander argParsers shared by every command: a bad value becomes commander's own message,
 * which names the flag or the environment variable the value came from, e.g.
 * `error: option '--port <n>' argument 'x' is invalid. not a port number (0-65535)` or
 * `error: option '--lock-ttl <seconds>' value 'x' from env 'KET_LOCK_TTL' is invalid. …`.
 */

/** A TCP port, 0-65535 (0: any free port). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new InvalidArgumentError('not a port number (0-65535)');
  return n;
}

/** A positive whole number of seconds, returned in milliseconds. */
export function parseSecondsAsMs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n <= 0) throw new InvalidArgumentError('not a positive number of seconds');
  return n * 1000;
}

/** A Unix time in whole seconds (SOURCE_DATE_EPOCH, reproducible-builds.org). */
export function parseUnixTime(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('not a Unix time in seconds');
  return Number(value);
}

/** An http(s) URL, returned without trailing slashes. */
export function parseHttpUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError('not a URL (expected e.g. https://HOST/PATH)');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError('only http and https URLs are supported');
  return value.replace(/\/+$/, '');
}

/** A comma-separated list with at least one entry. */
export function parseList(value: string): string[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new InvalidArgumentError('needs at least one name');
  return list;
}

/** An upstream mirror URL (lib/download/mirror). */
export function parseMirrorUrl(value: string): string {
  return fromLibrary(() => parseMirror(value));
}

/** A registry mirror, http:// meaning plain HTTP (lib/image-bundle/reference). */
export function parseRegistryMirrorUrl(value: string): RegistryMirror {
  return fromLibrary(() => parseRegistryMirror(value));
}

/** A library validator's UserError as commander's InvalidArgumentError, so commander names the flag. */
function fromLibrary<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UserError) throw new InvalidArgumentError(e.message);
    throw e;
  }
}
