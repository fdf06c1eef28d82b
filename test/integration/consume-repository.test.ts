import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { consumeRelease, ReleaseSource } from '../../lib/consume';
import { publishRepositories } from '../../lib/publish';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { RELEASE_MANIFEST_FILE, ReleaseManifest } from '../../lib/release-manifest';
import { hashFile } from '../../lib/util/hash';
import {
  fetchVerifiedReleaseIndex,
  gpgDetachedSigner,
  recordRelease,
  RepositoryObjects,
  RELEASE_INDEX,
} from '../../lib/release-manifest/repository';
import { openSigningKey, SigningKey } from '../../lib/signing/keyring';
import { silentLogger } from '../../lib/util/log';
import { generateTestKeys, TestKeys } from '../support/gpg';
import { fixtureRelease, ketFixtureFiles, RELEASE_A, RELEASE_B, snapshot, writeKetFixture } from '../support/ket-fixture';
import { buildPackages, FixturePackage } from '../support/packages';

/** A repository root on disk, as publish leaves it in a bucket: what the HTTP server serves. */
function folderObjects(dir: string): RepositoryObjects {
  return {
    get: (key) => readFile(path.join(dir, key)).catch(() => undefined),
    put: async (key, body) => {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, key), body);
    },
  };
}

describe('consume from published repositories: signed release.json (integration)', () => {
  let dir: string;
  let keys: TestKeys;
  let foreign: TestKeys;
  let key: SigningKey;
  let foreignKey: SigningKey;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-consume-repo-'));
    keys = await generateTestKeys(path.join(dir, 'keys'));
    foreign = await generateTestKeys(path.join(dir, 'foreign'), { name: 'Someone Else' });
    key = await openSigningKey({ keysPath: keys.keysPath });
    foreignKey = await openSigningKey({ keysPath: foreign.keysPath });
    const root = path.join(dir, 'www');
    server = createServer((req, res) => {
      readFile(path.join(root, path.normalize(decodeURIComponent(req.url ?? '/')).replace(/^(\.\.[/\\])+/, ''))).then(
        (body) => res.end(body),
        () => {
          res.statusCode = 404;
          res.end('not found');
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await key?.dispose();
    await foreignKey?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  let seq = 0;
  /** Two repository roots (rpm, deb) holding public.key and release.json recording `releases`. */
  async function repositories(releases: ReleaseManifest[], opts: { signer?: SigningKey; debSigner?: SigningKey; noKey?: boolean } = {}) {
    seq += 1;
    const urls = { rpm: `${base}/r${seq}/rpm`, deb: `${base}/r${seq}/deb` };
    for (const kind of ['rpm', 'deb']) {
      const root = path.join(dir, 'www', `r${seq}`, kind);
      await mkdir(root, { recursive: true });
      // The files that make each root look like its kind of repository (small stand-ins, in our words).
      if (kind === 'rpm') {
        await mkdir(path.join(root, 'repodata'));
        await writeFile(
          path.join(root, 'repodata', 'repomd.xml'),
          '<?xml version="1.0"?>\n<repomd xmlns="http://linux.duke.edu/metadata/repo"/>\n',
        );
        await writeFile(path.join(root, 'kismatic.repo'), '[kismatic]\nname=test\n');
      } else {
        await mkdir(path.join(root, 'dists', 'kismatic-xenial'), { recursive: true });
        await writeFile(
          path.join(root, 'dists', 'kismatic-xenial', 'InRelease'),
          '-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSuite: kismatic-xenial\n',
        );
      }
      if (opts.noKey) continue;
      const signer = kind === 'deb' && opts.debSigner ? opts.debSigner : (opts.signer ?? key);
      await copyFile(
        kind === 'deb' && opts.debSigner === foreignKey ? foreign.publicKeyPath : keys.publicKeyPath,
        path.join(root, 'public.key'),
      );
      for (const r of releases)
        await recordRelease(folderObjects(root), gpgDetachedSigner(signer), r, { what: kind, logger: silentLogger });
    }
    return { urls, root: (kind: 'rpm' | 'deb') => path.join(dir, 'www', `r${seq}`, kind) };
  }

  async function ketAt(name: string) {
    const ket = path.join(dir, 'ket', name);
    await writeKetFixture(ket, ketFixtureFiles(RELEASE_A));
    return ket;
  }

  async function releaseSource(release: ReleaseManifest): Promise<ReleaseSource> {
    const file = path.join(dir, `release-${seq}-${release.manifest}.json`);
    await writeFile(file, JSON.stringify(release));
    return { kind: 'release-manifest', file };
  }

  test('a verified, served release is written with the repository URLs; the commented lines stay', async () => {
    const repos = await repositories([fixtureRelease(RELEASE_A), fixtureRelease(RELEASE_B)]);
    const ket = await ketAt('good');
    const result = await consumeRelease({
      ketDir: ket,
      release: await releaseSource(fixtureRelease(RELEASE_B)),
      repository: { kind: 'urls', ...repos.urls },
    });
    expect(result.written).toBe(true);
    const expected = ketFixtureFiles(RELEASE_B, 'lf', repos.urls);
    for (const f of Object.keys(expected)) expect({ f, text: await readFile(path.join(ket, f), 'utf8') }).toEqual({ f, text: expected[f] });
    expect(expected['ansible/group_vars/all.yaml']).toContain('# yum_repository_url: https://rpm-test.example.invalid');
    // A downgrade to the older release the repositories still serve works the same way.
    const back = await consumeRelease({
      ketDir: ket,
      release: await releaseSource(fixtureRelease(RELEASE_A)),
      repository: { kind: 'urls', ...repos.urls },
    });
    expect(back.changed.length).toBeGreaterThan(0);
    expect(await readFile(path.join(ket, 'Makefile'), 'utf8')).toBe(ketFixtureFiles(RELEASE_A, 'lf', repos.urls).Makefile);
  }, 60_000);

  test('without a manifest, the newest release of release.json is taken', async () => {
    const repos = await repositories([fixtureRelease(RELEASE_A), fixtureRelease(RELEASE_B)]);
    const ket = await ketAt('newest');
    const said: string[] = [];
    const logger = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m) };
    const result = await consumeRelease({
      ketDir: ket,
      release: { kind: 'repository' },
      repository: { kind: 'urls', ...repos.urls },
      logger,
    });
    expect(result.release.manifest).toBe(fixtureRelease(RELEASE_B).manifest);
    expect(said).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^release: the newest entry of ${repos.urls.rpm}/release\\.json \\(${fixtureRelease(RELEASE_B).manifest}, published \\S+, entry 2 of 2\\)$`,
          ),
        ),
        expect.stringMatching(/signed by [0-9A-F]{40}.*compare with the published fingerprint/),
      ]),
    );
    expect(await readFile(path.join(ket, 'Makefile'), 'utf8')).toBe(ketFixtureFiles(RELEASE_B, 'lf', repos.urls).Makefile);
  }, 60_000);

  test('release.json of the two repositories signed by different keys: verified each, and a warning', async () => {
    const repos = await repositories([fixtureRelease(RELEASE_B)], { debSigner: foreignKey });
    const ket = await ketAt('two-keys');
    const result = await consumeRelease({
      ketDir: ket,
      release: await releaseSource(fixtureRelease(RELEASE_B)),
      repository: { kind: 'urls', ...repos.urls },
      dryRun: true,
    });
    expect(result.findings).toEqual(
      expect.arrayContaining([expect.stringMatching(/release\.json are signed by different keys \(RPM [0-9A-F]{40}, DEB [0-9A-F]{40}\)/)]),
    );
  }, 60_000);

  const refusals: Array<[string, () => Promise<{ urls: { rpm: string; deb: string }; release: ReleaseManifest }>, RegExp]> = [
    [
      'a tampered release.json',
      async () => {
        const repos = await repositories([fixtureRelease(RELEASE_B)]);
        const file = path.join(repos.root('deb'), RELEASE_INDEX);
        await writeFile(file, (await readFile(file, 'utf8')).replace(/1\.7\.4-1/g, '1.7.9-1'));
        return { urls: repos.urls, release: fixtureRelease(RELEASE_B) };
      },
      /DEB repository: .*\/deb\/release\.json does not verify against .*\/deb\/public\.key: BAD signature/,
    ],
    [
      "a release.json signed by a key other than the repository's",
      async () => ({
        urls: (await repositories([fixtureRelease(RELEASE_B)], { signer: foreignKey })).urls,
        release: fixtureRelease(RELEASE_B),
      }),
      /RPM repository: .*release\.json does not verify against .*public\.key: signed by a key other than the repository's public\.key/,
    ],
    [
      'a version the repositories do not serve',
      async () => ({ urls: (await repositories([fixtureRelease(RELEASE_A)])).urls, release: fixtureRelease(RELEASE_B) }),
      /the repositories do not serve this release[\s\S]*kubelet-1\.7\.4_1-1\.x86_64\.rpm \(kubelet 1\.7\.4_1-1\) is not served by http:\/\/127\.0\.0\.1:\d+\/r\d+\/rpm[\s\S]*kubelet_1\.7\.4-1_amd64\.deb/,
    ],
    [
      'a package file whose sha256 differs from the one the repository recorded',
      async () => {
        const repos = await repositories([fixtureRelease(RELEASE_B, true)]);
        const release = fixtureRelease(RELEASE_B, true);
        const tampered = {
          ...release,
          packages: release.packages.map((p) => (p.name === 'kubectl' ? { ...p, rpm: { ...p.rpm, sha256: 'f'.repeat(64) } } : p)),
        };
        return { urls: repos.urls, release: tampered };
      },
      /kubectl-1\.7\.4_1-1\.x86_64\.rpm \(kubectl 1\.7\.4_1-1\) is not served/,
    ],
    [
      'a repository without release.json',
      async () => {
        const repos = await repositories([]);
        return { urls: repos.urls, release: fixtureRelease(RELEASE_B) };
      },
      /RPM repository: release\.json: http:\/\/127\.0\.0\.1:\d+\/r\d+\/rpm\/release\.json: HTTP 404.*has a public\.key but no release\.json/,
    ],
    [
      'a repository where nothing was published (no public.key)',
      async () => {
        const repos = await repositories([], { noKey: true });
        return { urls: repos.urls, release: fixtureRelease(RELEASE_B) };
      },
      /public\.key: HTTP 404[^:]*: nothing has been published to http:\/\/127\.0\.0\.1:\d+\/r\d+\/rpm yet \(or it is not a repository of ours\)$/m,
    ],
    [
      'swapped URLs (the RPM URL is the apt repository)',
      async () => {
        const repos = await repositories([fixtureRelease(RELEASE_B)]);
        return { urls: { rpm: repos.urls.deb, deb: repos.urls.rpm }, release: fixtureRelease(RELEASE_B) };
      },
      /RPM repository URL http:\/\/\S+\/deb: expected \S+\/deb\/repodata\/repomd\.xml and \S+\/deb\/kismatic\.repo, but .*HTTP 404.*are the two URLs swapped\?\)\n {2}- DEB repository URL \S+\/rpm: expected \S+\/rpm\/dists\/kismatic-xenial\/InRelease/,
    ],
    [
      'a URL that is no repository',
      async () => {
        const repos = await repositories([fixtureRelease(RELEASE_B)]);
        return { urls: { rpm: repos.urls.rpm, deb: `${base}/elsewhere` }, release: fixtureRelease(RELEASE_B) };
      },
      /DEB repository URL http:\/\/\S+\/elsewhere: expected \S+\/elsewhere\/dists\/kismatic-xenial\/InRelease, but .*HTTP 404/,
    ],
  ];
  test.each(refusals)(
    'refuses %s and writes nothing',
    async (_name, prepare, message) => {
      const { urls, release } = await prepare();
      const ket = await ketAt(`refuse-${seq}`);
      const before = await snapshot(ket);
      await expect(
        consumeRelease({ ketDir: ket, release: await releaseSource(release), repository: { kind: 'urls', ...urls } }),
      ).rejects.toThrow(message);
      expect(await snapshot(ket)).toEqual(before);
    },
    60_000,
  );

  test('recording a release again changes nothing, the newest or an older one; another one is appended', async () => {
    const root = path.join(dir, 'www', 'record');
    const objects = folderObjects(root);
    const sign = gpgDetachedSigner(key);
    const opts = { what: 'test', logger: silentLogger };
    expect(await recordRelease(objects, sign, fixtureRelease(RELEASE_A), opts)).toBe('recorded');
    const first = await readFile(path.join(root, RELEASE_INDEX), 'utf8');
    expect(await recordRelease(objects, sign, fixtureRelease(RELEASE_A), opts)).toBe('unchanged');
    expect(await readFile(path.join(root, RELEASE_INDEX), 'utf8')).toBe(first);
    expect(await recordRelease(objects, sign, fixtureRelease(RELEASE_B), opts)).toBe('recorded');
    // An older release published again: recorded already, it does not become the newest.
    const both = await readFile(path.join(root, RELEASE_INDEX), 'utf8');
    expect(await recordRelease(objects, sign, fixtureRelease(RELEASE_A), opts)).toBe('unchanged');
    expect(await readFile(path.join(root, RELEASE_INDEX), 'utf8')).toBe(both);
    // A key rotation signs the same record again with the new key.
    const rotated = await readFile(path.join(root, RELEASE_INDEX), 'utf8');
    expect(await recordRelease(objects, gpgDetachedSigner(foreignKey), fixtureRelease(RELEASE_B), { ...opts, resign: true })).toBe(
      'resigned',
    );
    expect(await readFile(path.join(root, RELEASE_INDEX), 'utf8')).toBe(rotated);
    await copyFile(keys.publicKeyPath, path.join(root, 'public.key'));
    await expect(fetchVerifiedReleaseIndex(`${base}/record`, 'test')).rejects.toThrow(/signed by a key other than/);
    await copyFile(foreign.publicKeyPath, path.join(root, 'public.key'));
    expect((await fetchVerifiedReleaseIndex(`${base}/record`, 'test')).signer).toBe(foreign.fingerprint);
    expect(await recordRelease(objects, sign, fixtureRelease(RELEASE_B), { ...opts, resign: true })).toBe('resigned');
    await copyFile(keys.publicKeyPath, path.join(root, 'public.key'));
    const index = await fetchVerifiedReleaseIndex(`${base}/record`, 'test');
    expect(index.releases.map((r) => r.manifest)).toEqual([fixtureRelease(RELEASE_A).manifest, fixtureRelease(RELEASE_B).manifest]);
    expect(index.signer).toBe(keys.fingerprint);
  }, 60_000);

  describe('through a real publish into the embedded store', () => {
    let store: EmbeddedStore;
    beforeAll(async () => {
      store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
      for (const b of ['consume-rpm', 'consume-deb', 'ket-state']) await store.createBucket(b);
    }, 60_000);
    afterAll(async () => {
      await store?.close();
    });

    test('publish records build/release-manifest.json in both repositories; consume reads it back', async () => {
      const tiny: FixturePackage[] = [
        { name: 'kubelet', version: '1.7.4' },
        { name: 'etcd', version: '3.1.11' },
      ];
      const out = path.join(dir, 'build');
      await buildPackages(out, tiny, keys.keysPath);
      const release: ReleaseManifest = {
        schemaVersion: 1,
        manifest: 'tiny.yaml',
        packages: await Promise.all(
          tiny.map(async (p) => {
            const rpm = `${p.name}-${p.version}-1.x86_64.rpm`;
            const deb = `${p.name}_${p.version}-1_amd64.deb`;
            return {
              name: p.name,
              version: p.version,
              rpm: { version: `${p.version}-1`, fileName: rpm, sha256: await hashFile(path.join(out, 'rpms', rpm)) },
              deb: { version: `${p.version}-1`, fileName: deb, sha256: await hashFile(path.join(out, 'debs', deb)) },
            };
          }),
        ),
      };
      await writeFile(path.join(out, RELEASE_MANIFEST_FILE), JSON.stringify(release));
      const publish = () =>
        publishRepositories({
          rpmRepo: 'consume-rpm',
          debRepo: 'consume-deb',
          from: out,
          stateUrl: 's3://ket-state/consume',
          signingKey: { keysPath: keys.keysPath },
          env: { ...process.env, ...store.env() },
          logger: silentLogger,
          release: contentsOf(release),
        });
      await publish();
      const urls = { rpm: store.bucketUrl('consume-rpm'), deb: store.bucketUrl('consume-deb') };
      const index = await fetchVerifiedReleaseIndex(urls.rpm, 'RPM repository');
      expect(index.releases).toHaveLength(1);
      expect(index.releases[0]).toMatchObject(release);
      // A second publish of the same build records nothing new.
      await publish();
      expect((await fetchVerifiedReleaseIndex(urls.deb, 'DEB repository')).releases).toHaveLength(1);

      const ket = await ketAt('published');
      const result = await consumeRelease({ ketDir: ket, release: { kind: 'repository' }, repository: { kind: 'urls', ...urls } });
      expect(result.written).toBe(true);
      const prepare = await readFile(path.join(ket, 'integration/prepare.go'), 'utf8');
      expect(prepare).toContain(`sudo curl ${urls.rpm}/kismatic.repo -o`);
      expect(prepare).toContain('sudo apt-get -y install etcd=3.1.11-1`');
      expect(await readFile(path.join(ket, 'ansible/group_vars/all.yaml'), 'utf8')).toContain(`deb_gpg_key_url: ${urls.deb}/public.key\n`);
    }, 180_000);

    test('a build folder whose release manifest disagrees with its packages is refused before any write', async () => {
      const out = path.join(dir, 'build-bad');
      await buildPackages(out, [{ name: 'kubelet', version: '1.7.5' }], keys.keysPath);
      const release: ReleaseManifest = {
        schemaVersion: 1,
        manifest: 'bad.yaml',
        packages: [
          {
            name: 'kubelet',
            version: '1.7.5',
            rpm: { version: '1.7.5-1', fileName: 'kubelet-1.7.5-1.x86_64.rpm', sha256: '0'.repeat(64) },
            deb: { version: '1.7.5-1', fileName: 'kubelet_1.7.5-1_amd64.deb' },
          },
        ],
      };
      await writeFile(path.join(out, RELEASE_MANIFEST_FILE), JSON.stringify(release));
      await store.createBucket('bad-rpm');
      await store.createBucket('bad-deb');
      await expect(
        publishRepositories({
          rpmRepo: 'bad-rpm',
          debRepo: 'bad-deb',
          from: out,
          stateUrl: 's3://ket-state/bad',
          signingKey: { keysPath: keys.keysPath },
          env: { ...process.env, ...store.env() },
          logger: silentLogger,
          release: contentsOf(release),
        }),
      ).rejects.toThrow(
        /release-manifest\.json does not describe the packages in .*build-bad:\n {2}- rpms\/kubelet-1\.7\.5-1\.x86_64\.rpm has sha256 [0-9a-f]{64}, the manifest says 0{64}/,
      );
      const res = await fetch(`${store.bucketUrl('bad-rpm')}/repodata/repomd.xml`);
      expect(res.status).toBe(404);
    }, 120_000);
  });
});

/** What publish may contain (its stray check), from the release manifest the test wrote. */
function contentsOf(release: ReleaseManifest): { rpm: { name: string; version: string }[]; deb: { name: string; version: string }[] } {
  return {
    rpm: release.packages.map((p) => ({ name: p.name, version: p.rpm.version })),
    deb: release.packages.map((p) => ({ name: p.name, version: p.deb.version })),
  };
}
