import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheTtlMs, CachingProxy, startCachingProxy } from '../../lib/local/store/caching-proxy';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { publishRepositories, PublishOptions } from '../../lib/publish';
import { silentLogger } from '../../lib/util/log';
import { ExpectedPackage, verifyDebRepository, verifyRpmRepository } from '../../lib/verify';
import { generateTestKeys, TestKeys } from '../support/gpg';
import { buildPackages, FixturePackage } from '../support/packages';

/**
 * Issue 11, item 3: the signed entry files are never served from a cache without revalidation, so
 * dnf (repo_gpgcheck) and apt read a consistent signed pair through a CDN right after a publish.
 */
describe('publishing behind a caching proxy that caches as CloudFront does (integration, slow)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let keys: TestKeys;
  const proxies: CachingProxy[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-cache-test-'));
    keys = await generateTestKeys(path.join(dir, 'keys'));
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
    await store.createBucket('ket-state');
  }, 60_000);

  afterAll(async () => {
    for (const p of proxies) await p.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const expected = (ps: FixturePackage[]): ExpectedPackage[] => ps.map((p) => ({ name: p.name, version: `${p.version}-1` }));

  async function buildAndOptions(name: string, r: { rpm: string; deb: string }, ps: FixturePackage[]): Promise<PublishOptions> {
    const from = path.join(dir, 'builds', name);
    await buildPackages(from, ps, keys.keysPath);
    return {
      rpmRepo: r.rpm,
      debRepo: r.deb,
      from,
      stateUrl: `s3://ket-state/${name}`,
      signingKey: { keysPath: keys.keysPath },
      env: { ...process.env, ...store.env() },
      logger: silentLogger,
      release: { rpm: expected(ps), deb: expected(ps) },
    };
  }

  test('the TTL rule: s-maxage, then max-age, clamped by the policy; no-cache revalidates; no-store is not kept', () => {
    expect(cacheTtlMs('public, max-age=60')).toBe(60_000);
    expect(cacheTtlMs('max-age=60, s-maxage=5')).toBe(5_000);
    expect(cacheTtlMs('no-cache')).toBe(0);
    expect(cacheTtlMs('no-store')).toBeUndefined();
    expect(cacheTtlMs(undefined, { defaultTtl: 10 })).toBe(10_000);
    // A policy with a minimum TTL overrides the origin, no-cache included: what the CDN must not do.
    expect(cacheTtlMs('no-cache', { minTtl: 60 })).toBe(60_000);
    expect(cacheTtlMs('public, max-age=31536000, immutable', { maxTtl: 600 })).toBe(600_000);
  });

  async function publishTwiceThroughCache(
    policy: { minTtl?: number },
    tag: string,
  ): Promise<{ rpm: string[]; deb: string[]; proxy: CachingProxy }> {
    const r = { rpm: `cache-rpm-${tag}`, deb: `cache-deb-${tag}` };
    await store.createBucket(r.rpm);
    await store.createBucket(r.deb);
    const first: FixturePackage[] = [{ name: 'kubelet', version: '1.7.4' }];
    const second: FixturePackage[] = [{ name: 'kubelet', version: '1.7.5' }];
    await publishRepositories(await buildAndOptions(`${tag}-1`, r, first));
    const proxy = await startCachingProxy({ origin: store.endpoint, policy });
    proxies.push(proxy);
    const rpmUrl = `${proxy.endpoint}/${r.rpm}`;
    const debUrl = `${proxy.endpoint}/${r.deb}`;
    // Clients read the repositories through the cache: every object they need is now cached.
    expect(await verifyRpmRepository(rpmUrl, expected(first), silentLogger)).toEqual([]);
    expect(await verifyDebRepository(debUrl, expected(first), silentLogger)).toEqual([]);
    // A publish, and right after it the pipeline's verify through the same cache.
    await publishRepositories(await buildAndOptions(`${tag}-2`, r, second));
    return {
      rpm: await verifyRpmRepository(rpmUrl, expected([...first, ...second]), silentLogger),
      deb: await verifyDebRepository(debUrl, expected([...first, ...second]), silentLogger),
      proxy,
    };
  }

  test('right after a publish, dnf and apt through the cache see the new signed metadata: no bad-signature window', async () => {
    const { rpm, deb, proxy } = await publishTwiceThroughCache({}, 'ok');
    expect(rpm).toEqual([]);
    expect(deb).toEqual([]);
    const s = proxy.stats();
    expect(s.hits).toBeGreaterThan(0); // the cache does cache (hashed metadata, packages)
    expect(s.revalidated + s.misses).toBeGreaterThan(0);
  }, 180_000);

  test('control: a cache that keeps the signed entry files for a minute (minimum TTL 60) serves the old pair, and clients fail', async () => {
    const { rpm, deb } = await publishTwiceThroughCache({ minTtl: 60 }, 'stale');
    // What the CDN's cache policy must not do: the old repomd.xml / InRelease are served, so the
    // new packages are not listed (or the signature does not match what is served).
    expect(rpm.join('\n')).toMatch(/kubelet-1\.7\.5-1 is not listed|dnf rejects/);
    expect(deb.join('\n')).toMatch(/kubelet=1\.7\.5-1 is not listed|does not accept|rejects/);
  }, 180_000);
});
