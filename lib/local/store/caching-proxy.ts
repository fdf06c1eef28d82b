import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { UserError } from '../../util/errors';

/**
 * A caching HTTP proxy in front of the embedded store that caches as CloudFront does, so tests
 * and `local` see what clients behind the CDN see:
 *   - GET/HEAD responses with status 200 are cached per URL (path and query);
 *   - the time to live is the origin's `Cache-Control: s-maxage`, else `max-age`, clamped to the
 *     cache policy's [minTtl, maxTtl]; without either, `defaultTtl` (CloudFront's cache policy
 *     TTL settings, "Managing how long content stays in the cache", Amazon CloudFront Developer Guide);
 *   - `no-store` and `private` are not cached and `no-cache` is kept but revalidated on every
 *     request, when minTtl is 0 (with a minimum TTL above 0 CloudFront caches them anyway);
 *   - an expired entry is revalidated with a conditional GET (If-None-Match on its ETag): a 304
 *     refreshes it, anything else replaces it.
 * Other methods pass through untouched. Listens on 127.0.0.1.
 */
export interface CachePolicy {
  /** Seconds; CloudFront's MinTTL (default 0). */
  readonly minTtl?: number;
  /** Seconds; CloudFront's DefaultTTL, used when the origin sends no max-age (default 86400). */
  readonly defaultTtl?: number;
  /** Seconds; CloudFront's MaxTTL (default 31536000). */
  readonly maxTtl?: number;
}

export interface CacheStats {
  /** Served from the cache without asking the origin. */
  hits: number;
  /** Asked the origin with If-None-Match and got 304. */
  revalidated: number;
  /** Fetched from the origin (no entry, expired and changed, or not cacheable). */
  misses: number;
}

export interface CachingProxy {
  /** Base URL: the store's path-style bucket URLs work under it (ENDPOINT/BUCKET/KEY). */
  readonly endpoint: string;
  stats(): CacheStats;
  close(): Promise<void>;
}

interface Entry {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  storedAt: number;
  ttlMs: number;
}

/** TTL in ms of a response under a cache policy, or undefined when it must not be cached. */
export function cacheTtlMs(cacheControl: string | undefined, policy: CachePolicy = {}): number | undefined {
  const min = policy.minTtl ?? 0;
  const max = policy.maxTtl ?? 31_536_000;
  const def = policy.defaultTtl ?? 86_400;
  const directives = new Map(
    (cacheControl ?? '')
      .split(',')
      .map((d) => d.trim().toLowerCase())
      .filter(Boolean)
      .map((d) => {
        const [k, v] = d.split('=');
        return [k, v] as const;
      }),
  );
  // With a minimum TTL above 0, CloudFront keeps even these for the minimum TTL.
  if (directives.has('no-store') || directives.has('private')) return min === 0 ? undefined : min * 1000;
  if (directives.has('no-cache')) return min * 1000;
  const age = directives.get('s-maxage') ?? directives.get('max-age');
  const ttl = age !== undefined && /^\d+$/.test(age) ? Number(age) : def;
  return Math.min(Math.max(ttl, min), max) * 1000;
}

export async function startCachingProxy(opts: { origin: string; policy?: CachePolicy; port?: number }): Promise<CachingProxy> {
  const origin = new URL(opts.origin);
  const cache = new Map<string, Entry>();
  const stats: CacheStats = { hits: 0, revalidated: 0, misses: 0 };

  /** One request to the origin; the body of `req` is piped along unless `method` is GET or HEAD. */
  const upstream = (req: http.IncomingMessage, method: string, extraHeaders: Record<string, string> = {}): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, ...extraHeaders, host: origin.host };
      const r = http.request({ host: origin.hostname, port: origin.port, method, path: req.url, headers }, resolve);
      r.on('error', reject);
      if (method === 'GET' || method === 'HEAD') r.end();
      else req.pipe(r);
    });
  const readAll = (resp: http.IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      resp.on('data', (d: Buffer) => chunks.push(d));
      resp.on('end', () => resolve(Buffer.concat(chunks)));
      resp.on('error', reject);
    });
  const send = (res: http.ServerResponse, e: Entry, how: string, method: string) => {
    const age = Math.floor((Date.now() - e.storedAt) / 1000);
    res.writeHead(e.status, { ...e.headers, age: String(age), 'x-cache': how });
    res.end(method === 'HEAD' ? undefined : e.body);
  };

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const cacheable = (method === 'GET' || method === 'HEAD') && req.headers.range === undefined;
    const key = req.url ?? '/';
    (async () => {
      if (!cacheable) {
        const resp = await upstream(req, method);
        res.writeHead(resp.statusCode ?? 500, resp.headers);
        resp.pipe(res);
        return;
      }
      const entry = cache.get(key);
      if (entry && Date.now() - entry.storedAt < entry.ttlMs) {
        stats.hits += 1;
        return send(res, entry, 'Hit from cloudfront', method);
      }
      const etag = entry?.headers.etag;
      // The body is always fetched with GET so a HEAD can fill the cache for a later GET.
      const resp = await upstream(req, 'GET', etag ? { 'if-none-match': String(etag) } : {});
      const body = await readAll(resp);
      if (entry && resp.statusCode === 304) {
        stats.revalidated += 1;
        entry.storedAt = Date.now();
        return send(res, entry, 'RefreshHit from cloudfront', method);
      }
      stats.misses += 1;
      const ttlMs = resp.statusCode === 200 ? cacheTtlMs(resp.headers['cache-control'], opts.policy) : undefined;
      const fresh: Entry = { status: resp.statusCode ?? 500, headers: resp.headers, body, storedAt: Date.now(), ttlMs: ttlMs ?? 0 };
      if (ttlMs !== undefined) cache.set(key, fresh);
      else cache.delete(key);
      send(res, fresh, 'Miss from cloudfront', method);
    })().catch((e: Error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`caching proxy: ${e.message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UserError(`caching proxy cannot listen on 127.0.0.1:${opts.port ?? 0}: ${e.message}`)),
    );
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats: () => ({ ...stats }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
