import { ChildProcess, spawn } from 'node:child_process';
import * as http from 'node:http';
import { mkdir, stat } from 'node:fs/promises';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { UserError } from '../../util/errors';
import { evaluateWritePreconditions, s3ErrorXml } from './conditional';
import { isUploadPartCopy, uploadPartCopy } from './upload-part-copy';
import { refusalOf, splitPath } from './s3-rules';

/**
 * The embedded S3-compatible store: s3rver 3.7.1 in a child process (its listings past 1,000 keys
 * need `--openssl-legacy-provider`, which Node only accepts at start-up), behind a small proxy in
 * this process that
 *   - enforces the conditional headers AWS S3 enforces on writes (If-None-Match: *, If-Match),
 *     atomically per key: every write of a key passes one at a time through a per-key queue, so
 *     check-then-write cannot interleave (this is what lets a lock object prove a lock);
 *   - counts requests and bytes in each direction, for the publish benchmark;
 *   - answers what AWS S3 refuses (s3-rules.ts) with S3's error before s3rver sees it, and unknown
 *     multipart upload IDs with NoSuchUpload;
 *   - never goes down with s3rver: a request it fails on is answered 500 InternalError (as S3
 *     answers its own failures) and s3rver is restarted on the same data for the next requests.
 * Both listen on 127.0.0.1 only.
 */
export interface StoreStats {
  requests: number;
  byMethod: Record<string, number>;
  /** Response body bytes sent to clients (what a publisher "reads" from the store). */
  bytesRead: number;
  /** Request body bytes received from clients (what a publisher writes). */
  bytesWritten: number;
}

export interface EmbeddedStore {
  /** Endpoint URL clients use, e.g. http://127.0.0.1:4568 (path-style buckets). */
  readonly endpoint: string;
  readonly dataDir: string;
  /** Credentials s3rver accepts. */
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Environment for tools and SDK clients that should talk to this store. */
  env(): Record<string, string>;
  bucketUrl(bucket: string): string;
  /** Creates a bucket if it does not exist yet. */
  createBucket(bucket: string): Promise<void>;
  stats(): StoreStats;
  resetStats(): void;
  close(): Promise<void>;
}

export interface StartStoreOptions {
  readonly dataDir: string;
  /** Port for the public endpoint; 0 (default) picks a free one. */
  readonly port?: number;
  /** Called with "METHOD path status" for each request (debugging, request traces in tests). */
  readonly onRequest?: (line: string) => void;
  /** Called after each request with its body sizes (the benchmark splits reads by object). */
  readonly onTransfer?: (t: { method: string; path: string; status: number; bytesRead: number; bytesWritten: number }) => void;
}

const ACCESS_KEY = 'S3RVER';
const SECRET_KEY = 'S3RVER';

// Runs in the child: starts s3rver on a free port and reports it on stdout as one JSON line.
// s3rver 3.7.1's CopyObject with MetadataDirective REPLACE onto an existing key writes the new
// bytes and metadata but keeps the key's old MD5 file, so the object kept its old ETag (a
// conditional GET with it answered 304 for new bytes; AWS S3 gives the copy the new bytes' ETag):
// the key's MD5 file is removed first, and s3rver computes it again from the new bytes.
const CHILD_SCRIPT = `
const S3rver = require(process.argv[1]);
const FilesystemStore = require(require('path').join(require('path').dirname(process.argv[1]), 'stores', 'filesystem.js'));
const copyObject = FilesystemStore.prototype.copyObject;
FilesystemStore.prototype.copyObject = async function (srcBucket, srcKey, destBucket, destKey, replacementMetadata) {
  if (replacementMetadata) await require('fs').promises.rm(this.getResourcePath(destBucket, destKey, 'object.md5'), { force: true });
  return copyObject.call(this, srcBucket, srcKey, destBucket, destKey, replacementMetadata);
};
const server = new S3rver({ address: '127.0.0.1', port: 0, directory: process.argv[2], silent: true,
  allowMismatchedSignatures: true, vhostBuckets: false });
server.run().then((addr) => { process.stdout.write(JSON.stringify({ port: addr.port }) + '\\n'); },
  (e) => { process.stderr.write(String(e && e.stack || e) + '\\n'); process.exit(1); });
process.on('SIGTERM', () => server.close().then(() => process.exit(0), () => process.exit(0)));
`;

