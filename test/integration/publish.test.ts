import { ChildProcess, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { run } from '../../lib/util/exec';
import * as os from 'node:os';
import * as path from 'node:path';
import { publishRepositories, PublishOptions, ReleaseContents } from '../../lib/publish';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { silentLogger } from '../../lib/util/log';
import { ExpectedPackage, verifyDebRepository, verifyRepositories, verifyRpmRepository } from '../../lib/verify';
import { generateTestKeys, TestKeys } from '../support/gpg';
import { makeDebs, makeRpms, TinyPackage } from './publish-fixtures';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const CLI = path.join(ROOT, 'bin/ket-packages.ts');

describe('publish and verify (integration, slow)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let keys: TestKeys;
  let foreignKeys: TestKeys;
  const trace: string[] = [];
  let bucketSeq = 0;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-publish-test-'));
    keys = await generateTestKeys(path.join(dir, 'keys'));
    foreignKeys = await generateTestKeys(path.join(dir, 'foreign-keys'), { name: 'Someone Else' });
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3'), onRequest: (l) => trace.push(l) });
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
  async function build(name: string, packages: TinyPackage[], signWith: TestKeys = keys): Promise<string> {
    const out = path.join(dir, 'builds', name);
    await makeRpms(path.join(out, 'rpms'), packages, signWith.keysPath);
    await makeDebs(path.join(out, 'debs'), packages);
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

  const rpmExpected = (ps: TinyPackage[]): ExpectedPackage[] => ps.map((p) => ({ name: p.name, version: `${p.version}-1` }));
  const debExpected = rpmExpected;

  async function verify(r: { rpm: string; deb: string }, ps: TinyPackage[]): Promise<void> {
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

  const release1: TinyPackage[] = [
    { name: 'kubelet', version: '1.7.4' },
    { name: 'etcd', version: '3.1.10' },
  ];
  const release2: TinyPackage[] = [
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
    // Write order: packages, then hashed metadata, then the top files last.
    const puts = writesTo(r, mark2).map((l) => l.split(' ')[1].split('?')[0]);
    const rpmPuts = puts.filter((p) => p.startsWith(`/${r.rpm}/`));
    expect(rpmPuts.slice(-2)).toEqual([`/${r.rpm}/repodata/repomd.xml`, `/${r.rpm}/repodata/repomd.xml.asc`]);
    expect(lastIndex(rpmPuts, (p) => p.includes('/packages/'))).toBeLessThan(rpmPuts.findIndex((p) => p.includes('/repodata/')));
    const dist = `/${r.deb}/dists/kismatic-xenial`;
    const debPuts = puts.filter((p) => p.startsWith(`/${r.deb}/`));
    expect(debPuts.slice(-3)).toEqual([`${dist}/Release`, `${dist}/Release.gpg`, `${dist}/InRelease`]);
    expect(lastIndex(debPuts, (p) => p.includes('/pool/'))).toBeLessThan(debPuts.findIndex((p) => p.includes('/dists/')));
    expect(lastIndex(debPuts, (p) => p.includes('/by-hash/'))).toBeLessThan(
      debPuts.findIndex((p) => p.endsWith('/Packages.gz') && !p.includes('/by-hash/')),
    );
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
    const a: TinyPackage[] = [{ name: 'pkg-a', version: '1.0' }];
    const b: TinyPackage[] = [{ name: 'pkg-b', version: '1.0' }];
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
        ['publish', '--rpm-repo', r.rpm, '--deb-repo', r.deb, '--from', b2, '--state-url', 's3://ket-state/killed', '--lock-ttl', '3'],
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
    await publishRepositories(options(f, await build('t2', release1), { signingKey: { keysPath: foreignKeys.keysPath } }));
    await put(f.rpm, 'public.key', await readText(keys.publicKeyPath));
    await put(f.deb, 'public.key', await readText(keys.publicKeyPath));
    expect(await verifyRpmRepository(store.bucketUrl(f.rpm), rpmExpected(release1), silentLogger)).toEqual([
      expect.stringMatching(/dnf rejects/),
    ]);
    expect((await verifyDebRepository(store.bucketUrl(f.deb), debExpected(release1), silentLogger)).join('\n')).toMatch(
      /NO_PUBKEY|not signed|public key is not available|does not accept/,
    );
  }, 120_000);

  test('publishing with another key than the published public.key is refused unless rotating', async () => {
    const r = await repos();
    await publishRepositories(options(r, await build('k1', release1)));
    const mark = trace.length;
    const other = await build('k2', release2, foreignKeys);
    await expect(publishRepositories(options(r, other, { signingKey: { keysPath: foreignKeys.keysPath } }))).rejects.toThrow(
      new RegExp(
        `its metadata is signed by key ${keys.fingerprint}, but this publish signs with ${foreignKeys.fingerprint}.*rotate.*nothing was written`,
      ),
    );
    expect(writesTo(r, mark)).toEqual([]);
    await verify(r, release1);
    // A deliberate rotation goes through, and the repository then carries the new key.
    await publishRepositories(options(r, other, { signingKey: { keysPath: foreignKeys.keysPath }, allowKeyChange: true }));
    expect(await (await fetch(`${store.bucketUrl(r.deb)}/public.key`)).text()).toBe(await readText(foreignKeys.publicKeyPath));
  }, 60_000);

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
    const release = { rpm: rpmExpected([...release1, { name: 'unsigned', version: '1.0' }, { name: 'good', version: '1.0' }, { name: 'foreign-signed', version: '1.0' }]), deb: [] as ExpectedPackage[] };
    release.deb = release.rpm;
    const mark = trace.length;
    const refusal = publishRepositories(options(r, b, { release }));
    await expect(refusal).rejects.toThrow(/nothing was written/);
    const message = await refusal.catch((e: Error) => e.message);
    expect(message).toMatch(/foreign-signed-1\.0-1\.x86_64\.rpm: no valid signature by the repository's key: signed by a key the repository's public\.key does not hold/);
    expect(message).toMatch(/unsigned-1\.0-1\.x86_64\.rpm: it is not signed/);
    expect(message).not.toMatch(/good-1\.0-1/);
    expect(writesTo(r, mark)).toEqual([]);
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

function lastIndex<T>(items: T[], pred: (item: T) => boolean): number {
  return items.reduce((acc, item, i) => (pred(item) ? i : acc), -1);
}

function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}
