import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchToFile } from '../download/fetch';
import { detachSign, gpg, SigningKey } from '../signing/keyring';
import { UserError } from '../util/errors';
import { run, ToolError } from '../util/exec';
import { Logger } from '../util/log';
import { parseReleaseManifest, ReleaseManifest, ReleasePackage } from './index';

/**
 * A repository's release.json: every release published into it, oldest first, each with the
 * time it was published. It sits at the repository root next to public.key, with a detached
 * signature release.json.asc by the repository key, so a KET maintainer without AWS access can
 * read what the repository serves over plain HTTPS and trust it as far as they trust the key.
 */
export interface ReleaseIndex {
  readonly schemaVersion: 1;
  readonly releases: ReadonlyArray<ReleaseManifest & { readonly publishedAt: string }>;
}

export const RELEASE_INDEX = 'release.json';
export const RELEASE_INDEX_SIGNATURE = 'release.json.asc';

/** Object access to one repository bucket, as the publisher has it (keys relative to the root). */
export interface RepositoryObjects {
  get(key: string): Promise<Buffer | undefined>;
  put(key: string, body: Buffer, contentType: string): Promise<void>;
}

/** Returns an ASCII-armored detached signature of `data`. */
export type DetachedSigner = (data: Buffer) => Promise<string>;

