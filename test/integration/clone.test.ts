import { existsSync, readdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cloneRepositoryContent, CloneOptions, CloneRepository } from '../../lib/clone';
import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { PublicKeyring } from '../../lib/clone/keys';
import { listKeys, readSnapshot } from '../../lib/clone/snapshot';
import { mapConcurrent } from '../../lib/util/concurrency';
import { publishRepositories } from '../../lib/publish';
import { bucketOf, getObjectBytes as getBytes, s3TargetFromEnv, S3Target } from '../../lib/publish/s3';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { startCachingProxy } from '../../lib/local/store/caching-proxy';
import { run } from '../../lib/util/exec';
import { Logger, silentLogger } from '../../lib/util/log';
import { openScratchApt, openScratchDnf, verifyDebRepository, verifyRpmRepository } from '../../lib/verify';
import { CLI_ENTRY, ROOT, runCli } from '../support/cli';
import { LOCAL_BUCKETS } from '../../lib/local/names';
import { generateTestKeys, TestKeys } from '../support/gpg';
import {
  buildDebs,
  buildPackages,
  buildRpms,
  debFileName,
  FixturePackage,
  mixedPackages,
  PAYLOAD_DIR,
  rpmFileName,
} from '../support/packages';

/** ket-packages with no key from the caller's environment: the command line names it. */
function cli(args: string[]) {
  return runCli(args, { env: { KEYS_PATH: '', GNUPGHOME: '', KET_GPG_KEY_SECRET: '' } });
}

