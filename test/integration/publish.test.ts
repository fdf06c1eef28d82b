import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { primaryFingerprints, ScratchKeyring } from '../../lib/publish/sign';
import { run } from '../../lib/util/exec';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { publishRepositories, PublishOptions, ReleaseContents } from '../../lib/publish';
import { acquireLocks } from '../../lib/publish/lock';
import { bucketOf, getObjectBytes, s3TargetFromEnv } from '../../lib/publish/s3';
import { sha256File } from '../../lib/publish/package-file';
import { putCreateOnly } from '../../lib/publish/upload';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { silentLogger } from '../../lib/util/log';
import {
  ExpectedPackage,
  openScratchApt,
  openScratchDnf,
  verifyDebRepository,
  verifyRepositories,
  verifyRpmRepository,
} from '../../lib/verify';
import { generateTestKeys, TestKeys } from '../support/gpg';
import { buildPackages, buildRpms, FixturePackage } from '../support/packages';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const CLI = path.join(ROOT, 'bin/ket-packages.ts');

describe('publish and verify (integration, slow)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let keys: TestKeys;
  let foreignKeys: TestKeys;
  const trace: string[] = [];
  /** Each request's body sizes, as the store saw them (bytesWritten: what the client sent). */
  const transfers: Array<{ method: string; path: string; status: number; bytesWritten: number }> = [];
  let bucketSeq = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-publish-test-'));
    keys = await generateTestKeys(path.join(dir, 'keys'));
    foreignKeys = await generateTestKeys(path.join(dir, 'foreign-keys'), { name: 'Someone Else' });
    store = await startEmbeddedStore({
      dataDir: path.join(dir, 's3'),
      onRequest: (l) => trace.push(l),
      onTransfer: (t) => transfers.push(t),
    });
    await store.createBucket('ket-state');
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A fresh pair of repository buckets. */
  async function repos(): Promise<{ rpm: string; deb: string }> {
    bucketSeq += 1;
    const r = { rpm: `rpm-repo-${bucketSeq}`, deb: `deb-repo-${bucketSeq}` };
    await store.createBucket(r.rpm);
    await store.createBucket(r.deb);
    return r;
  }

  /** What each build folder's release (its manifest) names. */
  const releases = new Map<string, ReleaseContents>();

  /** A build folder with tiny signed RPMs and DEBs; its release names exactly these. */
  async function build(name: string, packages: FixturePackage[], signWith: TestKeys = keys): Promise<string> {
    const out = path.join(dir, 'builds', name);
    await buildPackages(out, packages, signWith.keysPath);
    releases.set(out, { rpm: rpmExpected(packages), deb: debExpected(packages) });
    return out;
  }

  function options(r: { rpm: string; deb: string }, from: string, extra: Partial<PublishOptions> = {}): PublishOptions {
    return {
      rpmRepo: r.rpm,
      debRepo: r.deb,
      from,
      stateUrl: 's3://ket-state/test',
      signingKey: { keysPath: keys.keysPath },
      env: { ...process.env, ...store.env() },
      logger: silentLogger,
      release: releases.get(from) ?? { rpm: [], deb: [] },
      ...extra,
    };
  }

  const rpmExpected = (ps: FixturePackage[]): ExpectedPackage[] => ps.map((p) => ({ name: p.name, version: `${p.version}-1` }));
  const debExpected = rpmExpected;

  async function verify(r: { rpm: string; deb: string }, ps: FixturePackage[]): Promise<void> {
    await verifyRepositories({
      rpmUrl: store.bucketUrl(r.rpm),
      debUrl: store.bucketUrl(r.deb),
      rpm: rpmExpected(ps),
      deb: debExpected(ps),
      logger: silentLogger,
    });
  }

  /** Writes seen by the store into the given buckets since trace position `from`. */
  function writesTo(r: { rpm: string; deb: string }, from: number): string[] {
    return trace.slice(from).filter((l) => /^(PUT|POST|DELETE) /.test(l) && (l.includes(` /${r.rpm}/`) || l.includes(` /${r.deb}/`)));
  }

  const release1: FixturePackage[] = [
    { name: 'kubelet', version: '1.7.4' },
    { name: 'etcd', version: '3.1.10' },
  ];
  const release2: FixturePackage[] = [
    { name: 'kubelet', version: '1.7.5' },
    { name: 'etcd', version: '3.1.11' },
  ];

  test('first publish into empty buckets, a re-publish writes nothing, a second release keeps the first installable', async () => {
    const r = await repos();
    const b1 = await build('r1', release1);
    const first = await publishRepositories(options(r, b1));
    expect(first.rpm.added).toEqual(['etcd-3.1.10-1.x86_64.rpm', 'kubelet-1.7.4-1.x86_64.rpm']);
    expect(first.deb.added).toHaveLength(2);
    await verify(r, release1);

    const mark = trace.length;
    const again = await publishRepositories(options(r, b1));
    expect(again.rpm.added).toEqual([]);
    expect(again.deb.added).toEqual([]);
    expect(writesTo(r, mark)).toEqual([]);
    expect(trace.slice(mark).some((l) => l.startsWith('DELETE'))).toBe(false);

    const b2 = await build('r2', release2);
    const mark2 = trace.length;
    await publishRepositories(options(r, b2));
    await verify(r, [...release1, ...release2]);
    expect(trace.slice(mark2).some((l) => l.startsWith('DELETE'))).toBe(false);
    // apt made to fetch every index by hash finds them under the strongest hash the Release lists.
    const apt = await openScratchApt(store.bucketUrl(r.deb));
    try {
      const byHash = trace.length;
      const update = await apt.run(['-q', 'update'], 'apt-get update (by hash)', { extraOptions: ['-o', 'Acquire::By-Hash=force'] });
      expect(`${update.stdout}${update.stderr}`).not.toMatch(/^(W|E):/m);
      expect(trace.slice(byHash).some((l) => l.startsWith(`GET /${r.deb}/`) && l.includes('/by-hash/SHA512/'))).toBe(true);
    } finally {
      await apt.dispose();
    }
    // Write order: packages and new hashed metadata (names nothing refers to yet) before any file
    // that names them, and the signed top files last.
    const puts = writesTo(r, mark2).map((l) => l.split(' ')[1].split('?')[0]);
    const rpmPuts = puts.filter((p) => p.startsWith(`/${r.rpm}/`));
    expect(rpmPuts.slice(-2).sort()).toEqual([`/${r.rpm}/repodata/repomd.xml`, `/${r.rpm}/repodata/repomd.xml.asc`]);
    const rpmHashed = (p: string) => p.includes('/packages/') || /\/repodata\/[0-9a-f]{64}-/.test(p);
    expect(rpmPuts.filter(rpmHashed).length).toBeGreaterThan(2);
    expect(lastIndex(rpmPuts, rpmHashed)).toBeLessThan(rpmPuts.findIndex((p) => !rpmHashed(p)));
    const dist = `/${r.deb}/dists/kismatic-xenial`;
    const debPuts = puts.filter((p) => p.startsWith(`/${r.deb}/`));
    const debHashed = (p: string) => p.includes('/pool/') || p.includes('/by-hash/');
    expect(debPuts.filter(debHashed).length).toBeGreaterThan(2);
    expect(lastIndex(debPuts, debHashed)).toBeLessThan(debPuts.findIndex((p) => !debHashed(p)));
    expect(debPuts.slice(debPuts.findIndex((p) => !debHashed(p)))).toEqual(
      expect.arrayContaining([`${dist}/Release`, `${dist}/Release.gpg`, `${dist}/InRelease`]),
    );
    // by-hash copies only under the hash types apt reads them by (the strongest listed).
    expect(debPuts.filter((p) => p.includes('/by-hash/')).map((p) => p.split('/').at(-2))).toEqual(
      expect.arrayContaining(['SHA256', 'SHA512']),
    );
    expect(debPuts.some((p) => /\/by-hash\/(MD5Sum|SHA1)\//.test(p))).toBe(false);
  }, 120_000);

  // Issue 14: createrepo_c starts before the parse, on the build RPMs the bucket does not hold;
  // the parse checks that forecast (test/integration/createrepo.test.ts: createrepo_c lists a
  // package twice when the package list names one the old metadata holds).
  test('the bucket and its metadata disagreeing (an object a killed publish left, a listed object gone): the metadata is built again from the parse, every package listed once, old entries unchanged', async () => {
    const r = await repos();
    const b1 = await build('fc1', release1);
    await publishRepositories(options(r, b1));
    const rpmBucket = bucketOf(s3TargetFromEnv({ ...process.env, ...store.env() }), r.rpm, 'test');
    const before = await primaryXmlOf(store.bucketUrl(r.rpm));
    // A publish that died after its package upload left etcd 3.1.11's object; kubelet 1.7.4's
    // object is gone though the metadata lists it; the build holds both, and kubelet 1.7.5.
    const b2 = await build('fc2', release2);
    for (const [sub, file] of [
      ['rpms', 'kubelet-1.7.4-1.x86_64.rpm'],
      ['debs', 'kubelet_1.7.4-1_amd64.deb'],
    ])
      await copyFile(path.join(b1, sub, file), path.join(b2, sub, file));
    releases.set(b2, { rpm: rpmExpected([release1[0], ...release2]), deb: debExpected([release1[0], ...release2]) });
    const orphan = path.join(b2, 'rpms', 'etcd-3.1.11-1.x86_64.rpm');
    await putCreateOnly(rpmBucket, 'packages/etcd-3.1.11-1.x86_64.rpm', orphan, await sha256File(orphan));
    await fetch(`${store.bucketUrl(r.rpm)}/packages/kubelet-1.7.4-1.x86_64.rpm`, { method: 'DELETE' });
    const notes: string[] = [];
    const logger = { info: (m: string) => notes.push(m), warn: (m: string) => notes.push(m) };
    const published = await publishRepositories(options(r, b2, { logger }));
    expect(published.rpm).toEqual({
      added: ['etcd-3.1.11-1.x86_64.rpm', 'kubelet-1.7.5-1.x86_64.rpm'],
      alreadyPresent: ['kubelet-1.7.4-1.x86_64.rpm'],
    });
    expect(notes.join('\n')).toMatch(
      /the metadata lists packages\/kubelet-1\.7\.4-1\.x86_64\.rpm but the bucket does not hold the object\(s\): clients cannot download them/,
    );
    expect(notes.join('\n')).toMatch(
      /packages\/etcd-3\.1\.11-1\.x86_64\.rpm in the bucket without metadata \(a publish that died before it\): added to the metadata now/,
    );
    expect(notes.join('\n')).toMatch(/createrepo_c again, on the 2 new package\(s\) the metadata does not list/);
    const after = await primaryXmlOf(store.bucketUrl(r.rpm));
    expect(after.locations.sort()).toEqual(
      ['etcd-3.1.10', 'etcd-3.1.11', 'kubelet-1.7.4', 'kubelet-1.7.5'].map((n) => `packages/${n}-1.x86_64.rpm`),
    );
    for (const loc of before.locations) expect(after.entry(loc)).toBe(before.entry(loc));
    expect(await verifyRpmRepository(store.bucketUrl(r.rpm), rpmExpected(release2), silentLogger)).toEqual([]);

    // A bucket that agrees with its metadata: the forecast holds, createrepo_c runs once.
    notes.length = 0;
    const b3 = await build('fc3', [{ name: 'kubectl', version: '1.7.5' }]);
    for (const f of ['etcd-3.1.11-1.x86_64.rpm', 'kubelet-1.7.5-1.x86_64.rpm'])
      await copyFile(path.join(b2, 'rpms', f), path.join(b3, 'rpms', f));
    const withKubectl = [{ name: 'kubectl', version: '1.7.5' }, ...release2];
    releases.set(b3, { rpm: rpmExpected(withKubectl), deb: debExpected([{ name: 'kubectl', version: '1.7.5' }]) });
    const third = await publishRepositories(options(r, b3, { logger }));
    expect(third.rpm.added).toEqual(['kubectl-1.7.5-1.x86_64.rpm']);
    expect(notes.join('\n')).not.toMatch(/createrepo_c again/);
    const last = await primaryXmlOf(store.bucketUrl(r.rpm));
    expect(last.locations).toHaveLength(5);
    for (const loc of after.locations) expect(last.entry(loc)).toBe(after.entry(loc));
  }, 120_000);

  test('aptly keeps no database: the state place is read and written for the locks only (a database an earlier version left there is neither read nor changed); the published index keeps every paragraph byte for byte, the new ones appended, and InRelease lists it', async () => {
    const r = await repos();
    const stateUrl = 's3://ket-state/no-db';
    const legacy = `no-db/aptly/${r.deb}/db.tar.zst`;
    // Not a database: a publish that read it would fail to unpack it.
    await fetch(objectUrl('ket-state', legacy), { method: 'PUT', body: 'left by an earlier version' });
    await publishRepositories(options(r, await build('nodb1', release1), { stateUrl }));
    const before = gunzipSync(await getBytes(r.deb, packagesGz)).toString();
    const mark = trace.length;
    await publishRepositories(options(r, await build('nodb2', release2), { stateUrl }));
    const state = trace.slice(mark).filter((l) => l.includes(' /ket-state/'));
    expect(state.length).toBeGreaterThan(0);
    // (The bucket's HEAD: the check that it exists.)
    expect(state.filter((l) => !/ \/ket-state\/(no-db\/locks\/\S+)? /.test(l))).toEqual([]);
    expect((await getBytes('ket-state', legacy)).toString()).toBe('left by an earlier version');

    const gz = await getBytes(r.deb, packagesGz);
    const after = gunzipSync(gz).toString();
    expect(after.startsWith(before)).toBe(true);
    expect(
      after
        .slice(before.length)
        .match(/^Package: .*$/gm)
        ?.sort(),
    ).toEqual(['Package: etcd', 'Package: kubelet']);
    expect((await getBytes(r.deb, `${dist}/main/binary-amd64/Packages`)).toString()).toBe(after);
    expect(await listedPackagesGz(r.deb)).toEqual({ sha256: sha256Of(gz), size: gz.length });
    await aptInstall(store.bucketUrl(r.deb), ['kubelet=1.7.5-1', 'etcd=3.1.11-1']);
    await verify(r, [...release1, ...release2]);
  }, 120_000);

  test('the same name and version with different bytes is refused and nothing is written', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('c1', [{ name: 'kubectl', version: '1.7.4' }])));
    const changed = await build('c2', [{ name: 'kubectl', version: '1.7.4', salt: 'rebuilt' }]);
    const mark = trace.length;
    await expect(publishRepositories(options(r, changed))).rejects.toThrow(
      /already published under the same name and version with different bytes; nothing was written[\s\S]*kubectl 1\.7\.4-1/,
    );
    expect(writesTo(r, mark)).toEqual([]);
  }, 60_000);

  test('two concurrent publishes into one repository lose nothing', async () => {
    const r = await repos();
    const a: FixturePackage[] = [{ name: 'pkg-a', version: '1.0' }];
    const b: FixturePackage[] = [{ name: 'pkg-b', version: '1.0' }];
    const [ba, bb] = [await build('ca', a), await build('cb', b)];
    await Promise.all([
      publishRepositories(options(r, ba, { stateUrl: 's3://ket-state/concurrent' })),
      publishRepositories(options(r, bb, { stateUrl: 's3://ket-state/concurrent' })),
    ]);
    await verify(r, [...a, ...b]);
  }, 120_000);

  test.each([
    ['an RPM package upload', (r: { rpm: string }) => (l: string) => l.startsWith(`PUT /${r.rpm}/packages/`)],
    ['the RPM hashed metadata', (r: { rpm: string }) => (l: string) => l.startsWith(`PUT /${r.rpm}/repodata/`) && !l.includes('repomd')],
    ['a DEB pool upload', (r: { deb: string }) => (l: string) => l.startsWith(`PUT /${r.deb}/pool/`)],
    ['the DEB by-hash indexes', (r: { deb: string }) => (l: string) => l.startsWith(`PUT /${r.deb}/dists/`) && l.includes('/by-hash/')],
    [
      'the DEB Release file',
      (r: { deb: string }) => (l: string) => /^PUT \/[^/]+\/dists\/kismatic-xenial\/Release[? ]/.test(l) && l.includes(`/${r.deb}/`),
    ],
  ])(
    'a publish killed after %s leaves repositories dnf and apt accept; the next publish completes it',
    async (_point, matcherFor) => {
      const r = await repos();
      await publishRepositories(options(r, await build(`k1-${bucketSeq}`, release1)));
      const b2 = await build(`k2-${bucketSeq}`, release2);
      const matches = matcherFor(r as { rpm: string; deb: string });
      const killed = await runCliKilledAt(
        [
          'publish',
          '--rpm-repo',
          r.rpm,
          '--deb-repo',
          r.deb,
          '--from',
          b2,
          '--state-url',
          's3://ket-state/killed',
          '--lock-ttl',
          '3',
          '--allow-unlisted-packages',
        ],
        matches,
      );
      expect(killed).toBe(true);
      // Old state (or new) accepted by both clients, the old release still served.
      expect(await verifyRpmRepository(store.bucketUrl(r.rpm), rpmExpected(release1), silentLogger)).toEqual([]);
      expect(await verifyDebRepository(store.bucketUrl(r.deb), debExpected(release1), silentLogger)).toEqual([]);
      await publishRepositories(options(r, b2, { stateUrl: 's3://ket-state/killed' }));
      await verify(r, [...release1, ...release2]);
    },
    120_000,
  );

  const dist = 'dists/kismatic-xenial';
  const packagesGz = `${dist}/main/binary-amd64/Packages.gz`;
  const objectUrl = (bucket: string, key: string) => `${store.bucketUrl(bucket)}/${key}`;
  const getBytes = async (bucket: string, key: string) => Buffer.from(await (await fetch(objectUrl(bucket, key))).arrayBuffer());
  /** The SHA256 and size InRelease lists for main/binary-amd64/Packages.gz. */
  async function listedPackagesGz(bucket: string): Promise<{ sha256: string; size: number }> {
    const inRelease = (await getBytes(bucket, `${dist}/InRelease`)).toString('utf8');
    const m = / ([0-9a-f]{64}) +(\d+) main\/binary-amd64\/Packages\.gz\n/.exec(inRelease.slice(inRelease.indexOf('\nSHA256:')))!;
    return { sha256: m[1], size: Number(m[2]) };
  }
  const sha256Of = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  test('a first apt publish interrupted before its Release files: a re-publish of the same build completes it, and apt installs from it', async () => {
    const r = await repos();
    const b1 = await build(`first-${bucketSeq}`, release1);
    await publishRepositories(options(r, b1));
    // What the first publish left when killed after its plain indexes (the top files are written
    // last, together): pool, by-hash and plain indexes, public.key, no Release files.
    for (const top of ['InRelease', 'Release', 'Release.gpg']) await fetch(objectUrl(r.deb, `${dist}/${top}`), { method: 'DELETE' });
    expect((await fetch(objectUrl(r.deb, `${dist}/InRelease`))).status).toBe(404);
    const index = await getBytes(r.deb, packagesGz);

    const again = await publishRepositories(options(r, b1));
    expect(again.deb.added).toEqual([]);
    expect(again.deb.alreadyPresent).toHaveLength(2);
    // Complete: the three top files, signed by the repository's key, listing the index as it is.
    expect(await signerOf(store.bucketUrl(r.deb), `${dist}/InRelease`)).toBe(keys.fingerprint);
    expect(await signerOf(store.bucketUrl(r.deb), `${dist}/Release.gpg`, `${dist}/Release`)).toBe(keys.fingerprint);
    const listed = await listedPackagesGz(r.deb);
    const now = await getBytes(r.deb, packagesGz);
    expect({ sha256: sha256Of(now), size: now.length }).toEqual(listed);
    expect(gunzipSync(now).toString()).toBe(gunzipSync(index).toString());
    await aptInstall(store.bucketUrl(r.deb), ['kubelet=1.7.4-1', 'etcd=3.1.10-1']);
    await verify(r, release1);
    // Complete from then on: the next re-publish writes nothing.
    const mark = trace.length;
    await publishRepositories(options(r, b1));
    expect(writesTo(r, mark)).toEqual([]);
  }, 120_000);

  test('InRelease lost and Packages.gz put back to an older published index: the index Release lists is read, nothing published since is dropped; a lost Release beside InRelease is written again', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build(`older-1-${bucketSeq}`, release1)));
    const older = await getBytes(r.deb, packagesGz);
    await publishRepositories(options(r, await build(`older-2-${bucketSeq}`, release2)));
    expect((await fetch(objectUrl(r.deb, `${dist}/InRelease`), { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(objectUrl(r.deb, packagesGz), { method: 'PUT', body: older })).status).toBe(200);
    const lines: string[] = [];
    const logger = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(`warning: ${m}`) };
    const release3: FixturePackage[] = [{ name: 'kubectl', version: '1.7.6' }];
    const b3 = await build(`older-3-${bucketSeq}`, release3);
    await publishRepositories(options(r, b3, { logger }));
    expect(lines).toContainEqual(expect.stringMatching(/warning: .*InRelease is missing .*Release lists the index/));
    const listed = await listedPackagesGz(r.deb);
    const now = await getBytes(r.deb, packagesGz);
    expect({ sha256: sha256Of(now), size: now.length }).toEqual(listed);
    await aptInstall(store.bucketUrl(r.deb), ['kubelet=1.7.5-1', 'etcd=3.1.11-1', 'kubectl=1.7.6-1']);
    await verify(r, [...release1, ...release2, ...release3]);

    // Release lost while InRelease stays: the same build again writes the top files again.
    expect((await fetch(objectUrl(r.deb, `${dist}/Release`), { method: 'DELETE' })).status).toBe(204);
    await publishRepositories(options(r, b3));
    const inRelease = (await getBytes(r.deb, `${dist}/InRelease`)).toString('utf8');
    const release = (await getBytes(r.deb, `${dist}/Release`)).toString('utf8');
    expect(inRelease).toContain(release.trim());
    expect(await signerOf(store.bucketUrl(r.deb), `${dist}/Release.gpg`, `${dist}/Release`)).toBe(keys.fingerprint);
    await verify(r, [...release1, ...release2, ...release3]);
  }, 180_000);

  test('a published package lost from the pool is sent again by a publish of its build; one holding other bytes is refused naming it, nothing written', async () => {
    const r = await repos();
    const b1 = await build(`pool-lost-${bucketSeq}`, release1);
    await publishRepositories(options(r, b1));
    const lostKey = 'pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb';
    const bytes = await getBytes(r.deb, lostKey);
    expect((await fetch(objectUrl(r.deb, lostKey), { method: 'DELETE' })).status).toBe(204);
    const again = await publishRepositories(options(r, b1));
    expect(again.deb.added).toEqual([]);
    expect((await getBytes(r.deb, lostKey)).equals(bytes)).toBe(true);
    await aptInstall(store.bucketUrl(r.deb), ['kubelet=1.7.4-1', 'etcd=3.1.10-1']);

    const otherKey = 'pool/main/e/etcd/etcd_3.1.10-1_amd64.deb';
    const put = await fetch(objectUrl(r.deb, otherKey), {
      method: 'PUT',
      body: 'other bytes',
      headers: { 'x-amz-meta-sha256': 'f'.repeat(64) },
    });
    expect(put.status).toBe(200);
    const mark = trace.length;
    await expect(publishRepositories(options(r, b1))).rejects.toThrow(
      `${otherKey} holds other bytes than the index lists (sha256 ${'f'.repeat(64)}, listed `,
    );
    expect(writesTo(r, mark)).toEqual([]);
  }, 120_000);

  test('an index without InRelease (its top files lost) that lists a package the pool lacks is refused naming the file; nothing written', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build(`lost-top-1-${bucketSeq}`, release1)));
    const b2 = await build(`lost-top-2-${bucketSeq}`, release2);
    await publishRepositories(options(r, b2));
    for (const top of ['InRelease', 'Release', 'Release.gpg']) await fetch(objectUrl(r.deb, `${dist}/${top}`), { method: 'DELETE' });
    const gone = 'pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb';
    expect((await fetch(objectUrl(r.deb, gone), { method: 'DELETE' })).status).toBe(204);
    const mark = trace.length;
    // (The build's own packages are sent again, completing the pool: only the others are checked.)
    await expect(publishRepositories(options(r, b2))).rejects.toThrow(
      new RegExp(
        `has no signed listing .* lists 1 package\\(s\\) the pool lacks or holds with other bytes \\(${gone.replace(/\./g, '\\.')}: missing\\)`,
      ),
    );
    expect(writesTo(r, mark)).toEqual([]);
  }, 120_000);

  test("aptly's index files are sent once: their other by-hash name is copied in the bucket, or sent where the first was there already (a run killed in its first round); apt finds every one by hash", async () => {
    const r = await repos();
    const b1 = await build(`by-hash-${bucketSeq}`, release1);
    /** Every by-hash key InRelease implies for the component's files, with the hash each must have. */
    const listedByHash = async () => {
      const inRelease = (await getBytes(r.deb, `${dist}/InRelease`)).toString('utf8');
      const out: Array<{ key: string; type: 'sha256' | 'sha512'; hash: string }> = [];
      for (const [section, type] of [
        ['SHA256', 'sha256'],
        ['SHA512', 'sha512'],
      ] as const) {
        const lines = inRelease.slice(inRelease.indexOf(`\n${section}:\n`) + section.length + 3).split('\n');
        for (const line of lines) {
          const m = /^ ([0-9a-f]+) +\d+ (main\/binary-amd64)\/\S+$/.exec(line);
          if (!m) break;
          out.push({ key: `${dist}/${m[2]}/by-hash/${section}/${m[1]}`, type, hash: m[1] });
        }
      }
      return out;
    };
    const expectAllServed = async () => {
      const listed = await listedByHash();
      expect(listed.filter((l) => l.type === 'sha512').length).toBeGreaterThanOrEqual(3); // Packages, Packages.gz, Release
      for (const l of listed)
        expect(
          createHash(l.type)
            .update(await getBytes(r.deb, l.key))
            .digest('hex'),
        ).toBe(l.hash);
      return listed;
    };
    const sent = (from: number, key: string) =>
      transfers.slice(from).filter((t) => t.method === 'PUT' && t.status === 200 && t.path === `/${r.deb}/${key}`);

    let mark = transfers.length;
    await publishRepositories(options(r, b1));
    // Each index went up once, under its SHA256 name; its SHA512 name is a copy (no body sent).
    for (const l of await expectAllServed()) {
      const puts = sent(mark, l.key);
      expect(puts).toHaveLength(1);
      if (l.type === 'sha256') expect(puts[0].bytesWritten).toBeGreaterThan(0);
      else expect(puts[0].bytesWritten).toBe(0);
    }

    // Killed during its first round: the SHA256 names are in, the SHA512 ones and the top files not.
    const sha512 = (await listedByHash()).filter((l) => l.type === 'sha512');
    for (const l of sha512) await fetch(objectUrl(r.deb, l.key), { method: 'DELETE' });
    for (const top of ['InRelease', 'Release', 'Release.gpg']) await fetch(objectUrl(r.deb, `${dist}/${top}`), { method: 'DELETE' });
    mark = transfers.length;
    await publishRepositories(options(r, b1));
    await expectAllServed();
    // The same indexes again: the SHA256 names were there (412), so each SHA512 name was sent itself.
    for (const l of sha512) expect(sent(mark, l.key).map((t) => t.bytesWritten > 0)).toEqual([true]);
    const apt = await openScratchApt(store.bucketUrl(r.deb));
    try {
      const update = await apt.run(['-q', 'update'], 'apt-get update (by hash)', { extraOptions: ['-o', 'Acquire::By-Hash=force'] });
      expect(`${update.stdout}${update.stderr}`).not.toMatch(/^(W|E):/m);
    } finally {
      await apt.dispose();
    }
  }, 120_000);

  /** Every object of a bucket with its ETag (ListObjectsV2's XML as the store answers it). */
  const objectsOf = async (bucket: string) => (await fetch(`${store.bucketUrl(bucket)}?list-type=2`)).text();

  test('a Packages.gz other than the one InRelease lists, written by no publish (a forged index): refused naming the file and the repository, nothing written', async () => {
    const r = await repos();
    const b1 = await build('forged1', release1);
    await publishRepositories(options(r, b1));
    // Valid gzip, a valid index: kubelet's SHA256 changed (other bytes under the published version).
    const index = gunzipSync(await getBytes(r.deb, packagesGz)).toString();
    const forged = index.replace(/^(Package: kubelet\n(?:.+\n)*?SHA256: )[0-9a-f]{64}$/m, `$1${'0'.repeat(64)}`);
    expect(forged).not.toBe(index);
    await fetch(objectUrl(r.deb, packagesGz), { method: 'PUT', body: gzipSync(forged) });
    const before = await Promise.all([objectsOf(r.rpm), objectsOf(r.deb)]);
    const mark = trace.length;
    const { sha256, size } = await listedPackagesGz(r.deb);
    for (const b of [await build('forged2', release2), b1])
      await expect(publishRepositories(options(r, b))).rejects.toThrow(
        new RegExp(
          `${r.deb}.*: ${packagesGz} holds other bytes than ${dist}/InRelease lists \\(SHA256 [0-9a-f]{64}, \\d+ bytes; ${dist}/InRelease lists it with SHA256 ${sha256}, ${size} bytes\\), and no publish wrote them.*the repository is damaged; nothing written`,
        ),
      );
    expect(writesTo(r, mark)).toEqual([]);
    expect(await Promise.all([objectsOf(r.rpm), objectsOf(r.deb)])).toEqual(before);
  }, 120_000);

  test('a Packages.gz older than the one InRelease lists (what a publish killed among its last writes leaves): the publish reads the listed index and writes the tree again', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('older1', release1)));
    const older = await getBytes(r.deb, packagesGz);
    const b2 = await build('older2', release2);
    await publishRepositories(options(r, b2));
    await fetch(objectUrl(r.deb, packagesGz), { method: 'PUT', body: older });
    // Nothing new: still the listed index decides (release2 is published), and Packages.gz is fixed.
    const again = await publishRepositories(options(r, b2));
    expect(again.deb.added).toEqual([]);
    expect(again.deb.alreadyPresent).toHaveLength(2);
    const now = await getBytes(r.deb, packagesGz);
    expect({ sha256: sha256Of(now), size: now.length }).toEqual(await listedPackagesGz(r.deb));
    expect(gunzipSync(now).toString()).toMatch(/^Version: 1\.7\.5-1$/m);
    await verify(r, [...release1, ...release2]);
  }, 120_000);

  test('verify fails on tampered metadata and on a repository signed by a foreign key', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('t1', release1)));
    await verify(r, release1);
    // A package the manifest wants but the repository lacks.
    await expect(verify(r, [...release1, { name: 'kubectl', version: '9.9' }])).rejects.toThrow(
      /kubectl-9\.9-1 is not listed[\s\S]*kubectl=9\.9-1 is not listed/,
    );
    // Tampered metadata: repomd.xml and Release changed after signing.
    const put = (bucket: string, key: string, body: string) => fetch(`${store.bucketUrl(bucket)}/${key}`, { method: 'PUT', body });
    const repomd = await (await fetch(`${store.bucketUrl(r.rpm)}/repodata/repomd.xml`)).text();
    await put(r.rpm, 'repodata/repomd.xml', repomd.replace('<revision>', '<revision>1'));
    const inRelease = await (await fetch(`${store.bucketUrl(r.deb)}/dists/kismatic-xenial/InRelease`)).text();
    await put(r.deb, 'dists/kismatic-xenial/InRelease', inRelease.replace('Suite: kismatic-xenial', 'Suite: kismatic-xenial-tampered'));
    expect(await verifyRpmRepository(store.bucketUrl(r.rpm), rpmExpected(release1), silentLogger)).toEqual([
      expect.stringMatching(/dnf rejects the repository metadata/),
    ]);
    expect(await verifyDebRepository(store.bucketUrl(r.deb), debExpected(release1), silentLogger)).toEqual([
      expect.stringMatching(/apt-get update (does not accept|rejects)/),
    ]);

    // A repository published with someone else's key: clients with the published key... of the other.
    const f = await repos();
    await publishRepositories(options(f, await build('t2', release1, foreignKeys), { signingKey: { keysPath: foreignKeys.keysPath } }));
    await put(f.rpm, 'public.key', await readText(keys.publicKeyPath));
    await put(f.deb, 'public.key', await readText(keys.publicKeyPath));
    expect(await verifyRpmRepository(store.bucketUrl(f.rpm), rpmExpected(release1), silentLogger)).toEqual([
      expect.stringMatching(/dnf rejects/),
    ]);
    expect((await verifyDebRepository(store.bucketUrl(f.deb), debExpected(release1), silentLogger)).join('\n')).toMatch(
      /NO_PUBKEY|not signed|public key is not available|does not accept/,
    );
  }, 120_000);

  test('metadata whose signature is missing or does not match is not built on: refused, nothing written; allowKeyChange signs it again, dnf installs', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('ms1', release1)));
    const b2 = await build('ms2', release2);
    const url = (key: string) => `${store.bucketUrl(r.rpm)}/${key}`;
    const asc = Buffer.from(await (await fetch(url('repodata/repomd.xml.asc'))).arrayBuffer());
    await fetch(url('repodata/repomd.xml.asc'), { method: 'DELETE' });
    const mark = trace.length;
    await expect(publishRepositories(options(r, b2))).rejects.toThrow(
      `RPM repository s3://${r.rpm}: its metadata has no signature (the detached signature file is missing): the repository is damaged or was changed by someone else`,
    );
    // A signature of other bytes (a publish killed between repomd.xml and its signature).
    const repomd = await (await fetch(url('repodata/repomd.xml'))).text();
    await fetch(url('repodata/repomd.xml.asc'), { method: 'PUT', body: asc });
    await fetch(url('repodata/repomd.xml'), { method: 'PUT', body: repomd.replace('<revision>', '<revision>1') });
    await expect(publishRepositories(options(r, b2))).rejects.toThrow(
      /its metadata signature is not a good signature by any key of its public\.key/,
    );
    expect(writesTo(r, mark).filter((l) => !l.includes('repodata/repomd.xml'))).toEqual([]);
    // Checked and accepted by the engineer: signed again as it is, the new packages added.
    await publishRepositories(options(r, b2, { allowKeyChange: true }));
    await verify(r, release2);
    // A repomd.xml that is no XML at all is refused naming the repository and the file.
    await fetch(url('repodata/repomd.xml'), { method: 'PUT', body: '' });
    await expect(publishRepositories(options(r, b2, { allowKeyChange: true }))).rejects.toThrow(
      `RPM repository s3://${r.rpm}: repomd.xml is not well-formed XML`,
    );
  }, 120_000);

  test('key rotation: refused without allowKeyChange; with it every metadata file is re-signed even with nothing new, public.key keeps the old key, old and new packages install, the retired key is refused', async () => {
    const r = await repos();
    const b1 = await build('k1', release1);
    await publishRepositories(options(r, b1));
    const mark = trace.length;
    const asB = { signingKey: { keysPath: foreignKeys.keysPath } };
    await expect(publishRepositories(options(r, b1, asB))).rejects.toThrow(
      new RegExp(
        `its metadata is signed by key ${keys.fingerprint}, but this publish signs with ${foreignKeys.fingerprint}.*rotate.*nothing was written`,
      ),
    );
    expect(writesTo(r, mark)).toEqual([]);

    // The same build, the new key, nothing new: every signed entry file is signed again by B.
    const rotated = await publishRepositories(options(r, b1, { ...asB, allowKeyChange: true }));
    expect(rotated.rpm.added).toEqual([]);
    expect(rotated.deb.added).toEqual([]);
    expect(await signerOf(store.bucketUrl(r.rpm), 'repodata/repomd.xml.asc', 'repodata/repomd.xml')).toBe(foreignKeys.fingerprint);
    expect(await signerOf(store.bucketUrl(r.deb), 'dists/kismatic-xenial/Release.gpg', 'dists/kismatic-xenial/Release')).toBe(
      foreignKeys.fingerprint,
    );
    expect(await signerOf(store.bucketUrl(r.deb), 'dists/kismatic-xenial/InRelease')).toBe(foreignKeys.fingerprint);
    for (const bucket of [r.rpm, r.deb])
      expect(await keysIn(store.bucketUrl(bucket))).toEqual([keys.fingerprint, foreignKeys.fingerprint].sort());
    await verify(r, release1);

    // A new release signed by B; old (A-signed) and new (B-signed) packages install with every check on.
    const b2 = await build('k2', release2, foreignKeys);
    await publishRepositories(options(r, b2, asB));
    await dnfInstall(store.bucketUrl(r.rpm), ['kubelet-1.7.4-1', 'etcd-3.1.11-1']);
    await aptInstall(store.bucketUrl(r.deb), ['kubelet=1.7.4-1', 'etcd=3.1.11-1']);

    // The retired key A is in public.key but no longer signs the metadata: refused.
    const mark2 = trace.length;
    await expect(publishRepositories(options(r, await build('k3', [{ name: 'late', version: '1.0' }])))).rejects.toThrow(
      new RegExp(
        `signed by key ${foreignKeys.fingerprint}, but this publish signs with ${keys.fingerprint}.*retired key of this repository`,
      ),
    );
    expect(writesTo(r, mark2)).toEqual([]);
  }, 240_000);

  test('an RPM without a valid signature by the repository key is refused before any write, naming each file', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('s0', release1)));
    // One RPM signed by a key public.key does not hold, one with its signature removed (rpmsign --delsign).
    const foreign = await build('s1', [{ name: 'foreign-signed', version: '1.0' }], foreignKeys);
    const b = await build('s2', [
      { name: 'unsigned', version: '1.0' },
      { name: 'good', version: '1.0' },
    ]);
    await run('rpmsign', ['--delsign', path.join(b, 'rpms', 'unsigned-1.0-1.x86_64.rpm')]);
    await copyFile(path.join(foreign, 'rpms', 'foreign-signed-1.0-1.x86_64.rpm'), path.join(b, 'rpms', 'foreign-signed-1.0-1.x86_64.rpm'));
    await copyFile(path.join(foreign, 'debs', 'foreign-signed_1.0-1_amd64.deb'), path.join(b, 'debs', 'foreign-signed_1.0-1_amd64.deb'));
    const release = {
      rpm: rpmExpected([
        ...release1,
        { name: 'unsigned', version: '1.0' },
        { name: 'good', version: '1.0' },
        { name: 'foreign-signed', version: '1.0' },
      ]),
      deb: [] as ExpectedPackage[],
    };
    release.deb = release.rpm;
    const mark = trace.length;
    const refusal = publishRepositories(options(r, b, { release }));
    await expect(refusal).rejects.toThrow(/nothing was written/);
    const message = await refusal.catch((e: Error) => e.message);
    expect(message).toMatch(
      /foreign-signed-1\.0-1\.x86_64\.rpm: no valid signature by the repository's key: signed by a key the repository's public\.key does not hold/,
    );
    expect(message).toMatch(/unsigned-1\.0-1\.x86_64\.rpm: it is not signed/);
    expect(message).not.toMatch(/good-1\.0-1/);
    expect(writesTo(r, mark)).toEqual([]);
    // createrepo_c started on the three new RPMs before the signatures were known; the refusal
    // stopped it and waited for it to end.
    const children = (await run('ps', ['-o', 'comm=', '--ppid', String(process.pid)]).catch(() => ({ stdout: '' }))).stdout;
    expect(children.split('\n').filter((c) => /^(createrepo_c|gpg|rpmkeys)$/.test(c.trim()))).toEqual([]);
  }, 120_000);

  test('a missing bucket, a wrong endpoint or a missing key is a clear error and nothing is written', async () => {
    const r = await repos();
    const b = await build('e1', release1);
    const mark = trace.length;
    await expect(publishRepositories(options({ rpm: r.rpm, deb: 'no-such-bucket' }, b))).rejects.toThrow(
      /DEB repository s3:\/\/no-such-bucket: the bucket does not exist/,
    );
    await expect(publishRepositories(options(r, b, { stateUrl: 's3://no-such-state/x' }))).rejects.toThrow(
      /state \(stateUrl\) s3:\/\/no-such-state: the bucket does not exist/,
    );
    const emptyKeys = path.join(dir, 'empty-keys');
    await mkdir(emptyKeys, { recursive: true });
    await expect(publishRepositories(options(r, b, { signingKey: { keysPath: emptyKeys } }))).rejects.toThrow(/no private\.key/);
    await expect(publishRepositories(options(r, b, { signingKey: {} }))).rejects.toThrow(/needs a GPG key/);
    await expect(
      publishRepositories(options(r, b, { env: { ...process.env, ...store.env(), AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' } })),
    ).rejects.toThrow(/cannot reach the S3 endpoint at http:\/\/127\.0\.0\.1:9/);
    await expect(publishRepositories(options(r, path.join(dir, 'no-build')))).rejects.toThrow(/no such directory/);
    expect(writesTo(r, mark)).toEqual([]);
    expect(trace.slice(mark).filter((l) => l.includes('/no-such-bucket/') && l.startsWith('PUT'))).toEqual([]);
  }, 60_000);

  // Issue 14: primary.xml is parsed while it downloads; a damaged or missing one still refuses the
  // publish naming the file, and nothing is written.
  test('a truncated, damaged, miscounted or missing primary.xml refuses the publish, naming the file; nothing is written', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('pr1', release1)));
    const b2 = await build('pr2', release2);
    const repomd = await (await fetch(`${store.bucketUrl(r.rpm)}/repodata/repomd.xml`)).text();
    const href = /href="(repodata\/[0-9a-f]{64}-primary\.xml\.gz)"/.exec(repomd)![1];
    const url = `${store.bucketUrl(r.rpm)}/${href}`;
    const original = Buffer.from(await (await fetch(url)).arrayBuffer());
    const xml = gunzipSync(original).toString('utf8');
    const put = (body: Buffer) => fetch(url, { method: 'PUT', body });
    const mark = trace.length;
    // Each damage is caught by the checksum repomd.xml (signed) lists for the file, before any
    // entry is read (the readers' own refusals: test/unit/publish.test.ts).
    const damaged = [
      xml.slice(0, xml.lastIndexOf('</package>')),
      xml.replace('</arch>', '</name>').replace('</metadata>', `<!-- ${randomBytes(1 << 20).toString('hex')} --></metadata>`),
      xml.replace(/packages="\d+"/, 'packages="3"'),
    ];
    for (const body of damaged) {
      await put(gzipSync(body));
      await expect(publishRepositories(options(r, b2))).rejects.toThrow(
        new RegExp(
          `${href.replace(/[.]/g, '\\.')} does not match the sha256 checksum repomd\\.xml lists for it \\([0-9a-f]{64}, found [0-9a-f]{64}\\); the repository is damaged`,
        ),
      );
    }
    // filelists and other are checked too (their entries are appended as they are: damage would be carried on).
    const otherHref = /href="(repodata\/[0-9a-f]{64}-other\.xml\.gz)"/.exec(repomd)![1];
    const otherUrl = `${store.bucketUrl(r.rpm)}/${otherHref}`;
    const other = Buffer.from(await (await fetch(otherUrl)).arrayBuffer());
    await fetch(otherUrl, {
      method: 'PUT',
      body: gzipSync(gunzipSync(other).toString('utf8').replace('</otherdata>', '<!-- --></otherdata>')),
    });
    // Both damaged: each named, and counted as the two problems listed.
    const both = await publishRepositories(options(r, b2)).catch((e: Error) => e);
    expect(String(both)).toMatch(/publish refused \(2 problem\(s\)\); nothing was written:\n- RPM repository .*\n- RPM repository .*$/);
    expect(String(both)).toContain(`${href} does not match the sha256 checksum`);
    expect(String(both)).toContain(`${otherHref} does not match the sha256 checksum`);
    await put(original);
    await expect(publishRepositories(options(r, b2))).rejects.toThrow(
      `${otherHref} does not match the sha256 checksum repomd.xml lists for it`,
    );
    await fetch(otherUrl, { method: 'PUT', body: other });
    await fetch(url, { method: 'DELETE' });
    await expect(publishRepositories(options(r, b2))).rejects.toThrow(
      `RPM repository s3://${r.rpm}: repomd.xml lists ${href} but it is missing from the bucket; the repository is damaged`,
    );
    // (the test's own writes of the two files aside)
    expect(writesTo(r, mark).filter((l) => !l.includes(href) && !l.includes(otherHref))).toEqual([]);
  }, 120_000);

  // Issue 11, item 1: every package file is checked before the first write of either repository.
  test('a DEB of an architecture the repository does not serve, or an unreadable one, is refused naming the file; nothing is written to either repository', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('i0', release1)));
    const b = await build('i1', [
      { name: 'kubelet', version: '1.7.5' },
      { name: 'kubelet-arm', version: '1.7.5', debArch: 'arm64' },
      { name: 'kismatic-docs', version: '1.0', debArch: 'all' },
    ]);
    await writeFile(path.join(b, 'debs', 'broken_1.0-1_amd64.deb'), 'not an ar archive');
    const mark = trace.length;
    const message = await publishRepositories(options(r, b)).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(message).toMatch(/nothing was written/);
    expect(message).toMatch(/kubelet-arm_1\.7\.5-1_arm64\.deb: Architecture 'arm64' is not served by the DEB repository \(amd64, all\)/);
    expect(message).toMatch(/broken_1\.0-1_amd64\.deb: cannot read its control fields/);
    expect(message).not.toMatch(/kismatic-docs/);
    expect(writesTo(r, mark)).toEqual([]);
    // Without the bad files the same build publishes, the architecture-free one included.
    await rm(path.join(b, 'debs', 'kubelet-arm_1.7.5-1_arm64.deb'));
    await rm(path.join(b, 'debs', 'broken_1.0-1_amd64.deb'));
    const ok = await publishRepositories(options(r, b));
    expect(ok.deb.added).toEqual(['kismatic-docs_1.0-1_all.deb', 'kubelet_1.7.5-1_amd64.deb']);
  }, 120_000);

  // Item 2: keys and digests clients reject are refused up front, naming the key.
  test.each([
    ['DSA-1024', { algo: 'dsa1024' }, /is DSA-1024: CentOS 7's rpm 4\.11 cannot verify/],
    ['RSA-1024', { algo: 'rsa1024' }, /is RSA-1024: .*below 2048 bits/],
    ['expired', { createdAt: '20200101T000000', expire: '1d' }, /expired on 2020-01-02/],
  ])(
    'a %s signing key is refused before any write, naming the key',
    async (_what, keyOpts, rule) => {
      const weak = await generateTestKeys(path.join(dir, `weak-${bucketSeq}-${_what}`), { name: `Weak ${_what}`, ...keyOpts });
      const r = await repos();
      const mark = trace.length;
      await expect(
        publishRepositories(options(r, await build(`w-${_what}`, release1), { signingKey: { keysPath: weak.keysPath } })),
      ).rejects.toThrow(new RegExp(`key ${weak.fingerprint} ${rule.source}`));
      expect(writesTo(r, mark)).toEqual([]);
      // The repositories are read while the key opens: whatever aptly or createrepo_c was doing
      // when the key was refused has ended (a leftover aptly kept the process alive).
      const children = await run('ps', ['-o', 'comm=', '--ppid', String(process.pid)]).then(
        (o) => o.stdout,
        () => '',
      );
      expect(children.split('\n').filter((c) => /^(aptly|createrepo_c|tar|gpg|rpmkeys)$/.test(c.trim()))).toEqual([]);
    },
    60_000,
  );

  test('a key expiring within 90 days publishes with a warning; every signature is SHA-512', async () => {
    const soon = await generateTestKeys(path.join(dir, 'soon-keys'), { name: 'Soon', expire: '30d' });
    const r = await repos();
    const warnings: string[] = [];
    const logger = { info: () => undefined, warn: (m: string) => warnings.push(m) };
    await publishRepositories(options(r, await build('soon', release1, soon), { signingKey: { keysPath: soon.keysPath }, logger }));
    expect(warnings.join('\n')).toMatch(new RegExp(`key ${soon.fingerprint} expires on \\d{4}-\\d\\d-\\d\\d \\(in (29|30) days\\)`));
    expect(await signerOf(store.bucketUrl(r.rpm), 'repodata/repomd.xml.asc', 'repodata/repomd.xml')).toBe(soon.fingerprint);
    expect(await signerOf(store.bucketUrl(r.deb), 'dists/kismatic-xenial/Release.gpg', 'dists/kismatic-xenial/Release')).toBe(
      soon.fingerprint,
    );
    expect(await signerOf(store.bucketUrl(r.deb), 'dists/kismatic-xenial/InRelease')).toBe(soon.fingerprint);
  }, 60_000);

  // Item 4: all checks of both repositories before the first write of either; every failure reported.
  test('a new RPM plus a DEB that conflicts with a published one writes nothing to either repository; failures of both sides are all reported', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('h1', [{ name: 'kubectl', version: '1.7.4' }])));
    // New RPM (other version) but the DEB of the same name and version rebuilt with other bytes.
    const b = await build('h2', [{ name: 'kubectl', version: '1.7.4', salt: 'rebuilt' }]);
    await rm(path.join(b, 'rpms'), { recursive: true });
    await buildRpms(path.join(b, 'rpms'), [{ name: 'kubectl', version: '1.7.5' }], { keysPath: keys.keysPath });
    const release = {
      rpm: rpmExpected([{ name: 'kubectl', version: '1.7.5' }]),
      deb: debExpected([{ name: 'kubectl', version: '1.7.4' }]),
    };
    const mark = trace.length;
    await expect(publishRepositories(options(r, b, { release }))).rejects.toThrow(
      /nothing was written:\n- DEB repository s3:\/\/deb-repo-\d+: 1 package\(s\) already published under the same name and version with different bytes/,
    );
    expect(writesTo(r, mark)).toEqual([]);
    // Both sides conflicting: both reported.
    const both = await build('h3', [{ name: 'kubectl', version: '1.7.4', salt: 'rebuilt again' }]);
    const message = await publishRepositories(options(r, both)).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(message).toMatch(/RPM repository s3:\/\/rpm-repo-\d+: 1 package\(s\) already published/);
    expect(message).toMatch(/DEB repository s3:\/\/deb-repo-\d+: 1 package\(s\) already published/);
    expect(writesTo(r, mark)).toEqual([]);
  }, 120_000);

  // Item 5: epochs.
  test('an epoch-only version change says what collides (file names drop the epoch) on both sides, before aptly; verify tells 2:1.0-1 from 1.0-1', async () => {
    const r = await repos();
    const e2 = [{ name: 'epochal', version: '1.0', epoch: 2 }];
    const b2 = await build('ep2', e2);
    await publishRepositories(
      options(r, b2, { release: { rpm: [{ name: 'epochal', version: '2:1.0-1' }], deb: [{ name: 'epochal', version: '2:1.0-1' }] } }),
    );
    const b3 = await build('ep3', [{ name: 'epochal', version: '1.0', epoch: 3 }]);
    const mark = trace.length;
    const message = await publishRepositories(
      options(r, b3, { release: { rpm: [{ name: 'epochal', version: '3:1.0-1' }], deb: [{ name: 'epochal', version: '3:1.0-1' }] } }),
    ).then(
      () => '',
      (e: Error) => e.message,
    );
    expect(message).toMatch(
      /epochal 3:1\.0-1 would be stored as epochal-1\.0-1\.x86_64\.rpm, which already holds the published epochal 2:1\.0-1: RPM file names carry no epoch/,
    );
    expect(message).toMatch(
      /epochal 3:1\.0-1 would be stored as epochal_1\.0-1_amd64\.deb, which already holds the published epochal 2:1\.0-1: Debian file names carry no epoch/,
    );
    expect(message).not.toMatch(/aptly|no such file|same name and version/);
    expect(writesTo(r, mark)).toEqual([]);
    // verify compares full EVRs: the repository serves 2:1.0-1, not 1.0-1.
    expect(await verifyRpmRepository(store.bucketUrl(r.rpm), [{ name: 'epochal', version: '1.0-1' }], silentLogger)).toEqual([
      expect.stringMatching(/epochal-1\.0-1 is not listed \(listed versions of epochal: 2:1\.0-1\)/),
    ]);
    expect(await verifyDebRepository(store.bucketUrl(r.deb), [{ name: 'epochal', version: '1.0-1' }], silentLogger)).toEqual([
      expect.stringMatching(/epochal=1\.0-1 is not listed \(listed versions of epochal: 2:1\.0-1\)/),
    ]);
  }, 120_000);

  // Item 7: the build must match the release; verify reports the rest.
  test('a package the release does not name is refused unless allowStrays; verify warns about strays and notes other versions', async () => {
    const r = await repos();
    const b = await build('st1', [...release1, { name: 'stray', version: '0.1' }]);
    const mark = trace.length;
    await expect(
      publishRepositories(options(r, b, { release: { rpm: rpmExpected(release1), deb: debExpected(release1) } })),
    ).rejects.toThrow(
      /stray-0\.1-1\.x86_64\.rpm: stray is not a package of the release manifest[\s\S]*stray_0\.1-1_amd64\.deb: stray is not a package/,
    );
    expect(writesTo(r, mark)).toEqual([]);
    await publishRepositories(options(r, b, { release: { rpm: rpmExpected(release1), deb: debExpected(release1) }, allowStrays: true }));
    await publishRepositories(options(r, await build('st2', release2)));
    const notes: string[] = [];
    const logger = { info: (m: string) => notes.push(`info: ${m}`), warn: (m: string) => notes.push(`warn: ${m}`) };
    expect(await verifyRpmRepository(store.bucketUrl(r.rpm), rpmExpected(release2), logger)).toEqual([]);
    expect(await verifyDebRepository(store.bucketUrl(r.deb), debExpected(release2), logger)).toEqual([]);
    const text = notes.join('\n');
    // The summary counts the release's packages found, not the stray or the older versions.
    const found = `${release2.length} of ${release2.length} expected package\\(s\\) listed at their exact versions`;
    expect(text).toMatch(new RegExp(`info: dnf: .* metadata signature OK, ${found}$`, 'm'));
    expect(text).toMatch(new RegExp(`info: apt-get: .* accepted \\(InRelease signature OK\\), ${found}$`, 'm'));
    expect(text).toMatch(/info: RPM repository .*: also serves other versions of the release's packages: .*kubelet 1\.7\.4-1/);
    expect(text).toMatch(/warn: RPM repository .*: serves stray 0\.1-1, which the release manifest does not name/);
    expect(text).toMatch(/info: DEB repository .*: also serves other versions .*etcd 3\.1\.10-1/);
    expect(text).toMatch(/warn: DEB repository .*: serves stray 0\.1-1/);
    expect(text).not.toMatch(/warn: .*(kubelet|etcd)/);
  }, 120_000);

  test('a refusal does not wait for locks another publish holds, and leaves them as they were', async () => {
    const r = await repos();
    const b = await build('held1', [...release1, { name: 'stray', version: '0.1' }]);
    const env = { ...process.env, ...store.env() };
    const target = s3TargetFromEnv(env);
    // Another publish holds the RPM repository's lock for the next minute.
    const other = await acquireLocks(target, [
      { bucket: 'ket-state', key: `held/locks/${r.rpm}.lock`, what: 'other', logger: silentLogger, ttlMs: 60_000 },
    ]);
    try {
      const mark = trace.length;
      const started = Date.now();
      await expect(
        publishRepositories(
          options(r, b, {
            stateUrl: 's3://ket-state/held',
            release: { rpm: rpmExpected(release1), deb: debExpected(release1) },
            lockWaitMs: 60_000,
          }),
        ),
      ).rejects.toThrow(/publish refused[\s\S]*stray-0\.1-1\.x86_64\.rpm: stray is not a package of the release manifest/);
      expect(Date.now() - started).toBeLessThan(30_000); // refused, not after the other's 60 s
      expect(writesTo(r, mark)).toEqual([]);
      const record = await getObjectBytes(bucketOf(target, 'ket-state', 'state'), `held/locks/${r.rpm}.lock`);
      expect(JSON.parse(record!.body.toString()).owner).toBe(other.held[0].owner);
    } finally {
      await other.release();
      target.client.destroy();
    }
  }, 120_000);

  // Item 6: secrets are cleaned on every path, signals included.
  describe('secrets are cleaned on every path', () => {
    /** Runs the CLI with its own TMPDIR; returns its exit code, stderr and what is left behind. */
    async function runCli(
      args: string[],
      opts: {
        keysPath?: string;
        env?: Record<string, string>;
        signalWhen?: (tmp: string) => boolean;
        signal?: NodeJS.Signals;
        /** Signal a second time right after the first (the CLI then quits at once). */
        twice?: boolean;
      } = {},
    ) {
      const tmp = await mkdtemp(path.join(dir, 'cli-tmp-'));
      // node --import tsx: one process, so the signal reaches the CLI itself (tsx's own CLI would relay it).
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
        cwd: ROOT,
        env: { ...process.env, ...store.env(), KEYS_PATH: opts.keysPath ?? keys.keysPath, TMPDIR: tmp, ...opts.env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      let sent = false;
      const timer = setInterval(() => {
        if (!sent && opts.signalWhen?.(tmp)) {
          sent = child.kill(opts.signal);
          if (opts.twice) setTimeout(() => child.kill(opts.signal), 20);
        }
      }, 20);
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      clearInterval(timer);
      // tsx runs the CLI in a grandchild: wait for the whole tree (and any gpg-agent it left) to go.
      await new Promise((r) => setTimeout(r, 500));
      const left = readdirSync(tmp).filter((n) => !n.startsWith('tsx-'));
      const agents = (await run('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes('gpg-agent') && l.includes(tmp));
      return { code, stderr, left, agents, sent };
    }
    const publishArgs = (r: { rpm: string; deb: string }, from: string) => [
      'publish',
      '--rpm-repo',
      r.rpm,
      '--deb-repo',
      r.deb,
      '--from',
      from,
      '--state-url',
      's3://ket-state/cli',
      '--allow-unlisted-packages',
    ];

    test('success, refusal (a key change) and an exception (an unreachable store) leave no key, passphrase file or gpg-agent', async () => {
      const r = await repos();
      const b = await build('sec1', release1);
      const ok = await runCli(publishArgs(r, b));
      expect({ code: ok.code, left: ok.left, agents: ok.agents }).toEqual({ code: 0, left: [], agents: [] });
      const refused = await runCli(publishArgs(r, b), { keysPath: foreignKeys.keysPath });
      expect(refused.stderr).toMatch(/its metadata is signed by key/);
      expect({ code: refused.code, left: refused.left, agents: refused.agents }).toEqual({ code: 1, left: [], agents: [] });
      const broken = await runCli(publishArgs(r, b), { env: { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' } });
      expect(broken.stderr).toMatch(/cannot reach the S3 endpoint/);
      expect({ code: broken.code, left: broken.left, agents: broken.agents }).toEqual({ code: 1, left: [], agents: [] });
    }, 180_000);

    test('a bad release manifest is a clear error: exit 1, nothing written, no lock left held, nothing secret left', async () => {
      const r = await repos();
      const b = await build('badman', release1);
      const bad = path.join(dir, 'bad-manifests');
      await mkdir(bad, { recursive: true });
      await writeFile(path.join(bad, 'syntax.yaml'), 'metadata: [\n');
      await writeFile(path.join(bad, 'nested.yaml'), 'metadata:\n  vendor: a: b\npackages: []\n');
      await writeFile(path.join(bad, 'unknown.yaml'), 'metadata: {}\npackages: []\nbogusKey: 1\n');
      const mark = trace.length;
      for (const [file, message] of [
        // The yaml library's whole reason, the position and the offending line (its code frame),
        // not the message cut at "column 1:".
        [
          'syntax.yaml',
          /syntax\.yaml: invalid release manifest:\n {2}- YAML syntax error at line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a \]\n {6}metadata: \[\n\n {6}\^\n/,
        ],
        [
          'nested.yaml',
          /nested\.yaml: invalid release manifest:\n {2}- YAML syntax error at line 2, column 11: Nested mappings are not allowed in compact mappings\n {8}vendor: a: b\n {16}\^\n/,
        ],
        ['unknown.yaml', /unknown\.yaml: invalid release manifest:[\s\S]*unknown key "bogusKey"/],
        ['absent.yaml', /absent\.yaml: cannot read the release manifest/],
      ] as const) {
        const res = await runCli([...publishArgs(r, b), '--manifest', path.join(bad, file)]);
        expect(res.stderr).toMatch(message);
        // A message, not a crash (an unhandled rejection ended the process with both locks held).
        expect(res.stderr).not.toMatch(/Node\.js v| {4}at /);
        expect({ code: res.code, left: res.left, agents: res.agents }).toEqual({ code: 1, left: [], agents: [] });
      }
      expect(writesTo(r, mark)).toEqual([]);
      for (const repo of [r.rpm, r.deb]) {
        const lock = await fetch(`${store.bucketUrl('ket-state')}/cli/locks/${repo}.lock`);
        if (lock.status !== 404) expect(JSON.parse(await lock.text())).toMatchObject({ released: true });
      }
    }, 180_000);

    test.each([
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const)(
      '%s during a publish: exit %d, nothing secret left, no gpg-agent',
      async (signal, exitCode) => {
        const r = await repos();
        const b = await build(`sig-${signal}`, release2);
        // Signalled once the key is open (its temporary GNUPGHOME exists) and the agent runs.
        const res = await runCli(publishArgs(r, b), {
          signal,
          signalWhen: (tmp) =>
            readdirSync(tmp).some((n) => n.startsWith('ket-publish-')) && readdirSync(tmp).some((n) => n.startsWith('ket-gpg-')),
        });
        expect(res.sent).toBe(true);
        expect(res.stderr).toMatch(/publish interrupted \(SIG(TERM|INT)\); secrets and scratch files removed/);
        expect({ code: res.code, left: res.left, agents: res.agents }).toEqual({ code: exitCode, left: [], agents: [] });
      },
      120_000,
    );

    test.each([
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const)(
      '%s twice (quit at once): exit %d, and still no secret key or gpg-agent left',
      async (signal, exitCode) => {
        const r = await repos();
        const b = await build(`sig2-${signal}`, release2);
        const res = await runCli(publishArgs(r, b), {
          signal,
          twice: true,
          signalWhen: (tmp) => readdirSync(tmp).some((n) => n.startsWith('ket-gpg-')),
        });
        expect(res.sent).toBe(true);
        expect(res.code).toBe(exitCode);
        // Scratch files may stay (quitting at once is what a second signal asks for); the key may not.
        expect({ keyHomes: res.left.filter((n) => n.startsWith('ket-gpg-')), agents: res.agents }).toEqual({ keyHomes: [], agents: [] });
      },
      120_000,
    );
  });

  /** Runs the CLI and SIGKILLs it when the store has answered a request matching `when`. */
  async function runCliKilledAt(args: string[], when: (line: string) => boolean): Promise<boolean> {
    const child: ChildProcess = spawn(TSX, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...store.env(), KEYS_PATH: keys.keysPath },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let killed = false;
    const start = trace.length;
    const timer = setInterval(() => {
      if (!killed && trace.slice(start).some(when)) {
        killed = child.kill('SIGKILL');
      }
    }, 5);
    await new Promise((resolve) => child.on('exit', resolve));
    clearInterval(timer);
    if (!killed) throw new Error(`the publish finished before the kill point; stderr:\n${stderr}`);
    return killed;
  }
});

/** The repository's primary.xml: each package's location, and its <package> element as written. */
async function primaryXmlOf(base: string): Promise<{ locations: string[]; entry(location: string): string }> {
  const repomd = await (await fetch(`${base}/repodata/repomd.xml`)).text();
  const href = /href="(repodata\/[0-9a-f]{64}-primary\.xml\.gz)"/.exec(repomd)![1];
  const xml = gunzipSync(Buffer.from(await (await fetch(`${base}/${href}`)).arrayBuffer())).toString('utf8');
  const locations = [...xml.matchAll(/<location href="([^"]+)"\/>/g)].map((m) => m[1]);
  return {
    locations,
    entry: (location) => {
      const end = xml.indexOf('</package>', xml.indexOf(`<location href="${location}"/>`));
      return xml.slice(xml.lastIndexOf('<package ', end), end);
    },
  };
}

function lastIndex<T>(items: T[], pred: (item: T) => boolean): number {
  return items.reduce((acc, item, i) => (pred(item) ? i : acc), -1);
}

function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

/** Primary fingerprint of the key whose good signature `sig` is, checked against the repository's public.key. */
async function signerOf(base: string, sig: string, signed?: string): Promise<string | undefined> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ket-signer-'));
  const keyring = await ScratchKeyring.create(scratch);
  try {
    await keyring.import(await (await fetch(`${base}/public.key`)).text(), 'public.key');
    const body = Buffer.from(await (await fetch(`${base}/${sig}`)).arrayBuffer());
    const data = signed ? Buffer.from(await (await fetch(`${base}/${signed}`)).arrayBuffer()) : undefined;
    const text = body.toString('utf8');
    // Every metadata signature is SHA-512 (apt 2.6 rejects SHA-1).
    if (text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')) expect(text).toMatch(/^Hash: SHA512$/m);
    const { stdout } = await run('gpg', ['--batch', '--homedir', keyring.home, '--list-packets'], {
      input: signed ? body : extractSignature(text),
    });
    expect(stdout).toMatch(/digest algo 10/);
    return await keyring.signerOf(body, data, scratch);
  } finally {
    await keyring.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}

function extractSignature(clearSigned: string): string {
  return clearSigned.slice(clearSigned.indexOf('-----BEGIN PGP SIGNATURE-----'));
}

async function keysIn(base: string): Promise<string[]> {
  const { stdout } = await run('gpg', ['--batch', '--with-colons', '--import-options', 'show-only', '--import'], {
    input: await (await fetch(`${base}/public.key`)).text(),
  });
  return primaryFingerprints(stdout).sort();
}

/** dnf install with gpgcheck, repo_gpgcheck and the repository's public.key (lib/verify's scratch dnf). */
async function dnfInstall(base: string, specs: string[]): Promise<void> {
  const dnf = await openScratchDnf(base);
  try {
    await dnf.run(['install', ...specs], 'dnf install');
    const { stdout } = await run('rpm', ['--root', dnf.installroot, '-qa', '--qf', '%{name}-%{version}-%{release}\n']);
    for (const spec of specs) expect(stdout).toContain(spec);
  } finally {
    await dnf.dispose();
  }
}

/** apt-get install --download-only (each file checked against the signed InRelease), lib/verify's scratch apt-get. */
async function aptInstall(base: string, specs: string[]): Promise<void> {
  const apt = await openScratchApt(base);
  try {
    const update = await apt.run(['-q', 'update'], 'apt-get update');
    expect(`${update.stdout}${update.stderr}`).not.toMatch(/^(W|E):/m);
    await apt.run(['-q', '-y', '--download-only', 'install', ...specs], 'apt-get install');
    const got = await readdir(path.join(apt.root, 'var/cache/apt/archives'));
    for (const spec of specs) expect(got.some((f) => f.startsWith(`${spec.split('=')[0]}_${spec.split('=')[1]}_`))).toBe(true);
  } finally {
    await apt.dispose();
  }
}