/** A DetachedSigner over an open signing key (gpg --detach-sign through a scratch folder). */
export function gpgDetachedSigner(key: SigningKey): DetachedSigner {
  return async (data) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ket-release-sign-'));
    try {
      await writeFile(path.join(dir, 'data'), data);
      await detachSign(key, path.join(dir, 'data'), path.join(dir, 'data.asc'));
      return await readFile(path.join(dir, 'data.asc'), 'utf8');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
}

function parseIndex(text: string, what: string): ReleaseIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${what}: not JSON: ${(e as Error).message}`);
  }
  const d = data as { schemaVersion?: unknown; releases?: unknown };
  if (!d || typeof d !== 'object' || d.schemaVersion !== 1 || !Array.isArray(d.releases))
    throw new UserError(`${what}: expected {"schemaVersion": 1, "releases": [...]}`);
  const releases = d.releases.map((r, i) => {
    const release = parseReleaseManifest(r, `${what} releases[${i}]`) as ReleaseManifest & { publishedAt?: string };
    if (typeof release.publishedAt !== 'string') throw new UserError(`${what}: releases[${i}] has no publishedAt`);
    return release as ReleaseManifest & { publishedAt: string };
  });
  return { schemaVersion: 1, releases };
}

function sameRelease(a: ReleaseManifest, b: ReleaseManifest): boolean {
  const strip = (r: ReleaseManifest) => JSON.stringify({ ...r, publishedAt: undefined });
  return strip(a) === strip(b);
}

/**
 * Appends `release` to the repository's release.json (unless an entry already records it, so
 * publishing a build again writes nothing, and re-publishing an older build does not make it the
 * newest release `consume` takes) and writes release.json.asc. Call it after the packages are in
 * the repository and while holding the repository's lock; release.json is written first, then
 * its signature.
 * @returns 'recorded'; 'unchanged' when an entry already is this release; 'resigned' when one is
 *   and `resign` asked for a new signature.
 * @throws UserError when the existing release.json is not one (it is never overwritten blindly).
 */
export async function recordRelease(
  objects: RepositoryObjects,
  sign: DetachedSigner,
  release: ReleaseManifest,
  opts: {
    readonly what: string;
    readonly logger: Logger;
    readonly now?: Date;
    /** Sign release.json again even when it already records this release (a key rotation). */
    readonly resign?: boolean;
  },
): Promise<'recorded' | 'resigned' | 'unchanged'> {
  const existing = await objects.get(RELEASE_INDEX);
  const index: ReleaseIndex = existing
    ? parseIndex(existing.toString('utf8'), `${opts.what}/${RELEASE_INDEX}`)
    : { schemaVersion: 1, releases: [] };
  const recorded = index.releases.findIndex((r) => sameRelease(r, release));
  if (existing && recorded >= 0 && (await objects.get(RELEASE_INDEX_SIGNATURE))) {
    if (!opts.resign) {
      const at =
        recorded === index.releases.length - 1 ? 'its newest entry' : `entry ${recorded + 1} of ${index.releases.length}, not the newest`;
      opts.logger.info(`${opts.what}: ${RELEASE_INDEX} already records this release (${at}); unchanged`);
      return 'unchanged';
    }
    await objects.put(RELEASE_INDEX_SIGNATURE, Buffer.from(await sign(existing)), 'application/pgp-signature');
    opts.logger.info(`${opts.what}: ${RELEASE_INDEX} signed again with the new key`);
    return 'resigned';
  }
  const entry = { ...release, publishedAt: (opts.now ?? new Date()).toISOString() };
  const body = Buffer.from(`${JSON.stringify({ schemaVersion: 1, releases: [...index.releases, entry] }, null, 2)}\n`);
  const signature = await sign(body);
  await objects.put(RELEASE_INDEX, body, 'application/json');
  await objects.put(RELEASE_INDEX_SIGNATURE, Buffer.from(signature), 'application/pgp-signature');
  opts.logger.info(`${opts.what}: recorded the release in ${RELEASE_INDEX} (${index.releases.length + 1} release(s))`);
  return 'recorded';
}

/**
 * Fetches BASE/release.json, BASE/release.json.asc and BASE/public.key over HTTP(S) and checks
 * the signature with gpg in a throwaway keyring holding only that public key.
 * @throws UserError naming the URL: unreachable, missing file, bad signature, or not a release index.
 */
export async function fetchVerifiedReleaseIndex(baseUrl: string, what: string): Promise<ReleaseIndex & { readonly signer: string }> {
  const base = baseUrl.replace(/\/+$/, '');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ket-release-verify-'));
  const home = path.join(dir, 'gnupg');
  try {
    await run('mkdir', ['-m', '0700', home]);
    await chmod(dir, 0o700);
    for (const name of ['public.key', RELEASE_INDEX, RELEASE_INDEX_SIGNATURE]) {
      await fetchToFile(`${base}/${name}`, path.join(dir, name), {
        what: `${what}: ${name}`,
        maxRedirects: 5,
        idleTimeoutMs: 30_000,
      }).catch((e: Error) => {
        if (!/HTTP 404/.test(e.message)) throw e;
        // No public.key: nothing was ever published there. No release.json next to a key: an older publish.
        throw new UserError(
          name === 'public.key'
            ? `${e.message}: nothing has been published to ${base} yet (or it is not a repository of ours)`
            : `${e.message}: ${base} has a public.key but no ${name}: published by a publish older than ${RELEASE_INDEX} (publish the release again to record it)`,
        );
      });
    }
    await gpg(home, ['--import', path.join(dir, 'public.key')], `${what}: importing ${base}/public.key`).catch((e: Error) => {
      const detail = e instanceof ToolError ? (e.stderr || e.message).trim() : e.message;
      throw new UserError(`${what}: ${base}/public.key is not a usable public key: ${detail}`);
    });
    let status = '';
    try {
      status = (
        await gpg(
          home,
          ['--status-fd', '1', '--verify', path.join(dir, RELEASE_INDEX_SIGNATURE), path.join(dir, RELEASE_INDEX)],
          `${what}: verifying ${RELEASE_INDEX}`,
        )
      ).stdout;
    } catch (e) {
      const text = e instanceof ToolError ? e.stderr || e.message : (e as Error).message;
      const reason = /BAD signature/i.test(text)
        ? 'BAD signature: release.json was changed after it was signed'
        : /No public key|no public key|NO_PUBKEY/i.test(text)
          ? "signed by a key other than the repository's public.key"
          : text;
      throw new UserError(`${what}: ${base}/${RELEASE_INDEX} does not verify against ${base}/public.key: ${reason}`);
    }
    const valid = /^\[GNUPG:\] VALIDSIG ([0-9A-F]+)/m.exec(status);
    if (!valid) throw new UserError(`${what}: ${base}/${RELEASE_INDEX}: gpg reported no valid signature`);
    const index = parseIndex(await readFile(path.join(dir, RELEASE_INDEX), 'utf8'), `${base}/${RELEASE_INDEX}`);
    return { ...index, signer: valid[1] };
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The packages of `release` the repository does not serve in `format`: no release in its index
 * has that package at that version and file name (and, where both record one, that sha256).
 */
export function unservedPackages(release: ReleaseManifest, index: ReleaseIndex, format: 'rpm' | 'deb'): ReleasePackage[] {
  const served = index.releases.flatMap((r) => r.packages.map((p) => ({ name: p.name, file: p[format] })));
  return release.packages.filter((p) => {
    const want = p[format];
    return !served.some(
      (s) =>
        s.name === p.name &&
        s.file.version === want.version &&
        s.file.fileName === want.fileName &&
        (want.sha256 === undefined || s.file.sha256 === undefined || s.file.sha256 === want.sha256),
    );
  });
}

/** The newest release of an index, or undefined when it records none. */
export function newestRelease(index: ReleaseIndex): (ReleaseManifest & { readonly publishedAt: string }) | undefined {
  return index.releases[index.releases.length - 1];
}