export async function startEmbeddedStore(opts: StartStoreOptions): Promise<EmbeddedStore> {
  const dataDir = path.resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true });
  const backend = await startBackend(dataDir);
  const stats: StoreStats = emptyStats();
  const queues = new Map<string, Promise<void>>();
  /** Multipart upload IDs s3rver handed out (s3rver itself accepts parts for any ID). */
  const uploads = new Set<string>();

  const server = http.createServer((req, res) => {
    const mine = { bytesRead: 0, bytesWritten: 0 };
    const count: Counter = {
      read: (n) => {
        stats.bytesRead += n;
        mine.bytesRead += n;
      },
      written: (n) => {
        stats.bytesWritten += n;
        mine.bytesWritten += n;
      },
    };
    res.on('finish', () => {
      opts.onRequest?.(`${req.method} ${req.url} ${res.statusCode}`);
      opts.onTransfer?.({ method: req.method ?? '', path: new URL(req.url ?? '/', 'http://x').pathname, status: res.statusCode, ...mine });
    });
    const answer = (status: number, code: string, message: string) => {
      req.resume();
      const body = s3ErrorXml(code, message);
      count.read(Buffer.byteLength(body));
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    backend
      .port()
      .then((port) => handle(req, res, port, dataDir, stats, count, queues, uploads, answer))
      .catch((e: Error) => {
        if (!res.headersSent)
          answer(500, 'InternalError', `We encountered an internal error. Please try again. (embedded store: ${e.message})`);
        else res.destroy(e);
      });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new UserError(
          e.code === 'EADDRINUSE'
            ? `the embedded store cannot listen on 127.0.0.1:${opts.port}: the port is in use`
            : `embedded store: ${e.message}`,
        ),
      ),
    );
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  }).catch((e) => {
    void backend.stop();
    throw e;
  });
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    dataDir,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    env: () => ({
      AWS_ACCESS_KEY_ID: ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: endpoint,
    }),
    bucketUrl: (bucket) => `${endpoint}/${bucket}`,
    createBucket: async (bucket) => createBucket(await backend.port(), bucket),
    stats: () => ({ ...stats, byMethod: { ...stats.byMethod } }),
    resetStats: () => Object.assign(stats, emptyStats()),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backend.stop();
    },
  };
}

function createBucket(backendPort: number, bucket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: backendPort, method: 'PUT', path: `/${encodeURIComponent(bucket)}` }, (resp) => {
      let body = '';
      resp.on('data', (d: Buffer) => (body += d.toString()));
      resp.on('end', () =>
        resp.statusCode === 200 || /BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(body)
          ? resolve()
          : reject(new UserError(`embedded store: cannot create bucket '${bucket}': ${resp.statusCode} ${body}`)),
      );
    });
    r.on('error', reject);
    r.end();
  });
}

/**
 * s3rver in a child process, restarted on the same data when it exits: a request that kills it
 * costs that request, not every one after it.
 */
interface Backend {
  port(): Promise<number>;
  stop(): Promise<void>;
}

