import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { acquireLock } from '../../lib/publish/lock';
import { getObjectBytes, s3TargetFromEnv, S3Target } from '../../lib/publish/s3';
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
