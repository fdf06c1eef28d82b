import * as childProcess from 'node:child_process';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CopyObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { acquireLock, acquireLocks } from '../../lib/publish/lock';
import { bucketOf, getObjectBytes as getObject, s3TargetFromEnv, S3Target } from '../../lib/publish/s3';
import { PART_SIZE, uploadFile } from '../../lib/publish/upload';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { silentLogger } from '../../lib/util/log';

describe('embedded store and repository locks (integration, slow)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let target: S3Target;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-store-test-'));
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
    await store.createBucket('state');
    target = s3TargetFromEnv({ ...store.env() });
  }, 30_000);

  afterAll(async () => {
    target?.client.destroy();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const getObjectBytes = (_t: S3Target, bucket: string, key: string) => getObject(bucketOf(target, bucket, 'test'), key);
  const put = (Key: string, Body: string, cond: { IfNoneMatch?: string; IfMatch?: string } = {}) =>
    target.client.send(new PutObjectCommand({ Bucket: 'state', Key, Body, ...cond }));

  test('rejects If-None-Match: * over an existing key with 412, as AWS S3 does', async () => {
    await put('k1', 'first', { IfNoneMatch: '*' });
    await expect(put('k1', 'second', { IfNoneMatch: '*' })).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    expect((await getObjectBytes(target, 'state', 'k1'))!.body.toString()).toBe('first');
  });

  test('If-Match writes only over the expected ETag; 404 when the key is absent', async () => {
    const { ETag } = await put('k2', 'v1');
    await expect(put('k2', 'v2', { IfMatch: '"00000000000000000000000000000000"' })).rejects.toMatchObject({
      $metadata: { httpStatusCode: 412 },
    });
    await put('k2', 'v2', { IfMatch: ETag });
    expect((await getObjectBytes(target, 'state', 'k2'))!.body.toString()).toBe('v2');
    await expect(put('absent', 'x', { IfMatch: ETag })).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  test("CopyObject with MetadataDirective REPLACE onto an existing key gives it the new bytes' ETag, as AWS S3 does (conditional GETs see the change)", async () => {
    await put('copy-a', 'a');
    await put('copy-b', 'bb');
    await target.client.send(new CopyObjectCommand({ Bucket: 'state', Key: 'copy-dst', CopySource: 'state/copy-b' }));
    const before = await target.client.send(new HeadObjectCommand({ Bucket: 'state', Key: 'copy-dst' }));
    await target.client.send(
      new CopyObjectCommand({
        Bucket: 'state',
        Key: 'copy-dst',
        CopySource: 'state/copy-a',
        MetadataDirective: 'REPLACE',
        CacheControl: 'no-cache',
        Metadata: { sha256: 'x' },
      }),
    );
    const after = await target.client.send(new HeadObjectCommand({ Bucket: 'state', Key: 'copy-dst' }));
    expect(after.ContentLength).toBe(1);
    expect(after.ETag).toBe(`"${createHash('md5').update('a').digest('hex')}"`);
    expect(after.ETag).not.toBe(before.ETag);
    expect(after.Metadata).toEqual({ sha256: 'x' });
    const revalidated = await fetch(`${store.bucketUrl('state')}/copy-dst`, { headers: { 'If-None-Match': before.ETag! } });
    expect(revalidated.status).toBe(200);
    expect(await revalidated.text()).toBe('a');
  });

  test('of 20 simultaneous create-only writes of one key exactly one wins', async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => put('race', `writer ${i}`, { IfNoneMatch: '*' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  test('lists more than 1,000 keys (s3rver needs the legacy OpenSSL provider for its continuation token)', async () => {
    await store.createBucket('many');
    const { mapConcurrent } = await import('../../lib/util/concurrency');
    await mapConcurrent(
      Array.from({ length: 1005 }, (_, i) => i),
      16,
      // An empty string gives the SDK no Content-Length, and it warns once per request.
      (i) => target.client.send(new PutObjectCommand({ Bucket: 'many', Key: `k${i}`, Body: '', ContentLength: 0 })),
    );
    let count = 0;
    let token: string | undefined;
    do {
      const page = await target.client.send(new ListObjectsV2Command({ Bucket: 'many', ContinuationToken: token }));
      count += page.KeyCount ?? 0;
      token = page.NextContinuationToken;
    } while (token);
    expect(count).toBe(1005);
  }, 60_000);

  test('HeadBucket (answered by the store itself: s3rver would list the bucket): 200 for a bucket, 404 for none', async () => {
    await target.client.send(new HeadBucketCommand({ Bucket: 'state' }));
    await expect(target.client.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' }))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 404 },
    });
  });

  test('a client that goes away in the middle of a PUT does not hold up the next request for that key', async () => {
    const url = new URL(store.bucketUrl('state'));
    // Announces 1 MiB, sends 10 bytes, then disconnects (a killed process).
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: `${url.pathname}/cut-off`,
        headers: { 'content-length': String(1024 * 1024) },
      });
      req.on('error', () => resolve());
      req.write('0123456789', () => setTimeout(() => (req.destroy(), resolve()), 100));
    });
    await put('cut-off', 'whole');
    expect((await getObjectBytes(target, 'state', 'cut-off'))!.body.toString()).toBe('whole');
  }, 20_000);

  test("a client that goes away while its create-only write waits for the key's turn (to be refused) does not hold up the key for good", async () => {
    const conditions = { 'if-none-match': '*' };
    const url = new URL(store.bucketUrl('state'));
    const key = 'queued';
    const open = (headers: Record<string, string>) => {
      const req = http.request({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: `${url.pathname}/${key}`,
        headers,
        agent: false,
      });
      req.on('error', () => undefined);
      return req;
    };
    // The first write holds the key's turn (its body comes slowly); the second waits behind it and
    // its client goes away (a killed publish); then the first ends.
    const first = open({ 'content-length': '10' });
    first.write('01234');
    await new Promise((r) => setTimeout(r, 100));
    const second = open({ 'content-length': '10', ...conditions });
    second.write('56789');
    await new Promise((r) => setTimeout(r, 100));
    second.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const answered = new Promise<number | undefined>((resolve) => first.on('response', (res) => (res.resume(), resolve(res.statusCode))));
    first.end('56789');
    expect(await answered).toBe(200);
    // The key's turn comes round again: a third write is answered (it waited for good before).
    await put(key, 'third');
    expect((await getObjectBytes(target, 'state', key))!.body.toString()).toBe('third');
  }, 20_000);

  test('a PUT cut off by its client leaves no object behind (S3 stores only whole bodies): a create-only write of the key then succeeds', async () => {
    const url = new URL(store.bucketUrl('state'));
    for (const [key, conditional] of [
      ['cut-off-create-only', true],
      ['cut-off-plain', false],
    ] as const) {
      await new Promise<void>((resolve) => {
        const req = http.request({
          host: url.hostname,
          port: url.port,
          method: 'PUT',
          path: `${url.pathname}/${key}`,
          headers: { 'content-length': String(1024 * 1024), ...(conditional ? { 'if-none-match': '*' } : {}) },
        });
        req.on('error', () => resolve());
        req.write('0123456789', () => setTimeout(() => (req.destroy(), resolve()), 100));
      });
      expect(await getObjectBytes(target, 'state', key)).toBeUndefined();
      await put(key, 'whole', { IfNoneMatch: '*' });
      expect((await getObjectBytes(target, 'state', key))!.body.toString()).toBe('whole');
    }
  }, 20_000);

  test('a lock is exclusive, waits for its holder, and takes over an expired one', async () => {
    const opts = { bucket: 'state', key: 'locks/repo.lock', logger: silentLogger, what: 'repo', pollMs: 50 };
    const first = await acquireLock(target, { ...opts, ttlMs: 60_000 });
    let secondHeld = false;
    const second = acquireLock(target, { ...opts, ttlMs: 60_000, waitMs: 30_000 }).then((l) => {
      secondHeld = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(secondHeld).toBe(false);
    await first.release();
    const held = await second;
    expect(held.owner).not.toBe(first.owner);
    await expect(acquireLock(target, { ...opts, waitMs: 300 })).rejects.toThrow(/gave up waiting for the lock .*\(held by/);
    await held.release();

    // A publisher that died holding the lock left its record (and stopped renewing it): once it
    // expires, the next publisher takes over.
    const now = Date.now();
    await put(
      'locks/repo.lock',
      JSON.stringify({ owner: 'dead-host:1:x', acquiredAt: new Date(now).toISOString(), expiresAt: new Date(now + 1500).toISOString() }),
    );
    const next = await acquireLock(target, { ...opts, waitMs: 10_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(now + 1500);
    const record = JSON.parse((await getObjectBytes(target, 'state', 'locks/repo.lock'))!.body.toString());
    expect(record.owner).toBe(next.owner);
    await next.release();
  }, 60_000);
});

describe('the embedded store answers what S3 refuses as S3 does, and keeps serving', () => {
  let dir: string;
  let store: EmbeddedStore;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-store-fuzz-'));
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
    await store.createBucket('fuzz');
    await fetch(`${store.endpoint}/fuzz/ok`, { method: 'PUT', body: 'ok' });
  }, 30_000);

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Sends a raw request (node:http: no client-side normalisation) and returns status and body. */
  function raw(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<{ status: number; body: string }> {
    const { port } = new URL(store.endpoint);
    return new Promise((resolve, reject) => {
      const r = http.request({ host: '127.0.0.1', port: Number(port), method, path: pathAndQuery, headers }, (resp) => {
        let text = '';
        resp.on('data', (d: Buffer) => (text += d.toString()));
        resp.on('end', () => resolve({ status: resp.statusCode ?? 0, body: text }));
      });
      r.on('error', reject);
      r.end(body);
    });
  }

  let uploadId = '';
  const cases: Array<[string, () => [string, string, Record<string, string>?, string?], number, string]> = [
    ['a key over 1,024 bytes', () => ['PUT', `/fuzz/${'k'.repeat(1100)}`, { 'content-length': '1' }, 'x'], 400, 'KeyTooLongError'],
    [
      'a key segment over 255 bytes (s3rver died on this one)',
      () => ['PUT', `/fuzz/${'k'.repeat(300)}`, { 'content-length': '1' }, 'x'],
      400,
      'KeyTooLongError',
    ],
    ['a bucket name with capitals', () => ['PUT', '/Bad_Bucket', {}], 400, 'InvalidBucketName'],
    ['a bucket name too short', () => ['GET', '/ab/x'], 400, 'InvalidBucketName'],
    ['an unknown bucket', () => ['GET', '/no-such-bucket/x'], 404, 'NoSuchBucket'],
    ['an unknown key', () => ['GET', '/fuzz/absent'], 404, 'NoSuchKey'],
    ['an unsatisfiable range', () => ['GET', '/fuzz/ok', { range: 'bytes=100-200' }], 416, 'InvalidRange'],
    ['a PUT without Content-Length', () => ['PUT', '/fuzz/chunked', { 'transfer-encoding': 'chunked' }, 'x'], 411, 'MissingContentLength'],
    ['part number 0', () => ['PUT', `/fuzz/mp?partNumber=0&uploadId=${uploadId}`, { 'content-length': '1' }, 'x'], 400, 'InvalidArgument'],
    [
      'part number 10001',
      () => ['PUT', `/fuzz/mp?partNumber=10001&uploadId=${uploadId}`, { 'content-length': '1' }, 'x'],
      400,
      'InvalidArgument',
    ],
    [
      'a part number that is not a number',
      () => ['PUT', `/fuzz/mp?partNumber=abc&uploadId=${uploadId}`, { 'content-length': '1' }, 'x'],
      400,
      'InvalidArgument',
    ],
    ['an unknown upload ID', () => ['PUT', '/fuzz/mp?partNumber=1&uploadId=nope', { 'content-length': '1' }, 'x'], 404, 'NoSuchUpload'],
    [
      'a malformed CompleteMultipartUpload body',
      () => ['POST', `/fuzz/mp?uploadId=${uploadId}`, {}, '<CompleteMultipartUpload><Part>'],
      400,
      'MalformedXML',
    ],
    ['a malformed DeleteObjects body', () => ['POST', '/fuzz?delete', {}, 'garbage'], 400, 'MalformedXML'],
    [
      'metadata over 2 KB',
      () => ['PUT', '/fuzz/meta', { 'content-length': '1', 'x-amz-meta-big': 'm'.repeat(2100) }, 'x'],
      400,
      'MetadataTooLarge',
    ],
    ['an undecodable key', () => ['GET', '/fuzz/x%ZZ'], 400, 'InvalidURI'],
  ];

  test.each(cases)('%s: S3 error, and the next request is served', async (_what, request, status, code) => {
    if (!uploadId) {
      const created = await raw('POST', '/fuzz/mp?uploads');
      uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.body)![1];
    }
    const [method, p, headers, body] = request();
    const answer = await raw(method, p, headers, body);
    expect({ status: answer.status, code: /<Code>([^<]+)<\/Code>/.exec(answer.body)?.[1] }).toEqual({ status, code });
    expect(await raw('GET', '/fuzz/ok')).toEqual({ status: 200, body: 'ok' });
  });

  test('a multipart upload with If-None-Match: * completes once; over an existing key it is refused with 412', async () => {
    const target = s3TargetFromEnv({ ...store.env() });
    try {
      const b = bucketOf(target, 'fuzz', 'fuzz bucket');
      const file = path.join(dir, 'big');
      await writeFile(file, Buffer.alloc(PART_SIZE + 1024, 7));
      await uploadFile(b, 'big', file, { cacheControl: 'no-cache', ifNoneMatch: '*' });
      expect((await getObject(b, 'big'))!.body.length).toBe(PART_SIZE + 1024);
      await expect(uploadFile(b, 'big', file, { cacheControl: 'no-cache', ifNoneMatch: '*' })).rejects.toMatchObject({
        $metadata: { httpStatusCode: 412 },
      });
    } finally {
      target.client.destroy();
    }
  }, 60_000);

  test('if s3rver dies anyway, the request gets 500 InternalError and the store restarts it', async () => {
    const pid = Number(
      (
        await new Promise<string>((resolve) => {
          const { execFile } = childProcess;
          execFile('pgrep', ['-f', '-P', String(process.pid), 's3rver'], (_e, out) => resolve(out));
        })
      )
        .trim()
        .split('\n')
        .find((l) => l) ?? 0,
    );
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    let first = await raw('GET', '/fuzz/ok').catch(() => ({ status: 0, body: '' }));
    for (let i = 0; i < 50 && first.status !== 200; i++) {
      expect([0, 500]).toContain(first.status);
      await new Promise((r) => setTimeout(r, 100));
      first = await raw('GET', '/fuzz/ok');
    }
    expect(first).toEqual({ status: 200, body: 'ok' });
  }, 30_000);
});

describe('several repository locks are always taken in one order', () => {
  let dir: string;
  let store: EmbeddedStore;
  let target: S3Target;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-locks-test-'));
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
    await store.createBucket('state');
    target = s3TargetFromEnv({ ...store.env() });
  }, 30_000);

  afterAll(async () => {
    target?.client.destroy();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('two holders asking for the same two locks in opposite orders never wait on each other', async () => {
    const lock = (key: string) => ({ bucket: 'state', key, logger: silentLogger, what: key, pollMs: 20, waitMs: 20_000, ttlMs: 60_000 });
    const order: string[] = [];
    const holder = async (name: string, keys: string[]) => {
      for (let i = 0; i < 5; i++) {
        const locks = await acquireLocks(target, keys.map(lock));
        order.push(`${name}:${locks.held.length}`);
        await new Promise((r) => setTimeout(r, 30));
        await locks.release();
      }
    };
    // A publisher asks rpm then deb, a clone deb then rpm: taken in one order, both finish.
    await Promise.all([holder('publish', ['locks/rpm.lock', 'locks/deb.lock']), holder('clone', ['locks/deb.lock', 'locks/rpm.lock'])]);
    expect(order).toHaveLength(10);
    expect(order.every((o) => o.endsWith(':2'))).toBe(true);
  }, 60_000);

  test('a wait for the locks stops at once when its signal aborts, and the lock already taken is released', async () => {
    const lock = (key: string, signal?: AbortSignal) => ({
      bucket: 'state',
      key,
      logger: silentLogger,
      what: key,
      pollMs: 5_000,
      waitMs: 60_000,
      ttlMs: 60_000,
      signal,
    });
    // Another holder has the second lock (in lock order); we take the first and wait for the second.
    const other = await acquireLocks(target, [lock('locks/z.lock')]);
    const stop = new AbortController();
    const waiting = acquireLocks(target, [lock('locks/a.lock', stop.signal), lock('locks/z.lock', stop.signal)]);
    await new Promise((r) => setTimeout(r, 300));
    const asked = Date.now();
    stop.abort(new Error('refused: bad input'));
    await expect(waiting).rejects.toThrow('refused: bad input');
    expect(Date.now() - asked).toBeLessThan(4_000); // not one poll interval (5-10 s) later
    const first = JSON.parse((await getObject(bucketOf(target, 'state', 'test'), 'locks/a.lock'))!.body.toString());
    expect(first.released).toBe(true);
    const second = JSON.parse((await getObject(bucketOf(target, 'state', 'test'), 'locks/z.lock'))!.body.toString());
    expect(second.owner).toBe(other.held[0].owner);
    await other.release();
  }, 30_000);
});