/** A port free right now (the store the clone runs listens there). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A logger that keeps what it was told, for the messages the clone prints. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`) };
}

type Release = { rpm: Array<{ name: string; version: string }>; deb: Array<{ name: string; version: string }> };
const releaseOf = (rpm: FixturePackage[], deb: FixturePackage[] = rpm): Release => ({
  rpm: rpm.map((p) => ({ name: p.name, version: `${p.version}-1` })),
  deb: deb.map((p) => ({ name: p.name, version: `${p.version}-1` })),
});

describe('clone (integration, slow)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let target: S3Target;
  let productionKey: TestKeys;
  let stagingKey: TestKeys;
  const trace: string[] = [];
  const repositories: CloneRepository[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-clone-test-'));
    [productionKey, stagingKey] = await Promise.all([
      generateTestKeys(path.join(dir, 'keys-production'), { name: 'Production' }),
      generateTestKeys(path.join(dir, 'keys-staging'), { name: 'Staging' }),
    ]);
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3'), onRequest: (l) => trace.push(l) });
    target = s3TargetFromEnv({ ...process.env, ...store.env() });
    await store.createBucket('ket-state');
  }, 60_000);

  afterAll(async () => {
    target?.client.destroy();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  /** A repository with its buckets (created unless `create` is false). */
  async function repository(name: string, opts: { production?: boolean; create?: boolean } = {}): Promise<CloneRepository> {
    const r: CloneRepository = {
      name,
      rpmBucket: `${name}-rpm`,
      debBucket: `${name}-deb`,
      state: { bucket: 'ket-state', prefix: `${name}/` },
      production: opts.production ?? false,
    };
    if (opts.create ?? true) {
      await store.createBucket(r.rpmBucket);
      await store.createBucket(r.debBucket);
    }
    repositories.push(r);
    return r;
  }

  /** What each build folder holds, for publish's check of the build against the release. */
  const releases = new Map<string, Release>();
  const getObjectBytes = (_t: S3Target, bucket: string, key: string) => getBytes(bucketOf(target, bucket, 'test'), key);

  async function publish(r: CloneRepository, build: string, keys: TestKeys): Promise<void> {
    await publishRepositories({
      release: releases.get(build)!,
      rpmRepo: r.rpmBucket,
      debRepo: r.debBucket,
      from: build,
      stateUrl: `s3://${r.state.bucket}/${r.state.prefix}`,
      signingKey: { keysPath: keys.keysPath },
      env: { ...process.env, ...store.env() },
      logger: silentLogger,
    });
  }

  /**
   * Build folders by packages and key: publishing reads a build folder and never changes it. Each
   * holds a release-manifest.json, as `build` writes it, so publish records release.json.
   */
  const builds = new Map<string, Promise<string>>();
  function build(packages: FixturePackage[], keys: TestKeys): Promise<string> {
    const id = JSON.stringify([packages, keys.fingerprint]);
    if (!builds.has(id)) {
      const seq = builds.size;
      builds.set(
        id,
        buildPackages(path.join(dir, 'builds', String(seq)), packages, keys.keysPath).then(async (out) => {
          releases.set(out, releaseOf(packages));
          const manifest = {
            schemaVersion: 1,
            manifest: `release-${seq}.yaml`,
            packages: packages.map((p) => ({
              name: p.name,
              version: p.version,
              rpm: { version: `${p.version}-1`, fileName: rpmFileName(p) },
              deb: { version: `${p.version}-1`, fileName: debFileName(p) },
            })),
          };
          await writeFile(path.join(out, 'release-manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
          return out;
        }),
      );
    }
    return builds.get(id)!;
  }

  /**
   * Fails unless B's release.json (both buckets) is byte for byte A's and its release.json.asc
   * verifies with B's public.key, made by B's key (`signer`), in a keyring holding only that key.
   */
  async function expectReleaseIndexCopied(a: CloneRepository, b: CloneRepository, signer: TestKeys): Promise<void> {
    for (const [from, to] of [
      [a.rpmBucket, b.rpmBucket],
      [a.debBucket, b.debBucket],
    ]) {
      const mine = (await getObjectBytes(target, from, 'release.json'))?.body;
      const copy = (await getObjectBytes(target, to, 'release.json'))?.body;
      expect(mine).toBeDefined();
      expect(copy?.toString()).toBe(mine!.toString());
      const home = await mkdtemp(path.join(dir, 'verify-release-'));
      const files = path.join(home, 'files');
      await mkdir(files);
      await writeFile(path.join(files, 'public.key'), (await getObjectBytes(target, to, 'public.key'))!.body);
      await writeFile(path.join(files, 'release.json'), copy!);
      await writeFile(path.join(files, 'release.json.asc'), (await getObjectBytes(target, to, 'release.json.asc'))!.body);
      const gpgIn = (args: string[]) => run('gpg', ['--batch', '--homedir', home, ...args]);
      await gpgIn(['--import', path.join(files, 'public.key')]);
      const status = (await gpgIn(['--status-fd', '1', '--verify', path.join(files, 'release.json.asc'), path.join(files, 'release.json')]))
        .stdout;
      // VALIDSIG's last field: the primary key that made the signature.
      const valid = status.split('\n').find((l) => l.startsWith('[GNUPG:] VALIDSIG '));
      expect(valid?.trim().split(' ').pop()).toBe(signer.fingerprint);
      await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    }
  }

  function clone(from: CloneRepository, to: CloneRepository, extra: Partial<CloneOptions> = {}) {
    return cloneRepositoryContent({
      from: from.name,
      to: to.name,
      repositories,
      target,
      signingKey: { keysPath: stagingKey.keysPath },
      logger: silentLogger,
      ...extra,
    });
  }

  const expected = (ps: FixturePackage[]) => ps.map((p) => ({ name: p.name, version: `${p.version}-1` }));

  async function verifyServes(r: CloneRepository, ps: FixturePackage[]): Promise<void> {
    expect(await verifyRpmRepository(store.bucketUrl(r.rpmBucket), expected(ps), silentLogger)).toEqual([]);
    expect(await verifyDebRepository(store.bucketUrl(r.debBucket), expected(ps), silentLogger)).toEqual([]);
  }

  /** Writes (PUT/POST/DELETE) the store saw into a repository's buckets since trace position `from`. */
  function writesTo(r: CloneRepository, from: number): string[] {
    return trace
      .slice(from)
      .filter(
        (l) =>
          /^(PUT|POST|DELETE) /.test(l) &&
          (l.includes(` /${r.rpmBucket}/`) ||
            l.includes(` /${r.debBucket}/`) ||
            l.includes(` /${r.rpmBucket}?`) ||
            l.includes(` /${r.debBucket}?`)),
      );
  }

  /**
   * Installs one package from B with each real client, every check on, into throwaway roots:
   * dnf (gpgcheck, repo_gpgcheck) and apt-get (signed-by B's public.key), then looks for its file.
   */
  async function installFrom(r: CloneRepository, name: string, endpoint = store.endpoint): Promise<void> {
    const dnf = await openScratchDnf(`${endpoint}/${r.rpmBucket}`);
    try {
      await dnf.run(['install', name], `dnf install ${name}`);
      expect((await run('rpm', ['--root', dnf.installroot, '-q', name])).stdout.trim()).toMatch(new RegExp(`^${name}-`));
      expect(existsSync(path.join(dnf.installroot, PAYLOAD_DIR, name))).toBe(true);
    } finally {
      await dnf.dispose();
    }

    const apt = await openScratchApt(`${endpoint}/${r.debBucket}`);
    try {
      // dpkg installs into apt's throwaway folder (its --root and --admindir), not into this machine.
      for (const d of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/log/apt'])
        await mkdir(path.join(apt.root, d), { recursive: true });
      const dpkg = [
        ...['-o', `DPkg::Options::=--root=${apt.root}`],
        ...['-o', `DPkg::Options::=--admindir=${path.join(apt.root, 'var/lib/dpkg')}`],
        ...['-o', 'DPkg::Options::=--force-not-root'],
        ...['-o', 'DPkg::Options::=--force-script-chrootless'],
        ...['-o', 'Dpkg::Use-Pty=0'],
      ];
      const update = await apt.run(['-q', 'update'], 'apt-get update');
      expect(`${update.stdout}\n${update.stderr}`).not.toMatch(/^(E:|W:.*(GPG|signature|not signed))/m);
      await apt.run(['-q', '-y', 'install', name], `apt-get install ${name}`, { extraOptions: dpkg });
      expect(existsSync(path.join(apt.root, PAYLOAD_DIR, name))).toBe(true);
    } finally {
      await apt.dispose();
    }
  }

  const small: FixturePackage[] = [
    { name: 'kubelet', version: '1.7.4', bytes: 20_000 },
    { name: 'kubectl', version: '1.7.4' },
    { name: 'etcd', version: '3.1.10' },
  ];

  /**
   * A production repository serving `small`, published once and shared by the tests that only
   * read it (a clone never writes its source).
   */
  let smallProduction: Promise<CloneRepository> | undefined;
  function productionSmall(): Promise<CloneRepository> {
    smallProduction ??= (async () => {
      const a = await repository('prod-small', { production: true });
      await publish(a, await build(small, productionKey), productionKey);
      return a;
    })();
    return smallProduction;
  }

  test('a small repository into a new one: served at B with B-signed top files; B public.key carries both keys', async () => {
    const a = await productionSmall();
    const b = await repository('copy-small');
    const logger = recordingLogger();
    const result = await clone(a, b, { logger });
    expect(result).toMatchObject({ status: 'cloned', rpmPackages: 3, debPackages: 3, replaced: [], removed: [] });
    await verifyServes(b, small);
    await expectReleaseIndexCopied(a, b, stagingKey);
    // The signer is named by its fingerprint, as the public.key line names the keys it carries.
    expect(logger.lines).toContainEqual(expect.stringContaining(`top files written and signed by ${stagingKey.fingerprint};`));
    const fingerprints = async (bucket: string) =>
      (
        await run('gpg', ['--with-colons', '--import-options', 'show-only', '--import'], {
          input: (await getObjectBytes(target, bucket, 'public.key'))!.body,
        })
      ).stdout
        .split('\n')
        .filter((l) => l.startsWith('fpr:'))
        .map((l) => l.split(':')[9]);
    expect((await fingerprints(b.rpmBucket)).sort()).toEqual([stagingKey.fingerprint, productionKey.fingerprint].sort());
    expect(await fingerprints(b.debBucket)).toEqual([stagingKey.fingerprint]);
    const repoFile = (await getObjectBytes(target, b.rpmBucket, 'kismatic.repo'))!.body.toString();
    expect(repoFile).toContain(`baseurl=${store.bucketUrl(b.rpmBucket)}/`);
    // Installed through a cache that behaves as CloudFront does.
    const cdn = await startCachingProxy({ origin: store.endpoint });
    try {
      await installFrom(b, 'kubelet', cdn.endpoint);
    } finally {
      await cdn.close();
    }
  }, 120_000);

  /** Every object A's top files reference (key, signed sha256, kind), read the way the clone reads them. */
  async function referenced(r: CloneRepository) {
    const keyring = await PublicKeyring.open();
    try {
      const s = (await readSnapshot(target, r, keyring, silentLogger))!;
      return { rpm: s.rpm.objects, deb: s.deb.objects, packages: { rpm: s.rpm.packages, deb: s.deb.packages } };
    } finally {
      await keyring.dispose();
    }
  }

  /** Content (sha256), Content-Type, Cache-Control and sha256 metadata of one object. */
  async function describeObject(bucket: string, key: string) {
    const out = await target.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    return {
      sha256: createHash('sha256').update(body).digest('hex'),
      contentType: out.ContentType,
      cacheControl: out.CacheControl,
      metadataSha256: out.Metadata?.sha256,
    };
  }

  /**
   * Fails unless every object of the snapshot is in B with the signed content and A's headers.
   * A plain DEB index is compared with the snapshot's checksum only: A's may be newer by now.
   */
  async function expectExactCopy(a: CloneRepository, b: CloneRepository, objects: Awaited<ReturnType<typeof referenced>>): Promise<number> {
    const pairs = [
      ...objects.rpm.map((o) => [a.rpmBucket, b.rpmBucket, o] as const),
      ...objects.deb.map((o) => [a.debBucket, b.debBucket, o] as const),
    ];
    const differing: string[] = [];
    await mapConcurrent(pairs, 16, async ([from, to, o]) => {
      const [x, y] = await Promise.all([describeObject(from, o.key), describeObject(to, o.key)]);
      if (y.sha256 !== o.sha256) differing.push(`${o.key}: B holds sha256 ${y.sha256}, the snapshot says ${o.sha256}`);
      if (o.kind !== 'index' && JSON.stringify(x) !== JSON.stringify(y))
        differing.push(`${o.key}: A ${JSON.stringify(x)} B ${JSON.stringify(y)}`);
      if (o.kind === 'index' && (x.contentType !== y.contentType || x.cacheControl !== y.cacheControl))
        differing.push(`${o.key}: headers differ: A ${JSON.stringify(x)} B ${JSON.stringify(y)}`);
    });
    expect(differing).toEqual([]);
    return pairs.length;
  }

  describe('a repository of 2,000+ objects of mixed sizes', () => {
    // 500 RPMs (signing is the slow part of making them) and 1,500 DEBs: 2,000 packages plus metadata.
    let big: CloneRepository;
    const bigRpms = mixedPackages(500, 'rpm');
    const bigDebs = mixedPackages(1500, 'deb');
    beforeAll(async () => {
      big = await repository('prod-big', { production: true });
      const out = path.join(dir, 'builds', 'big');
      await Promise.all([
        buildRpms(path.join(out, 'rpms'), bigRpms, { keysPath: productionKey.keysPath }),
        buildDebs(path.join(out, 'debs'), bigDebs),
      ]);
      releases.set(out, releaseOf(bigRpms, bigDebs));
      await publish(big, out, productionKey);
    }, 600_000);

    test('interrupted, then run again: the re-run skips what is identical and completes an exact copy (bytes, Content-Type, Cache-Control, sha256) that passes the final check', async () => {
      const b = await repository('copy-big');
      const stop = new AbortController();
      await expect(
        clone(big, b, { signal: stop.signal, verify: false, onProgress: (p) => p.objectsDone >= 700 && stop.abort() }),
      ).rejects.toThrow(/clone interrupted \(aborted\); .*run it again to complete it/);
      // Nothing points at the partial copy: B has no top files.
      expect(await getObjectBytes(target, b.rpmBucket, 'repodata/repomd.xml')).toBeUndefined();
      expect(await getObjectBytes(target, b.debBucket, 'dists/kismatic-xenial/InRelease')).toBeUndefined();
      const seen: number[] = [];
      const result = await clone(big, b, { onProgress: (p) => seen.push(p.objectsDone) });
      expect(result.objects).toBeGreaterThanOrEqual(2000);
      expect(result).toMatchObject({ status: 'cloned', rpmPackages: 500, debPackages: 1500, replaced: [], removed: [] });
      expect(result.skippedObjects).toBeGreaterThanOrEqual(700);
      expect(result.copiedObjects + result.skippedObjects).toBe(result.objects);
      expect(seen[seen.length - 1]).toBe(result.objects);
      expect(await expectExactCopy(big, b, await referenced(big))).toBe(result.objects);
      // Sizes really are mixed: 4 MiB, 1 MiB, 64 KiB and tiny packages.
      const sizes = [...(await listKeys(target, b.debBucket, 'pool/')).values()];
      expect(Math.max(...sizes)).toBeGreaterThan(4 << 20);
      expect(Math.min(...sizes)).toBeLessThan(16 << 10);
    }, 600_000);

    test('a publish into A during the clone leaves B a complete copy of A as it was', async () => {
      const before = await referenced(big);
      const extra: FixturePackage[] = [{ name: 'published-meanwhile', version: '9.0' }];
      const extraBuild = await build(extra, productionKey);
      const b = await repository('copy-during');
      let publishing: Promise<void> | undefined;
      const result = await clone(big, b, {
        verify: false,
        concurrency: 4,
        onProgress: (p) => {
          if (!publishing && p.objectsDone >= 100) publishing = publish(big, extraBuild, productionKey);
        },
      });
      await publishing;
      expect(result).toMatchObject({ rpmPackages: 500, debPackages: 1500 });
      await expectExactCopy(big, b, before);
      const after = await referenced(b);
      expect(after.packages.rpm).toHaveLength(500);
      expect(after.packages.deb).toHaveLength(1500);
      // A has the new package, B does not.
      expect((await referenced(big)).packages.deb.map((p) => p.name)).toContain('published-meanwhile');
      expect(await verifyRpmRepository(store.bucketUrl(b.rpmBucket), expected(bigRpms.slice(0, 3)), silentLogger)).toEqual([]);
      expect(await verifyDebRepository(store.bucketUrl(b.debBucket), expected([...bigDebs.slice(0, 3), ...extra]), silentLogger)).toEqual([
        expect.stringMatching(/published-meanwhile=9\.0-1 is not listed/),
      ]);
    }, 600_000);
  });

  let resetB: CloneRepository | undefined;
  test('an existing B is reset: conflicting versions replaced, B-only objects removed, both printed', async () => {
    const a = await productionSmall();
    const b = await repository('staging-reset');
    const bOwn: FixturePackage[] = [
      { name: 'kubelet', version: '1.7.4', salt: 'built in staging' },
      { name: 'kubectl', version: '1.7.4', salt: 'built in staging' },
      { name: 'staging-only', version: '0.9' },
    ];
    await publish(b, await build(bOwn, stagingKey), stagingKey);
    const oldRepodata = [...(await listKeys(target, b.rpmBucket, 'repodata/')).keys()].filter((k) => !k.includes('repomd'));
    // A CDN in front of B has B's own kubelet cached (immutable, a year) before the reset.
    let cdn = await startCachingProxy({ origin: store.endpoint });
    await installFrom(b, 'kubelet', cdn.endpoint);
    const before = new Set(
      (
        await Promise.all(
          [b.rpmBucket, b.debBucket].map(async (bucket) => [...(await listKeys(target, bucket, '')).keys()].map((k) => `/${bucket}/${k}`)),
        )
      ).flat(),
    );
    const mark = trace.length;
    const logger = recordingLogger();
    const invalidated: Array<{ rpm: string[]; deb: string[] }> = [];
    const result = await clone(a, b, {
      logger,
      // CloudFront's invalidation, played by dropping the cache.
      invalidate: async (_b, paths) => {
        invalidated.push(paths);
        await cdn.close();
        cdn = await startCachingProxy({ origin: store.endpoint });
      },
    });
    expect(invalidated).toHaveLength(1);
    expect(invalidated[0].rpm).toEqual(expect.arrayContaining(['packages/kubelet-1.7.4-1.x86_64.rpm', 'repodata/repomd.xml']));
    expect(invalidated[0].deb).toEqual(
      expect.arrayContaining(['pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb', 'dists/kismatic-xenial/InRelease']),
    );
    // B's old state stays whole as long as possible: every object B lacked is written before the
    // first of B's objects is replaced (packages, metadata and indexes alike).
    const puts = writesTo(b, mark)
      .filter((l) => l.startsWith('PUT '))
      .map((l) => l.split(' ')[1].split('?')[0]);
    const replacedPaths = new Set(result.replaced.map((u) => u.replace(/^s3:\/\//, '/')));
    const firstReplacement = puts.findIndex((p) => replacedPaths.has(p));
    expect(firstReplacement).toBeGreaterThan(0);
    expect(puts.filter((p) => !before.has(p)).length).toBeGreaterThan(0);
    expect(Math.max(...puts.map((p, i) => (before.has(p) ? -1 : i)))).toBeLessThan(firstReplacement);
    expect(result.replaced).toEqual(
      expect.arrayContaining([
        `s3://${b.rpmBucket}/packages/kubelet-1.7.4-1.x86_64.rpm`,
        `s3://${b.rpmBucket}/packages/kubectl-1.7.4-1.x86_64.rpm`,
        `s3://${b.debBucket}/pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb`,
        `s3://${b.debBucket}/pool/main/k/kubectl/kubectl_1.7.4-1_amd64.deb`,
      ]),
    );
    expect(result.removed).toEqual(
      expect.arrayContaining([
        `s3://${b.rpmBucket}/packages/staging-only-0.9-1.x86_64.rpm`,
        `s3://${b.debBucket}/pool/main/s/staging-only/staging-only_0.9-1_amd64.deb`,
        ...oldRepodata.map((k) => `s3://${b.rpmBucket}/${k}`),
      ]),
    );
    for (const u of [...result.replaced, ...result.removed])
      expect(logger.lines).toContainEqual(expect.stringMatching(new RegExp(`^(replaced|removed) ${u}$`)));
    expect([...(await listKeys(target, b.rpmBucket)).keys()].some((k) => k.includes('staging-only'))).toBe(false);
    await verifyServes(b, small);
    // B's own release.json (staging's release) is replaced by A's, signed again with B's key: not removed.
    expect(result.removed.filter((u) => u.includes('release.json'))).toEqual([]);
    await expectReleaseIndexCopied(a, b, stagingKey);
    // A's kubelet, signed by production's key, installs from the reset B through the CDN.
    try {
      await installFrom(b, 'kubelet', cdn.endpoint);
    } finally {
      await cdn.close();
    }
    // Of the state place the clone wrote B's locks only.
    const stateWrites = trace.slice(mark).filter((l) => /^(PUT|POST|DELETE) \/ket-state[/?]/.test(l));
    expect(stateWrites.length).toBeGreaterThan(0);
    expect(stateWrites.filter((l) => !l.split(' ')[1].startsWith(`/ket-state/${b.state.prefix}locks/`))).toEqual([]);
    resetB = b;
  }, 180_000);

  test('a reset interrupted after its first replacement has printed it; the re-run prints the others, so together they list every replacement', async () => {
    const a = await repository('prod-reset-int', { production: true });
    await publish(a, await build(small, productionKey), productionKey);
    const b = await repository('staging-reset-int');
    const bOwn: FixturePackage[] = [
      { name: 'kubelet', version: '1.7.4', salt: 'built in staging' },
      { name: 'kubectl', version: '1.7.4', salt: 'built in staging' },
    ];
    await publish(b, await build(bOwn, stagingKey), stagingKey);
    const replacedIn = (lines: string[]) => lines.filter((l) => l.startsWith('replaced ')).map((l) => l.slice('replaced '.length));
    // Ctrl-C as soon as the first replacement is printed (one copy in flight, so it is the only one done).
    const first = recordingLogger();
    const stop = new AbortController();
    const logger: Logger = {
      ...first,
      info: (m) => {
        first.info(m);
        if (m.startsWith('replaced ')) stop.abort('SIGINT');
      },
    };
    await expect(clone(a, b, { logger, signal: stop.signal, verify: false, concurrency: 1 })).rejects.toThrow(
      /clone interrupted \(SIGINT\); 'staging-reset-int' keeps the top files it had, .*run it again to complete it/,
    );
    const printedFirst = replacedIn(first.lines);
    expect(printedFirst).toHaveLength(1);
    const second = recordingLogger();
    const result = await clone(a, b, { logger: second, verify: false });
    // The re-run finds the first run's replacement identical: only the first run could print it.
    expect(replacedIn(second.lines).sort()).toEqual([...result.replaced].sort());
    expect(result.replaced).not.toContain(printedFirst[0]);
    expect([...printedFirst, ...result.replaced]).toEqual(
      expect.arrayContaining([
        `s3://${b.rpmBucket}/packages/kubelet-1.7.4-1.x86_64.rpm`,
        `s3://${b.rpmBucket}/packages/kubectl-1.7.4-1.x86_64.rpm`,
        `s3://${b.debBucket}/pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb`,
        `s3://${b.debBucket}/pool/main/k/kubectl/kubectl_1.7.4-1_amd64.deb`,
      ]),
    );
    await verifyServes(b, small);
  }, 180_000);

  test('a publish into the reset B afterwards passes the key guard and keeps every package installable', async () => {
    const next: FixturePackage[] = [{ name: 'kubeadm', version: '1.7.5' }];
    await publish(resetB!, await build(next, stagingKey), stagingKey);
    await verifyServes(resetB!, [...small, ...next]);
  }, 180_000);

  test('an object above the single-copy limit is copied in parts (UploadPartCopy), bytes and headers kept', async () => {
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { copyObject } = await import('../../lib/clone/objects');
    const { randomBytes } = await import('node:crypto');
    await store.createBucket('parts-a');
    await store.createBucket('parts-b');
    const body = randomBytes(12 * 1024 * 1024 + 123);
    const sha256 = createHash('sha256').update(body).digest('hex');
    await target.client.send(
      new PutObjectCommand({
        Bucket: 'parts-a',
        Key: 'packages/big-1.0-1.x86_64.rpm',
        Body: body,
        ContentType: 'application/x-rpm',
        CacheControl: 'public, max-age=31536000, immutable',
        Metadata: { sha256 },
      }),
    );
    const mark = trace.length;
    // The limit scaled down (S3's is 5 GiB) so the test stays small; the requests are the same.
    await copyObject(
      target,
      {
        sourceBucket: 'parts-a',
        sourceKey: 'packages/big-1.0-1.x86_64.rpm',
        bucket: 'parts-b',
        key: 'packages/big-1.0-1.x86_64.rpm',
        size: body.length,
      },
      { multipartThresholdBytes: 5 * 1024 * 1024, partBytes: 5 * 1024 * 1024 },
    );
    expect(trace.slice(mark).filter((l) => /^PUT \/parts-b\/.*partNumber=/.test(l))).toHaveLength(3);
    expect(await describeObject('parts-b', 'packages/big-1.0-1.x86_64.rpm')).toEqual(
      await describeObject('parts-a', 'packages/big-1.0-1.x86_64.rpm'),
    );
    expect((await describeObject('parts-b', 'packages/big-1.0-1.x86_64.rpm')).sha256).toBe(sha256);
  }, 60_000);

  test('guards: A = B, unknown A or B, B production, A not published; each a clear message, nothing written', async () => {
    const a = await productionSmall();
    const b = await repository('staging-guards');
    const empty = await repository('never-published');
    const mark = trace.length;
    await expect(clone(b, b)).rejects.toThrow(/clone from and to are both 'staging-guards': a repository cannot be cloned into itself/);
    await expect(clone({ ...a, name: 'nope' }, b)).rejects.toThrow(
      /clone from: no repository named 'nope' \(known: .*prod-small.*staging-guards/,
    );
    await expect(clone(a, { ...b, name: 'nowhere' })).rejects.toThrow(/clone to: no repository named 'nowhere'/);
    await expect(clone(b, a)).rejects.toThrow(/clone to: 'prod-small' is a production repository; production is never a clone destination/);
    await expect(clone(empty, b)).rejects.toThrow(/clone from 'never-published': nothing is published there yet .*nothing was copied/);
    const quiet = await clone(empty, b, { emptySource: 'succeed' });
    expect(quiet).toMatchObject({
      status: 'source-empty',
      objects: 0,
      message: expect.stringMatching(/nothing is published there yet.*nothing copied into 'staging-guards'/),
    });
    for (const r of [a, b, empty]) expect(writesTo(r, mark)).toEqual([]);
    expect(trace.slice(mark).filter((l) => /^(PUT|POST|DELETE) /.test(l))).toEqual([]);
  }, 120_000);

  /** A local data folder with staging published (`small`), as `ket-packages local` leaves it. */
  async function localDataDir(name: string): Promise<string> {
    const data = path.join(dir, name);
    const local = await startEmbeddedStore({ dataDir: data });
    try {
      for (const bucket of [LOCAL_BUCKETS.staging.rpm, LOCAL_BUCKETS.staging.deb, LOCAL_BUCKETS.state]) await local.createBucket(bucket);
      await publishRepositories({
        release: releaseOf(small),
        rpmRepo: LOCAL_BUCKETS.staging.rpm,
        debRepo: LOCAL_BUCKETS.staging.deb,
        from: await build(small, stagingKey),
        stateUrl: `s3://${LOCAL_BUCKETS.state}/staging`,
        signingKey: { keysPath: stagingKey.keysPath },
        env: { ...process.env, ...local.env() },
        logger: silentLogger,
      });
    } finally {
      await local.close();
    }
    return data;
  }

  test('ket-packages clone --local: staging into a new staging-copy with no AWS, at the URLs `local --serve` serves; refusals name what the store holds and create nothing', async () => {
    const data = await localDataDir('local-s3');
    // Not the default 4568: another run on this machine may be serving there.
    const port = await freePort();
    const localClone = (from: string, to: string, extra: string[] = []) =>
      cli([
        'clone',
        '--local',
        '--data-dir',
        data,
        '--from',
        from,
        '--to',
        to,
        '--keys-path',
        stagingKey.keysPath,
        '--port',
        String(port),
        ...extra,
      ]);
    const ok = await localClone('staging', 'staging-copy');
    expect({ code: ok.code, stderr: ok.stderr.split('\n').slice(-5).join('\n') }).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/cloned 'staging' into 'staging-copy': 3 RPM and 3 DEB package\(s\)/);
    expect(ok.stdout).toContain(`RPM repository: http://127.0.0.1:${port}/kismatic-packages-staging-copy-rpm`);
    expect(ok.stdout).toContain(`ket-packages local --fixtures --serve --data-dir ${data} --port ${port}`);
    expect(ok.stderr).toMatch(/created the local repository 'staging-copy'/);
    expect(ok.stderr).toMatch(/clone: \d+\/\d+ objects/);
    const unknown = await localClone('nope', 'other');
    expect(unknown.code).toBe(1);
    // Only what the store holds (no production buckets here), never the destination named.
    expect(unknown.stderr).toMatch(/clone from: no repository named 'nope' \(known: staging, staging-copy\)/);
    const toProduction = await localClone('staging', 'production');
    expect(toProduction.code).toBe(1);
    expect(toProduction.stderr).toMatch(/production is never a clone destination/);
    // A data folder with nothing in it, or none at all: said so, and nothing created.
    const empty = path.join(dir, 'local-empty');
    await mkdir(empty);
    for (const d of [empty, path.join(dir, 'local-missing')]) {
      const none = await cli(['clone', '--local', '--data-dir', d, '--from', 'staging-copy', '--to', 'nosuch', '--port', String(port)]);
      expect({ code: none.code, stderr: none.stderr.trim() }).toEqual({
        code: 1,
        stderr: `error: --data-dir ${d} holds no repositories: run \`ket-packages local\` first`,
      });
    }
    expect(readdirSync(empty)).toEqual([]);
    expect(existsSync(path.join(dir, 'local-missing'))).toBe(false);
    // B is served where the clone said, by the store `local --serve` runs (kismatic.repo names it too), and survives a restart.
    const again = await startEmbeddedStore({ dataDir: data, port });
    try {
      const rpmUrl = again.bucketUrl('kismatic-packages-staging-copy-rpm');
      expect(rpmUrl).toBe(`http://127.0.0.1:${port}/kismatic-packages-staging-copy-rpm`);
      expect(await (await fetch(`${rpmUrl}/kismatic.repo`)).text()).toContain(`baseurl=${rpmUrl}`);
      expect(await verifyRpmRepository(rpmUrl, expected(small), silentLogger)).toEqual([]);
      expect(await verifyDebRepository(again.bucketUrl('kismatic-packages-staging-copy-deb'), expected(small), silentLogger)).toEqual([]);
      // The port busy (here: that store serving): the clone says what holds it and what to do.
      const busy = await localClone('staging', 'staging-copy');
      expect(busy.code).toBe(1);
      expect(busy.stderr).toMatch(
        new RegExp(`--port ${port} is in use \\(most likely by \`ket-packages local --serve\`.*stop it \\(Ctrl-C\\)`),
      );
      // The name guards come first: a clone into itself is refused as such, whatever holds the port.
      const itself = await localClone('staging', 'staging');
      expect(itself.code).toBe(1);
      expect(itself.stderr).toMatch(/cannot be cloned into itself/);
    } finally {
      await again.close();
    }
  }, 180_000);

  test('Ctrl-C (SIGINT to the process group) during ket-packages clone --local: one line, exit 130, B unlocked, no temporary folder, store and s3rver stopped', async () => {
    const data = await localDataDir('local-sigint');
    const port = await freePort();
    const tmp = await mkdtemp(path.join(dir, 'cli-tmp-'));
    // node --import tsx: one process leading its own group, as a shell runs a command; the group gets the signal, as Ctrl-C sends it.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI_ENTRY,
        'clone',
        '--local',
        '--data-dir',
        data,
        '--from',
        'staging',
        '--to',
        'staging-int',
        '--port',
        String(port),
        '--keys-path',
        stagingKey.keysPath,
        '--concurrency',
        '1',
      ],
      { cwd: ROOT, env: { ...process.env, KEYS_PATH: '', GNUPGHOME: '', TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let stderr = '';
    let sent = false;
    child.stdout!.resume();
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Mid-copy: the plan is printed once B's locks are held, right before the first copy.
      if (!sent && /objects \(.*\) referenced/.test(stderr)) sent = process.kill(-child.pid!, 'SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent).toBe(true);
    expect(code).toBe(130);
    expect(stderr).toMatch(
      /error: clone interrupted \(SIGINT\); 'staging-int' keeps the top files it had, its publish locks are released and the temporary folders removed; run it again to complete it/,
    );
    expect(readdirSync(tmp).filter((n) => !n.startsWith('tsx-'))).toEqual([]);
    // The store stopped, s3rver child included (its command line names the data folder).
    expect((await run('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes(data))).toEqual([]);
    const check = await startEmbeddedStore({ dataDir: data, port });
    const local = s3TargetFromEnv({ ...process.env, ...check.env() });
    try {
      for (const bucket of ['kismatic-packages-staging-int-rpm', 'kismatic-packages-staging-int-deb']) {
        const lock = await getBytes(bucketOf(local, LOCAL_BUCKETS.state, 'test'), `staging-int/locks/${bucket}.lock`);
        expect(JSON.parse(lock!.body.toString('utf8'))).toMatchObject({ released: true });
      }
    } finally {
      local.client.destroy();
      await check.close();
    }
  }, 180_000);
});
