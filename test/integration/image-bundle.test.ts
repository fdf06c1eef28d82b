import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseManifest } from '../../lib/manifest/load';
import { ResolvedPackage } from '../../lib/manifest/types';
import { fetchImages } from '../../lib/image-bundle/images';
import { imageArchiveMismatch, manifestsPath } from '../../lib/image-bundle/archive-verify';
import { buildOfflinePackage } from '../../lib/image-bundle/package';
import { archiveTag, parseRegistryMirror } from '../../lib/image-bundle/reference';
import { inspectRawManifest } from '../../lib/image-bundle/skopeo';
import { FixtureRegistry, FixtureImageSpec, pushFixtureImages, startFixtureRegistry } from '../../lib/local/registry/fixture-images';
import { freePort } from '../../lib/local/registry/registry';
import { run } from '../../lib/util/exec';
import { readReleaseManifest, RELEASE_MANIFEST_FILE } from '../../lib/release-manifest';
import { silentLogger } from '../../lib/util/log';
import { generateTestKeys } from '../support/gpg';
import { runCli } from '../support/cli';
import { readFile, writeFile } from 'node:fs/promises';

function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  return runCli(args, { env: { SOURCE_DATE_EPOCH: '1503273600' } });
}

jest.setTimeout(120_000);

const SPECS: FixtureImageSpec[] = [
  { name: 'pause', repository: 'gcr.io/google_containers/pause-amd64', tag: '3.0' },
  { name: 'busybox', repository: 'busybox', tag: 'latest' },
  { name: 'calico', repository: 'calico/node', tag: 'v1.3.0', bytes: 512 * 1024 },
];

function manifestText(images: string): string {
  return `
metadata: { maintainer: M <m@example.com>, vendor: V, license: Apache Software License 2.0, homepage: https://example.com, arch: { rpm: x86_64, deb: amd64 } }
packages:
  - name: kubelet
    description: k
    versioning: kismatic
    version: 1.7.4
    iteration: 1
    sources: [{ id: s, url: https://example.com/k, sha256: "${'0'.repeat(64)}" }]
    files: [{ from: s, path: /usr/bin/kubelet, mode: "0755" }]
  - name: kismatic-offline
    description: Kismatic offline container images
    versioning: kismatic
    versionFrom: kubelet
    images:
${images}
`;
}

function offlinePackage(images: string): ResolvedPackage {
  return parseManifest(manifestText(images), 'test-release.yaml').packages.find((p) => p.name === 'kismatic-offline')!;
}

const METADATA = {
  maintainer: 'M <m@example.com>',
  vendor: 'V',
  license: 'Apache Software License 2.0',
  homepage: 'https://example.com',
  arch: { rpm: 'x86_64', deb: 'amd64' },
};

const imageLine = (name: string, repository: string, tag: string, digest: string) =>
  `      - { name: ${name}, repository: ${repository}, tag: "${tag}", digest: "${digest}" }`;

