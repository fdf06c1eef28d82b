import { HashAlgorithm } from '../util/hash';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { INTERRUPTED_EXIT_CODE, UserError } from '../util/errors';

/** The checksums release.yaml pins (lib/util/hash). */
export type ChecksumAlgorithm = HashAlgorithm;

export interface FetchResult {
  readonly bytes: number;
  /** Hex digests of what was received, sha256 always, plus the requested algorithm. */
  readonly digests: Readonly<Record<ChecksumAlgorithm, string>>;
  /** The URL that finally answered (after redirects). */
  readonly finalUrl: string;
}

export interface FetchOptions {
  /** Names the download in messages, e.g. 'kubelet source node-binaries'. */
  readonly what: string;
  /** Called as bytes arrive: received so far and the total when known. */
  readonly onProgress?: (received: number, total: number | undefined) => void;
  readonly maxRedirects?: number;
  /** Abort when no byte arrives for this long. */
  readonly idleTimeoutMs?: number;
  /**
   * Aborting (Ctrl-C) closes the connection at once and rejects with a DownloadError whose
   * exitCode is INTERRUPTED_EXIT_CODE, once `dest` is closed (the caller removes it).
   */
  readonly signal?: AbortSignal;
}

/** A download failed; the message names the URL and what it was for. */
export class DownloadError extends UserError {}

/**
 * Streams a URL into `dest`, hashing on the way, following redirects. Fails on a non-2xx
 * status, a body shorter or longer than Content-Length, a dropped connection or a refused one,
 * or when `opts.signal` aborts. Checksum comparison is the caller's: it knows what was expected.
 * @throws DownloadError naming `opts.what` and the URL; after an abort its exitCode is INTERRUPTED_EXIT_CODE
 */
export async function fetchToFile(url: string, dest: string, opts: FetchOptions): Promise<FetchResult> {
  let current = url;
  const maxRedirects = opts.maxRedirects ?? 10;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    if (opts.signal?.aborted) throw interrupted(opts, url, 0);
    const res = await request(current, opts);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current).toString();
      continue;
    }
    if (status < 200 || status >= 300) {
      res.resume();
      const via = current !== url ? ` (redirected to ${current})` : '';
      throw new DownloadError(`${opts.what}: ${url}${via}: HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd());
    }
    return receive(res, current, dest, url, opts);
  }
  throw new DownloadError(`${opts.what}: ${url}: more than ${maxRedirects} redirects`);
}

function request(url: string, opts: FetchOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return reject(new DownloadError(`${opts.what}: ${url} is not a valid URL`));
    }
    const client = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!client) return reject(new DownloadError(`${opts.what}: ${url}: unsupported protocol ${u.protocol}`));
    // Node closes the socket when the signal aborts, before or after the response starts.
    const req = client.get(u, { headers: { 'user-agent': 'ket-packages', 'accept-encoding': 'identity' }, signal: opts.signal }, resolve);
    req.setTimeout(opts.idleTimeoutMs ?? 60_000, () =>
      req.destroy(new Error(`no response for ${Math.round((opts.idleTimeoutMs ?? 60_000) / 1000)} s`)),
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(opts.signal?.aborted ? interrupted(opts, url, 0) : new DownloadError(`${opts.what}: ${url}: ${describeNetworkError(e)}`)),
    );
  });
}

function interrupted(opts: FetchOptions, url: string, received: number): DownloadError {
  return new DownloadError(`${opts.what}: ${url}: interrupted after ${received} bytes`, INTERRUPTED_EXIT_CODE);
}

export function describeNetworkError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${e.code})`;
    case 'ECONNRESET':
      return 'connection reset by the server';
    default:
      return e.message;
  }
}

function receive(res: http.IncomingMessage, finalUrl: string, dest: string, url: string, opts: FetchOptions): Promise<FetchResult> {
  return new Promise((resolve, reject) => {
    const lengthHeader = res.headers['content-length'];
    const total = lengthHeader !== undefined ? Number(lengthHeader) : undefined;
    const sha256 = createHash('sha256');
    const sha512 = createHash('sha512');
    let received = 0;
    let failed = false;
    const out = createWriteStream(dest, { mode: 0o644 });
    const onAbort = () => fail(interrupted(opts, url, received));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const fail = (error: string | DownloadError) => {
      if (failed) return;
      failed = true;
      opts.signal?.removeEventListener('abort', onAbort);
      res.destroy();
      // An abort also ends the response ('aborted', 'error'): it is reported as the interruption.
      const e = opts.signal?.aborted
        ? interrupted(opts, url, received)
        : typeof error === 'string'
          ? new DownloadError(`${opts.what}: ${url}: ${error}`)
          : error;
      // Rejected once the file is closed, so the caller's removal of it cannot race a late open.
      if (out.closed) return reject(e);
      out.once('close', () => reject(e));
      out.destroy();
    };
    if (opts.signal?.aborted) return onAbort();
    res.setTimeout(opts.idleTimeoutMs ?? 60_000, () =>
      fail(`no data for ${Math.round((opts.idleTimeoutMs ?? 60_000) / 1000)} s after ${received} bytes`),
    );
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      sha256.update(chunk);
      sha512.update(chunk);
      opts.onProgress?.(received, total);
    });
    // 'aborted'/'error' with a partial body: the server closed the connection mid-transfer.
    res.on('aborted', () => fail(`connection closed after ${received} of ${total ?? 'unknown'} bytes (truncated download)`));
    res.on('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'ECONNRESET' || e.message === 'aborted'
          ? `connection closed after ${received} of ${total ?? 'unknown'} bytes (truncated download)`
          : describeNetworkError(e),
      ),
    );
    out.on('error', (e) => fail(`cannot write ${dest}: ${e.message}`));
    res.pipe(out);
    out.on('finish', () => {
      if (failed) return;
      if (!res.complete) return fail(`connection closed after ${received} of ${total ?? 'unknown'} bytes (truncated download)`);
      if (total !== undefined && received !== total)
        return fail(`received ${received} bytes but Content-Length is ${total} (truncated download)`);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ bytes: received, digests: { sha256: sha256.digest('hex'), sha512: sha512.digest('hex') }, finalUrl });
    });
  });
}