async function startBackend(dataDir: string): Promise<Backend> {
  let stopped = false;
  let child: ChildProcess;
  const launch = (): Promise<number> => {
    child = spawn(process.execPath, ['-e', CHILD_SCRIPT, require.resolve('s3rver'), dataDir], {
      env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = waitForPort(child);
    child.once('exit', () => {
      if (!stopped) current = ready.then(() => launch());
    });
    return ready;
  };
  let current = launch();
  await current;
  return {
    port: () => current,
    stop: async () => {
      stopped = true;
      await stopChild(child);
    },
  };
}

interface Counter {
  read(n: number): void;
  written(n: number): void;
}

function emptyStats(): StoreStats {
  return { requests: 0, byMethod: {}, bytesRead: 0, bytesWritten: 0 };
}

function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) {
        try {
          resolve(JSON.parse(line).port);
        } catch {
          reject(new UserError(`embedded store (s3rver) printed an unexpected line: ${line}`));
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new UserError(`embedded store (s3rver) exited with ${code} before listening: ${err.trim()}`)));
    child.on('error', (e) => reject(new UserError(`cannot start the embedded store (s3rver): ${e.message}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Object reads and writes (not bucket-level calls) are serialized per key. The parts of a
 * multipart upload are separate objects until it completes (S3 takes them in parallel, and s3rver
 * keeps one file per part): each part has its own queue.
 */
function objectKeyOf(req: http.IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://x');
  const parts = url.pathname.split('/').slice(1);
  if (parts.length < 2 || parts[1] === '') return undefined;
  const uploadId = url.searchParams.get('uploadId');
  const partNumber = url.searchParams.get('partNumber');
  return uploadId !== null && partNumber !== null ? `${url.pathname}?uploadId=${uploadId}&partNumber=${partNumber}` : url.pathname;
}

async function withKeyQueue<T>(queues: Map<string, Promise<void>>, key: string, fn: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = previous.then(() => mine);
  queues.set(key, chained);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (queues.get(key) === chained) queues.delete(key);
  }
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  backendPort: number,
  dataDir: string,
  stats: StoreStats,
  count: Counter,
  queues: Map<string, Promise<void>>,
  uploads: Set<string>,
  answer: (status: number, code: string, message: string) => void,
): Promise<void> {
  const method = req.method ?? 'GET';
  stats.requests += 1;
  stats.byMethod[method] = (stats.byMethod[method] ?? 0) + 1;
  const refusal = refusalOf({ method, url: req.url ?? '/', headers: req.headers });
  if (refusal) return answer(refusal.status, refusal.code, refusal.message);
  const { bucket, key: objectName, query } = splitPath(req.url ?? '/');
  // HeadBucket: s3rver serves HEAD /BUCKET with its GET route (koa-router), i.e. it lists up to
  // 1,000 objects and throws the listing away (~0.5 s on a 1,000-package repository); S3 answers
  // from the bucket's existence alone, and so does this (s3rver keeps one folder per bucket).
  if (method === 'HEAD' && bucket && !objectName && query.size === 0) {
    const exists = await stat(path.join(dataDir, bucket)).then(
      (s) => s.isDirectory(),
      () => false,
    );
    req.resume();
    res.writeHead(exists ? 200 : 404, exists ? { 'x-amz-bucket-region': 'us-east-1' } : {});
    res.end();
    return;
  }
  const uploadId = query.get('uploadId');
  if (uploadId !== null && !uploads.has(uploadId))
    return answer(
      404,
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    );
  if (method === 'POST' && query.has('uploads'))
    return void (await forward(req, res, backendPort, count, (body) => {
      const id = /<UploadId>([^<]+)<\/UploadId>/.exec(body)?.[1];
      if (id) uploads.add(id);
    }));
  if (uploadId !== null && (method === 'DELETE' || method === 'POST'))
    res.on('finish', () => res.statusCode < 300 && uploads.delete(uploadId));
  const key = objectKeyOf(req);
  const isWrite = method === 'PUT' || method === 'POST' || method === 'DELETE';
  if (!key) return void (await forward(req, res, backendPort, count));
  // S3 reads are atomic (old or new object, never a mix); s3rver rewrites a key's file in place,
  // so a GET racing a write of the same key could be cut off ("aborted"): reads of a key take
  // their turn in the key's queue too.
  if (!isWrite) return withKeyQueue(queues, key, async () => void (await forward(req, res, backendPort, count)));
  if (isUploadPartCopy(req)) return uploadPartCopy(req, res, backendPort, count);
  await withKeyQueue(queues, key, async () => {
    const ifNoneMatch = header(req, 'if-none-match');
    const ifMatch = header(req, 'if-match');
    // A whole object's PUT (not a multipart part, not a copy): S3 stores it only once its body is
    // complete; s3rver writes the body into the key's file as it arrives, so a client cut off
    // mid-body (a killed publish) would leave the bytes that came as the object. Whether the key
    // existed is known first, and a cut-off write of a key that did not is removed again.
    const wholeObjectPut =
      method === 'PUT' && !query.has('uploadId') && !query.has('partNumber') && header(req, 'x-amz-copy-source') === undefined;
    let existed: boolean | undefined;
    // Multipart part uploads carry no conditions; the completion does, as on AWS.
    if ((method === 'PUT' || method === 'POST') && (ifNoneMatch !== undefined || ifMatch !== undefined)) {
      const current = await headEtag(backendPort, req.url ?? '/');
      existed = current !== undefined;
      const outcome = evaluateWritePreconditions({ ifNoneMatch, ifMatch }, current);
      if (!outcome.ok) {
        req.on('data', (d: Buffer) => count.written(d.length));
        req.resume();
        await new Promise<void>((resolve) => {
          // (A client that went away while this write waited for its turn sent its 'close'
          // already: waiting for it would hold the key's queue for good, and a killed publish
          // hung the next one.)
          if (req.readableEnded || req.destroyed) return resolve();
          req.once('end', resolve);
          req.once('close', resolve); // a client that goes away sends nothing more
        });
        const body = s3ErrorXml(outcome.code, outcome.message, { Condition: outcome.condition });
        count.read(Buffer.byteLength(body));
        res.writeHead(outcome.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
    }
    if (wholeObjectPut && existed === undefined) existed = (await headEtag(backendPort, req.url ?? '/')) !== undefined;
    const answered = await forward(req, res, backendPort, count);
    if (wholeObjectPut && !answered && existed === false) await deleteAtBackend(backendPort, req.url ?? '/');
  });
}

/** Removes an object at the backend (what a cut-off write of a new key left); failures are ignored. */
function deleteAtBackend(backendPort: number, rawUrl: string): Promise<void> {
  const url = new URL(rawUrl, 'http://x');
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port: backendPort, method: 'DELETE', path: url.pathname }, (resp) => {
      resp.resume();
      resp.on('end', () => resolve());
    });
    r.on('error', () => resolve());
    r.end();
  });
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function headEtag(backendPort: number, rawUrl: string): Promise<string | undefined> {
  const url = new URL(rawUrl, 'http://x');
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: backendPort, method: 'HEAD', path: url.pathname }, (resp) => {
      resp.resume();
      if (resp.statusCode === 200) resolve(String(resp.headers.etag ?? ''));
      else if (resp.statusCode === 404) resolve(undefined);
      else reject(new Error(`HEAD ${url.pathname} answered ${resp.statusCode}`));
    });
    r.on('error', reject);
    r.end();
  });
}

function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  backendPort: number,
  count: Counter,
  /** Sees the response body (small XML answers only). */
  onBody?: (body: string) => void,
): Promise<boolean> {
  // Resolves true once the backend answered (a write it answered is stored, or refused, whether or
  // not the client stays to hear it), false when the client went away before that.
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers.expect; // the front server has already answered 100-continue
    let answered = false;
    const upstream = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers }, (resp) => {
      answered = true;
      res.writeHead(resp.statusCode ?? 500, resp.headers);
      let seen = '';
      resp.on('data', (d: Buffer) => {
        count.read(d.length);
        if (onBody && seen.length < 65536) seen += d.toString('utf8');
      });
      resp.on('end', () => onBody?.(seen));
      resp.pipe(res);
      resp.on('end', () => resolve(true));
      resp.on('error', reject);
    });
    upstream.on('error', reject);
    // A client that goes away mid-request (killed, timed out) must not leave s3rver waiting for
    // the rest of a body that never comes, holding the key's queue: the backend request goes too.
    res.on('close', () => {
      if (!res.writableFinished) {
        upstream.destroy();
        resolve(answered);
      }
    });
    // Counting starts here, not earlier: a 'data' listener would start the body flowing while a
    // conditional check is still waiting, and the body would be lost.
    req.on('data', (d: Buffer) => count.written(d.length));
    req.pipe(upstream);
  });
}