describe('kismatic-offline images from a local docker-registry (integration, slow)', () => {
  let fixtures: FixtureRegistry;
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'ket-offline-test-'));
    fixtures = await startFixtureRegistry(SPECS);
  });
  afterAll(async () => {
    await fixtures?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const pinnedPackage = () => offlinePackage(fixtures.images.map((i) => imageLine(i.name, i.repository, i.tag, i.digest)).join('\n'));

  it('copies each pinned image into a docker-archive keeping its repo:tag and config, then reuses the cache', async () => {
    const cacheDir = path.join(work, 'cache-ok');
    const mirror = parseRegistryMirror(fixtures.mirrorUrl);
    const fetched = await fetchImages(pinnedPackage(), { cacheDir, mirror, logger: silentLogger });
    expect(fetched.map((f) => f.cached)).toEqual([false, false, false]);
    for (const f of fetched) {
      const pushed = fixtures.images.find((i) => i.name === f.image.name)!;
      expect(f.digest).toBe(pushed.digest);
      // skopeo opens the archive by the tag it must carry: fails if the tag is not in it.
      const tagged = `docker-archive:${f.archivePath}:${f.image.repository}:${f.image.tag}`;
      const raw = await inspectRawManifest(tagged);
      expect(raw.config!.digest).toBe(pushed.configDigest);
      const { stdout } = await run('tar', ['-xOf', f.archivePath, 'manifest.json']);
      const [entry] = JSON.parse(stdout) as { RepoTags: string[]; Config: string }[];
      expect(entry.RepoTags).toHaveLength(1);
      expect(entry.RepoTags[0]).toMatch(new RegExp(`(^|/)${f.image.repository.replace(/[.]/g, '\\.')}:${f.image.tag}$`));
      expect(entry.Config).toBe(`${pushed.configDigest.replace('sha256:', '')}.json`);
    }
    const again = await fetchImages(pinnedPackage(), { cacheDir, mirror, logger: silentLogger });
    expect(again.map((f) => f.cached)).toEqual([true, true, true]);
    expect(again.map((f) => f.archivePath)).toEqual(fetched.map((f) => f.archivePath));
  });

  it('checks a cached archive against its pin on every use: a damaged, swapped or unrecorded one is copied again', async () => {
    const cacheDir = path.join(work, 'cache-verify');
    const mirror = parseRegistryMirror(fixtures.mirrorUrl);
    const first = await fetchImages(pinnedPackage(), { cacheDir, mirror, logger: silentLogger });
    for (const f of first)
      expect(await imageArchiveMismatch(f.archivePath, f.digest, archiveTag(f.image.repository, f.image.tag))).toBeUndefined();
    const [damaged, swapped, unrecorded] = first;
    // Damaged: bytes changed in the middle (a layer's or a header's, either way a broken link).
    const bytes = await readFile(damaged.archivePath);
    for (let i = Math.floor(bytes.length / 2); i < Math.floor(bytes.length / 2) + 64; i++) bytes[i] ^= 0xff;
    await writeFile(damaged.archivePath, bytes);
    // Swapped: another image's archive (and its record) under this image's name.
    await writeFile(swapped.archivePath, await readFile(unrecorded.archivePath));
    await writeFile(manifestsPath(swapped.archivePath), await readFile(manifestsPath(unrecorded.archivePath)));
    // Unrecorded: an archive cached before the manifests were kept beside it.
    await rm(manifestsPath(unrecorded.archivePath));
    const warnings: string[] = [];
    const again = await fetchImages(pinnedPackage(), {
      cacheDir,
      mirror,
      logger: { info: () => undefined, warn: (m) => warnings.push(m) },
    });
    expect(again.map((f) => f.cached)).toEqual([false, false, false]);
    // Images are fetched concurrently: the warnings come in any order.
    expect(warnings).toHaveLength(3);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^image "${damaged.image.name}" .*: the cached archive .* is not ${damaged.digest}: `)),
        expect.stringMatching(
          new RegExp(
            `^image "${swapped.image.name}" .*: the cached archive .* is not ${swapped.digest}: its recorded manifest does not hash to the pinned`,
          ),
        ),
        expect.stringMatching(
          new RegExp(`^image "${unrecorded.image.name}" .*: the cached archive .* no record of the manifest it was copied at`),
        ),
      ]),
    );
    for (const f of again)
      expect(await imageArchiveMismatch(f.archivePath, f.digest, archiveTag(f.image.repository, f.image.tag))).toBeUndefined();
    const third = await fetchImages(pinnedPackage(), { cacheDir, mirror, logger: silentLogger });
    expect(third.map((f) => f.cached)).toEqual([true, true, true]);
  });

  it('builds kismatic-offline as RPM and DEB holding /opt/images/NAME.tar archives that keep their tags', async () => {
    const dir = await mkdtemp(path.join(work, 'build-'));
    const [cacheDir, rpmDir, debDir] = ['cache', 'rpms', 'debs'].map((d) => path.join(dir, d));
    await mkdir(rpmDir);
    await mkdir(debDir);
    const mirror = parseRegistryMirror(fixtures.mirrorUrl);
    const built = await buildOfflinePackage(pinnedPackage(), {
      cacheDir,
      mirror,
      logger: silentLogger,
      metadata: METADATA,
      rpmDir,
      debDir,
      sourceDateEpoch: 1503273600,
    });
    expect(path.basename(built.rpm!)).toBe('kismatic-offline-1.7.4_1-1.x86_64.rpm');
    expect(path.basename(built.deb!)).toBe('kismatic-offline_1.7.4-1_amd64.deb');
    const expected = SPECS.map((s) => `/opt/images/${s.name}.tar`).sort();

    const rpmList = (await run('rpm', ['-qpl', built.rpm!])).stdout.trim().split('\n').sort();
    expect(rpmList).toEqual(expected);
    const rpmInfo = (await run('rpm', ['-qp', '--qf', '%{VERSION}-%{RELEASE} %{PAYLOADCOMPRESSOR}', built.rpm!])).stdout;
    expect(rpmInfo).toBe('1.7.4_1-1 xz');
    const debList = (await run('dpkg-deb', ['-c', built.deb!])).stdout;
    const debFiles = debList
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('-'))
      .map((l) => l.split(/\s+/).pop()!.replace(/^\./, ''))
      .sort();
    expect(debFiles).toEqual(expected);
    expect((await run('dpkg-deb', ['-f', built.deb!, 'Version'])).stdout.trim()).toBe('1.7.4-1');

    // Every archive, as installed from either package, opens under its original repo:tag and
    // carries the config (image ID) the registry served.
    const rpmRoot = path.join(dir, 'rpm-root');
    const debRoot = path.join(dir, 'deb-root');
    await mkdir(rpmRoot);
    await run('sh', ['-c', `rpm2archive - < "$1" | tar -xzf -`, 'sh', built.rpm!], { cwd: rpmRoot });
    await run('dpkg-deb', ['-x', built.deb!, debRoot]);
    for (const root of [rpmRoot, debRoot]) {
      for (const pushed of fixtures.images) {
        const archive = path.join(root, 'opt/images', `${pushed.name}.tar`);
        const raw = await inspectRawManifest(`docker-archive:${archive}:${pushed.repository}:${pushed.tag}`);
        expect(raw.config!.digest).toBe(pushed.configDigest);
      }
    }
  });

  const expectFailure = async (pkg: ResolvedPackage, mirrorUrl: string, message: RegExp) => {
    const dir = await mkdtemp(path.join(work, 'fail-'));
    const [cacheDir, rpmDir, debDir] = ['cache', 'rpms', 'debs'].map((d) => path.join(dir, d));
    await mkdir(rpmDir);
    await mkdir(debDir);
    const build = buildOfflinePackage(pkg, {
      cacheDir,
      mirror: parseRegistryMirror(mirrorUrl),
      logger: silentLogger,
      metadata: METADATA,
      rpmDir,
      debDir,
      sourceDateEpoch: 1503273600,
    });
    await expect(build).rejects.toThrow(message);
    // Nothing half-written: no package, and no partial archive left in the cache.
    expect(await readdir(rpmDir)).toEqual([]);
    expect(await readdir(debDir)).toEqual([]);
    const left = await readdir(path.join(cacheDir, 'images'), { recursive: true }).catch(() => [] as string[]);
    expect(left.filter((f) => String(f).includes('partial'))).toEqual([]);
  };

  it('names the image when its pinned digest is not what the tag holds (digest mismatch)', async () => {
    const [pause, busybox] = fixtures.images;
    // pause pinned at busybox's digest: the registry has no such manifest in pause's repository.
    await expectFailure(
      offlinePackage(imageLine('pause', pause.repository, pause.tag, busybox.digest)),
      fixtures.mirrorUrl,
      new RegExp(
        `image "pause" \\(gcr\\.io/google_containers/pause-amd64:3\\.0\\): digest mismatch: release\\.yaml pins ${busybox.digest}, but .*pause-amd64:3\\.0 is ${pause.digest}`,
      ),
    );
  });

  it('names the image when the registry serves a manifest that does not hash to the pin (tampered)', async () => {
    const [pushed] = await pushFixtureImages(fixtures.registry, [{ name: 'tampered', repository: 'tampered/image', tag: 'v1' }]);
    const hex = pushed.digest.replace('sha256:', '');
    const blob = path.join(fixtures.registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const manifest = await readFile(blob, 'utf8');
    await writeFile(blob, manifest.replace('"schemaVersion":2', '"schemaVersion": 2'));
    await expectFailure(
      offlinePackage(imageLine('tampered', pushed.repository, pushed.tag, pushed.digest)),
      fixtures.mirrorUrl,
      new RegExp(
        `image "tampered" \\(tampered/image:v1\\): digest mismatch: .*tampered/image served content that does not hash to the pinned ${pushed.digest}`,
      ),
    );
  });

  it('names the image when it is not in the registry', async () => {
    const [pause] = fixtures.images;
    await expectFailure(
      offlinePackage(imageLine('tiller', 'gcr.io/kubernetes-helm/tiller', 'v2.5.1', pause.digest)),
      fixtures.mirrorUrl,
      /image "tiller" \(gcr\.io\/kubernetes-helm\/tiller:v2\.5\.1\): not found: .*tiller@sha256:[0-9a-f]{64} is not in registry 127\.0\.0\.1:\d+ \(nor is the tag v2\.5\.1\)/,
    );
  });

  it('names the image and the registry when the registry is down', async () => {
    const port = await freePort();
    await expectFailure(
      pinnedPackage(),
      `http://127.0.0.1:${port}`,
      new RegExp(`image "\\w+" \\(.*\\): cannot reach registry 127\\.0\\.0\\.1:${port}: .*connection refused`),
    );
  });

  it('ket-packages build --registry-mirror builds and signs kismatic-offline; a missing image fails it naming the image, writing nothing', async () => {
    const dir = await mkdtemp(path.join(work, 'cli-'));
    const keys = await generateTestKeys(path.join(dir, 'keys'));
    const lines = fixtures.images.map((i) => imageLine(i.name, i.repository, i.tag, i.digest));
    await writeFile(path.join(dir, 'ok.yaml'), manifestText(lines.join('\n')));
    const common = [
      '--only',
      'kismatic-offline',
      '--registry-mirror',
      fixtures.mirrorUrl,
      '--cache-dir',
      path.join(dir, 'cache'),
      '--keys-path',
      keys.keysPath,
    ];
    const ok = await cli(['build', '--manifest', path.join(dir, 'ok.yaml'), '--out', path.join(dir, 'out'), ...common]);
    expect(ok.stderr).toMatch(/kismatic-offline: \[3\/3\]/);
    expect(ok.code).toBe(0);
    const rpm = path.join(dir, 'out/rpms/kismatic-offline-1.7.4_1-1.x86_64.rpm');
    expect((await run('rpm', ['-qpl', rpm])).stdout.trim().split('\n').sort()).toEqual(
      SPECS.map((x) => `/opt/images/${x.name}.tar`).sort(),
    );
    expect((await run('rpm', ['-qp', '--qf', '%{SIGPGP:pgpsig}%{RSAHEADER:pgpsig}', rpm])).stdout).toContain(
      keys.keyId.slice(-16).toLowerCase(),
    );
    expect(await readdir(path.join(dir, 'out/debs'))).toEqual(['kismatic-offline_1.7.4-1_amd64.deb']);
    // The release manifest names each image with the digest it was copied at.
    const release = await readReleaseManifest(path.join(dir, 'out', RELEASE_MANIFEST_FILE));
    expect(release.packages.find((p) => p.name === 'kismatic-offline')!.images).toEqual(
      fixtures.images.map((i) => ({ name: i.name, repository: i.repository, tag: i.tag, digest: i.digest })),
    );

    const missing = imageLine('tiller', 'gcr.io/kubernetes-helm/tiller', 'v2.5.1', fixtures.images[0].digest);
    await writeFile(path.join(dir, 'missing.yaml'), manifestText([...lines, missing].join('\n')));
    const bad = await cli(['build', '--manifest', path.join(dir, 'missing.yaml'), '--out', path.join(dir, 'out-bad'), ...common]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/image "tiller" \(gcr\.io\/kubernetes-helm\/tiller:v2\.5\.1\): not found/);
    expect(await readdir(path.join(dir, 'out-bad')).catch(() => [])).toEqual([]);

    // Registry down: a port nobody listens on.
    const down = await cli([
      'build',
      '--manifest',
      path.join(dir, 'ok.yaml'),
      '--out',
      path.join(dir, 'out-down'),
      ...common,
      '--registry-mirror',
      `http://127.0.0.1:${await freePort()}`,
      '--cache-dir',
      path.join(dir, 'cache-down'),
    ]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/image "\w+" \(.*\): cannot reach registry 127\.0\.0\.1:\d+/);
    expect(await readdir(path.join(dir, 'out-down')).catch(() => [])).toEqual([]);
  });

  it('ket-packages pin --registry-mirror writes the digest each unpinned image tag has in place of unpinned: true', async () => {
    const dir = await mkdtemp(path.join(work, 'pin-'));
    const file = path.join(dir, 'release.yaml');
    const lines = fixtures.images.map((i, n) =>
      n === 0
        ? imageLine(i.name, i.repository, i.tag, i.digest)
        : `      - { name: ${i.name}, repository: ${i.repository}, tag: "${i.tag}", unpinned: true }`,
    );
    await writeFile(file, manifestText(lines.join('\n')));
    const result = await cli(['pin', '--manifest', file, '--registry-mirror', fixtures.mirrorUrl]);
    expect(result.stderr).toMatch(/pinned {6}kismatic-offline image busybox \(busybox:latest\): sha256:/);
    expect(result.code).toBe(0);
    const pinned = parseManifest(await readFile(file, 'utf8'), file).packages.find((p) => p.name === 'kismatic-offline')!;
    expect(pinned.images.map((i) => [i.name, i.digest, i.unpinned])).toEqual(fixtures.images.map((i) => [i.name, i.digest, undefined]));
  });
});
