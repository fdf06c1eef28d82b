import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import { FixtureServer, startFixtureServer } from '../../lib/local/offline-upstream/server';
import { run } from '../../lib/util/exec';
import { readReleaseManifest, RELEASE_MANIFEST_FILE } from '../../lib/release-manifest';
import { hashFile } from '../../lib/util/hash';
import { CliResult, runCli } from '../support/cli';
import { generateTestKeys, TestKeys } from '../support/gpg';

const PASSPHRASE = 'fixture passphrase';
/** The binary packages; kismatic-offline needs the fixture registry and has its own tests. */
const ONLY = ['--only', 'kubelet,kubectl,etcd,transition-etcd,docker-engine'];

const RPMS = [
  'docker-engine-1.12.6-1.el7.centos.x86_64.rpm',
  'etcd-3.1.10-1.x86_64.rpm',
  'kubectl-1.7.4_1-1.x86_64.rpm',
  'kubelet-1.7.4_1-1.x86_64.rpm',
  'transition-etcd-3.0.17-1.x86_64.rpm',
];
const DEBS = [
  'docker-engine_1.12.6-0~ubuntu-xenial_amd64.deb',
  'etcd_3.1.10_amd64.deb',
  'kubectl_1.7.4-1_amd64.deb',
  'kubelet_1.7.4-1_amd64.deb',
  'transition-etcd_3.0.17_amd64.deb',
];

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return runCli(args, { env, cleanEnv: true });
}

async function listPackages(out: string): Promise<string[]> {
  const names: string[] = [];
  for (const kind of ['rpms', 'debs']) {
    const dir = path.join(out, kind);
    if (existsSync(dir)) names.push(...(await readdir(dir)).map((n) => `${kind}/${n}`));
  }
  return names.sort();
}

// Each case spawns the CLI and real tools; the machine may be busy with other suites.
jest.setTimeout(60_000);

const rpmQ = async (args: string[]) => (await run('rpm', ['-qp', '--nosignature', ...args])).stdout;

describe('build (integration, slow)', () => {
  let server: FixtureServer;
  let keys: TestKeys;
  let tmp: string;
  let cache: string;
  let out: string;
  let cold: CliResult;

  const build = (extra: string[], env: NodeJS.ProcessEnv = {}) =>
    cli(['build', '--manifest', server.manifestPath, '--mirror', server.url, ...ONLY, ...extra], {
      KEYS_PATH: keys.keysPath,
      KET_GPG_PASSPHRASE: PASSPHRASE,
      ...env,
    });

  /** A failed build: non-zero exit, the message, and the output folder holding only what was there before. */
  async function expectCleanFailure(r: CliResult, message: RegExp, outDir: string, before: string[]): Promise<void> {
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(await listPackages(outDir)).toEqual(before);
    const siblings = await readdir(path.dirname(outDir));
    expect(siblings.filter((n) => n.includes('.partial-'))).toEqual([]);
  }

  /** An output folder with a package from an earlier build in it, which a failure must leave alone. */
  async function previousOutput(name: string): Promise<{ dir: string; before: string[] }> {
    const dir = path.join(tmp, name, 'build');
    await mkdir(path.join(dir, 'rpms'), { recursive: true });
    await writeFile(path.join(dir, 'rpms', 'old-1.0-1.x86_64.rpm'), 'from an earlier build');
    return { dir, before: ['rpms/old-1.0-1.x86_64.rpm'] };
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ket-build-test-'));
    server = await startFixtureServer({ dir: path.join(tmp, 'fixtures') });
    keys = await generateTestKeys(path.join(tmp, 'keys'), { passphrase: PASSPHRASE });
    cache = path.join(tmp, 'cache');
    out = path.join(tmp, 'ok', 'build');
    cold = await build(['--out', out, '--cache-dir', cache]);
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('builds 5 RPMs and 5 DEBs with the release strings', async () => {
    expect(cold.stderr).not.toMatch(/^error/m);
    expect(cold.code).toBe(0);
    expect(await listPackages(out)).toEqual([...DEBS.map((d) => `debs/${d}`), ...RPMS.map((r) => `rpms/${r}`)].sort());
    expect(cold.stderr).toMatch(/downloads: 6 fetched .*, 0 from cache/);
    expect(cold.stderr).toMatch(/downloaded {2}kubelet source node-binaries: .*sha256 verified/);
  });

  it('writes build/release-manifest.json: each package with its version strings, file names and sha256', async () => {
    const release = await readReleaseManifest(path.join(out, RELEASE_MANIFEST_FILE));
    expect(release.packages.map((p) => p.name)).toEqual(['kubelet', 'kubectl', 'etcd', 'transition-etcd', 'docker-engine']);
    const kubelet = release.packages[0];
    expect(kubelet.rpm).toEqual({
      version: '1.7.4_1-1',
      fileName: RPMS.find((r) => r.startsWith('kubelet-')),
      sha256: await hashFile(path.join(out, 'rpms', kubelet.rpm.fileName)),
    });
    expect(kubelet.deb).toEqual({
      version: '1.7.4-1',
      fileName: DEBS.find((d) => d.startsWith('kubelet_')),
      sha256: await hashFile(path.join(out, 'debs', kubelet.deb.fileName)),
    });
    expect(kubelet.ket?.variables).toMatchObject({ kismatic_yum_version: '1.7.4_1-1' });
  });

  it('RPMs: version-release, requires, files with modes and root owner', async () => {
    const rpm = (n: string) => path.join(out, 'rpms', n);
    expect(
      await rpmQ([
        '--qf',
        '%{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{VENDOR} %{LICENSE} %{URL} %{PAYLOADCOMPRESSOR}\n',
        rpm('kubelet-1.7.4_1-1.x86_64.rpm'),
      ]),
    ).toBe('kubelet 1.7.4_1-1 x86_64 Apprenda Apache Software License 2.0 https://apprenda.com/kismatic xz\n');
    const requires = (await rpmQ(['--requires', rpm('kubelet-1.7.4_1-1.x86_64.rpm')]))
      .split('\n')
      .filter((l) => l && !l.startsWith('rpmlib('));
    expect(requires.sort()).toEqual(['bridge-utils', 'ethtool', 'iptables >= 1.4.21', 'nfs-utils', 'socat', 'util-linux']);
    expect(
      await rpmQ(['--qf', '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]', rpm('etcd-3.1.10-1.x86_64.rpm')]),
    ).toBe(
      '-rwxr-xr-x root:root /usr/bin/etcd_k8s\n-rwxr-xr-x root:root /usr/bin/etcd_networking\n-rwxr-xr-x root:root /usr/bin/etcdctl\n',
    );
    expect(await rpmQ(['-l', rpm('transition-etcd-3.0.17-1.x86_64.rpm')])).toBe('/usr/bin/etcd_v3_0\n/usr/bin/etcdctl_v3_0\n');
    expect(await rpmQ(['-l', rpm('kubectl-1.7.4_1-1.x86_64.rpm')])).toBe('/usr/bin/kubectl\n');
    // The binaries are the upstream bytes: etcd_k8s is the 3.1.10 etcd of the tarball.
    const extracted = path.join(tmp, 'x');
    await mkdir(extracted, { recursive: true });
    await run('sh', ['-c', 'rpm2archive - < "$1" | tar -xzf - -C "$2"', 'sh', rpm('etcd-3.1.10-1.x86_64.rpm'), extracted]);
    expect(await readFile(path.join(extracted, 'usr/bin/etcd_k8s'), 'utf8')).toContain('etcd Version: 3.1.10 (fixture)');
  });

  it('docker-engine RPM: one package with both upstream payloads, their requires and scriptlets', async () => {
    const rpm = path.join(out, 'rpms', RPMS[0]);
    expect(await rpmQ(['--qf', '%{NAME} %{VERSION}-%{RELEASE}\n', rpm])).toBe('docker-engine 1.12.6-1.el7.centos\n');
    const files = await rpmQ(['-l', rpm]);
    expect(files).toContain('/usr/bin/dockerd\n');
    expect(files).toContain('/usr/share/selinux/packages/docker/docker.pp\n');
    expect(await rpmQ(['-c', rpm])).toBe('/etc/sysconfig/docker\n');
    const requires = await rpmQ(['--qf', '[%{REQUIRENEVRS} %{REQUIREFLAGS:deptype}\n]', rpm]);
    expect(requires).toContain('iptables manual');
    expect(requires).toContain('device-mapper-libs >= 1.02.90-1 manual');
    expect(requires).toContain('policycoreutils post');
    expect(requires).not.toContain('docker-engine-selinux');
    expect(await rpmQ(['--provides', rpm])).toContain('docker-engine-selinux = 1.12.6-1.el7.centos');
    expect(await rpmQ(['--conflicts', rpm])).toContain('docker-io');
    const scripts = await rpmQ(['--scripts', rpm]);
    expect(scripts).toMatch(/postinstall scriptlet \(using \/bin\/sh\):[\s\S]*groupadd --system docker[\s\S]*semodule -n -i/);
    expect(await rpmQ(['--qf', '[%{FILELINKTOS}]', rpm])).toBe('docker-containerd');
  });

  it('DEBs: control fields, depends, files with modes and root owner', async () => {
    const deb = (n: string) => path.join(out, 'debs', n);
    const field = async (file: string, f: string) => (await run('dpkg-deb', ['-f', file, f])).stdout.trim();
    expect(await field(deb('kubelet_1.7.4-1_amd64.deb'), 'Package')).toBe('kubelet');
    expect(await field(deb('kubelet_1.7.4-1_amd64.deb'), 'Version')).toBe('1.7.4-1');
    expect(await field(deb('kubelet_1.7.4-1_amd64.deb'), 'Depends')).toBe(
      'bridge-utils, iptables (>= 1.4.21), socat, util-linux, ethtool, nfs-common',
    );
    expect(await field(deb('etcd_3.1.10_amd64.deb'), 'Version')).toBe('3.1.10');
    expect(await field(deb('etcd_3.1.10_amd64.deb'), 'Depends')).toBe('');
    expect(await field(deb('kubectl_1.7.4-1_amd64.deb'), 'Maintainer')).toBe('Apprenda <info@apprenda.com>');
    const listing = (await run('dpkg-deb', ['-c', deb('etcd_3.1.10_amd64.deb')])).stdout;
    const files = listing.split('\n').filter((l) => l.startsWith('-'));
    expect(files.map((l) => l.split(/\s+/).slice(0, 2).join(' ') + ' ' + l.split(/\s+/).pop())).toEqual([
      '-rwxr-xr-x root/root ./usr/bin/etcd_k8s',
      '-rwxr-xr-x root/root ./usr/bin/etcd_networking',
      '-rwxr-xr-x root/root ./usr/bin/etcdctl',
    ]);
  });

  it('docker-engine DEB: upstream contents, relations, conffiles and maintainer scripts kept, under our version', async () => {
    const deb = path.join(out, 'debs', DEBS[0]);
    const info = (await run('dpkg-deb', ['-I', deb])).stdout;
    expect(info).toContain(' Version: 1.12.6-0~ubuntu-xenial');
    expect(info).toContain(' Depends: iptables, init-system-helpers (>= 1.18~)');
    expect(info).toContain(' Conflicts: docker (<< 1.5~), docker.io');
    expect(info).toMatch(/postinst\s+#!\/bin\/sh/);
    expect(
      (
        await run('dpkg-deb', ['--ctrl-tarfile', deb]).then(() =>
          run('sh', ['-c', 'dpkg-deb --ctrl-tarfile "$1" | tar -xOf - ./conffiles', 'sh', deb]),
        )
      ).stdout,
    ).toBe('/etc/default/docker\n/etc/init.d/docker\n');
    const listing = (await run('dpkg-deb', ['-c', deb])).stdout;
    expect(listing).toMatch(/-rwxr-xr-x root\/root .* \.\/usr\/bin\/dockerd/);
    expect(listing).toMatch(/lrwxrwxrwx root\/root .* \.\/usr\/bin\/docker-daemon -> dockerd/);
  });

  it('rpm -K: OK with the public key imported into an rpmdb, NOKEY without it', async () => {
    const withKey = path.join(tmp, 'rpmdb-key');
    const without = path.join(tmp, 'rpmdb-empty');
    await mkdir(withKey);
    await mkdir(without);
    await run('rpm', ['--dbpath', withKey, '--import', keys.publicKeyPath]);
    for (const r of RPMS) {
      const file = path.join(out, 'rpms', r);
      const good = await run('rpm', ['--dbpath', withKey, '-K', file]);
      expect(good.stdout).toMatch(/digests signatures OK/);
      await expect(run('rpm', ['--dbpath', without, '-K', file])).rejects.toThrow(/NOKEY|SIGNATURES NOT OK/);
    }
  });

  it('a second build downloads nothing and gives byte-identical DEBs and identical RPM payloads', async () => {
    const out2 = path.join(tmp, 'again', 'build');
    const servedBefore = server.served.count;
    const r = await build(['--out', out2, '--cache-dir', cache]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/downloads: 0 fetched .*, 6 from cache/);
    expect(r.stderr).not.toContain('downloading ');
    expect(server.served.count).toBe(servedBefore);
    for (const d of DEBS) {
      expect((await readFile(path.join(out2, 'debs', d))).equals(await readFile(path.join(out, 'debs', d)))).toBe(true);
    }
    for (const p of RPMS) {
      const digest = (dir: string) => rpmQ(['--qf', '%{PAYLOADDIGEST} %{SHA256HEADER}', path.join(dir, 'rpms', p)]);
      expect(await digest(out2)).toBe(await digest(out));
    }
  }, 60_000);

  it('a damaged file in the cache is noticed, removed and downloaded again', async () => {
    const dir = path.join(tmp, 'damaged', 'build');
    const damagedCache = path.join(tmp, 'cache-damaged');
    const f = server.fileFor('etcd', 'etcd');
    await mkdir(path.join(damagedCache, 'sha256'), { recursive: true });
    await writeFile(path.join(damagedCache, 'sha256', f.sha256), 'not the etcd tarball');
    const r = await cli(
      ['build', '--manifest', server.manifestPath, '--mirror', server.url, '--only', 'etcd', '--out', dir, '--cache-dir', damagedCache],
      { KEYS_PATH: keys.keysPath, KET_GPG_PASSPHRASE: PASSPHRASE },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `warning: etcd source etcd: cached ${path.join(damagedCache, 'sha256', f.sha256)} does not match its sha256`,
    );
    expect(r.stderr).toMatch(/downloads: 1 fetched/);
    expect((await readFile(path.join(damagedCache, 'sha256', f.sha256))).equals(await readFile(f.file))).toBe(true);
  });

  it('checksum mismatch: names package, source URL, expected and actual; keeps nothing', async () => {
    const { dir, before } = await previousOutput('mismatch');
    const f = server.fileFor('etcd', 'etcd');
    server.inject(f.urlPath, 'corrupt');
    try {
      const r = await build(['--out', dir, '--cache-dir', path.join(tmp, 'cache-mismatch')]);
      await expectCleanFailure(
        r,
        new RegExp(
          `etcd source etcd: checksum mismatch for ${server.url}${f.urlPath}\\n\\s+expected sha256 ${f.sha256}\\n\\s+actual\\s+sha256 [0-9a-f]{64}`,
        ),
        dir,
        before,
      );
      expect(existsSync(path.join(tmp, 'cache-mismatch', 'sha256', f.sha256))).toBe(false);
    } finally {
      server.clearFailures();
    }
  });

  it('HTTP 404: names the package and URL', async () => {
    const { dir, before } = await previousOutput('404');
    const f = server.fileFor('docker-engine', 'engine-deb');
    server.inject(f.urlPath, 'not-found');
    try {
      const r = await build(['--out', dir, '--cache-dir', path.join(tmp, 'cache-404')]);
      await expectCleanFailure(
        r,
        new RegExp(`docker-engine source engine-deb: ${server.url}${f.urlPath.replace(/[.]/g, '\\.')}: HTTP 404`),
        dir,
        before,
      );
    } finally {
      server.clearFailures();
    }
  });

  it('truncated download (after the dl.k8s.io redirect): names the source URL', async () => {
    const { dir, before } = await previousOutput('truncated');
    const f = server.fileFor('kubelet', 'node-binaries');
    server.inject(f.urlPath, 'truncate');
    try {
      const r = await cli(
        [
          'build',
          '--manifest',
          server.manifestPath,
          '--mirror',
          server.url,
          '--out',
          dir,
          '--cache-dir',
          path.join(tmp, 'cache-truncated'),
          '--only',
          'kubelet',
        ],
        { KEYS_PATH: keys.keysPath, KET_GPG_PASSPHRASE: PASSPHRASE },
      );
      await expectCleanFailure(
        r,
        new RegExp(
          `kubelet source node-binaries: ${server.url}/dl\\.k8s\\.io/v1\\.7\\.4/kubernetes-node-linux-amd64\\.tar\\.gz: .*truncated download`,
        ),
        dir,
        before,
      );
    } finally {
      server.clearFailures();
    }
  });

  it('connection refused: names the URL', async () => {
    const { dir, before } = await previousOutput('refused');
    // A port that was just free: nothing listens there.
    const closed = await startFixtureServerPortOnly();
    const r = await cli(
      [
        'build',
        '--manifest',
        server.manifestPath,
        '--mirror',
        closed,
        '--out',
        dir,
        '--cache-dir',
        path.join(tmp, 'cache-refused'),
        '--only',
        'etcd',
      ],
      { KEYS_PATH: keys.keysPath, KET_GPG_PASSPHRASE: PASSPHRASE },
    );
    await expectCleanFailure(r, new RegExp(`etcd source etcd: ${closed}/github\\.com/.*: connection refused`), dir, before);
  });

  it('missing key and wrong passphrase fail before any download, naming the key source', async () => {
    const { dir, before } = await previousOutput('keys');
    const missing = await build(['--out', dir, '--cache-dir', path.join(tmp, 'cache-keys')], { KEYS_PATH: path.join(tmp, 'no-such-keys') });
    await expectCleanFailure(missing, /KEYS_PATH=.*no-such-keys: the folder .*no-such-keys does not exist/, dir, before);
    const wrong = await build(['--out', dir, '--cache-dir', path.join(tmp, 'cache-keys')], { KET_GPG_PASSPHRASE: 'wrong' });
    await expectCleanFailure(wrong, /KEYS_PATH=.*: wrong passphrase for key/, dir, before);
    expect(wrong.stderr).not.toContain('downloading');
    const none = await cli(['build', '--manifest', server.manifestPath, '--mirror', server.url, ...ONLY, '--out', dir], {});
    await expectCleanFailure(none, /needs a GPG key: set KEYS_PATH/, dir, before);
  });

  it('--out or --cache-dir naming a file, or a path under /proc, fails at once naming the value (no stack, no download)', async () => {
    const file = path.join(tmp, 'somefile');
    await writeFile(file, 'not a folder');
    const cases: Array<[string[], RegExp]> = [
      [['--out', file, '--cache-dir', path.join(tmp, 'cache-file')], new RegExp(`output folder ${file}: exists and is not a folder`)],
      [['--out', path.join(tmp, 'out-file'), '--cache-dir', file], new RegExp(`download cache folder ${file}: exists and is not a folder`)],
      [
        ['--out', '/proc/nope/out', '--cache-dir', path.join(tmp, 'cache-file')],
        /output folder \/proc\/nope\/out: cannot create \/proc\/nope/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await build(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/downloading|ENOTDIR|\n\s+at /);
    }
  });

  it('a key folder given as --keys-path is named as --keys-path, not KEYS_PATH', async () => {
    const { dir, before } = await previousOutput('keys-flag');
    const missing = path.join(tmp, 'no-such-keys');
    const r = await build(['--out', dir, '--cache-dir', path.join(tmp, 'cache-keys'), '--keys-path', missing], { KEYS_PATH: '' });
    await expectCleanFailure(r, new RegExp(`--keys-path ${missing}: the folder ${missing} does not exist`), dir, before);
    expect(r.stderr).not.toContain('KEYS_PATH');
  });

  it('Ctrl-C stops the build, kills its tools and removes the partial output and the temporary key home', async () => {
    const { dir, before } = await previousOutput('interrupted');
    const scratch = path.join(tmp, 'interrupted-tmp');
    await mkdir(scratch, { recursive: true });
    let interrupted = false;
    const r = await runCli(
      [
        'build',
        '--manifest',
        server.manifestPath,
        '--mirror',
        server.url,
        ...ONLY,
        '--out',
        dir,
        '--cache-dir',
        path.join(tmp, 'cache-int'),
      ],
      {
        cleanEnv: true,
        // Its own temporary folder, so what the build leaves there can be seen.
        env: { KEYS_PATH: keys.keysPath, KET_GPG_PASSPHRASE: PASSPHRASE, TMPDIR: scratch },
        onSpawn: (child) =>
          child.stderr!.on('data', (d: Buffer) => {
            if (!interrupted && d.toString().includes('building ')) interrupted = child.kill('SIGINT');
          }),
      },
    );
    expect(interrupted).toBe(true);
    await expectCleanFailure(r, /SIGINT: stopping and cleaning up[\s\S]*error: interrupted/, dir, before);
    expect(r.code).toBe(130);
    // tsx keeps its compile cache there too (tsx-UID); nothing of ours (ket-gpg-*, with the imported key) stays.
    expect((await readdir(scratch)).filter((n) => !n.startsWith('tsx-'))).toEqual([]);
  });

  it('a failure after some packages were built leaves none of them', async () => {
    const { dir, before } = await previousOutput('late');
    const text = await readFile(server.manifestPath, 'utf8');
    const broken = path.join(tmp, 'late-manifest.yaml');
    await writeFile(
      broken,
      text
        .replace(
          'etcd-v{version}-linux-amd64/etcdctl, path: /usr/bin/etcdctl_v3_0',
          'etcd-v{version}-linux-amd64/etcdctl-missing, path: /usr/bin/etcdctl_v3_0',
        )
        .replace(
          '"etcd-v{version}-linux-amd64/etcdctl", path: /usr/bin/etcdctl_v3_0',
          '"etcd-v{version}-linux-amd64/etcdctl-missing", path: /usr/bin/etcdctl_v3_0',
        ),
    );
    expect(await readFile(broken, 'utf8')).toContain('etcdctl-missing');
    const r = await cli(['build', '--manifest', broken, '--mirror', server.url, ...ONLY, '--out', dir, '--cache-dir', cache], {
      KEYS_PATH: keys.keysPath,
      KET_GPG_PASSPHRASE: PASSPHRASE,
    });
    await expectCleanFailure(
      r,
      /package "transition-etcd": source "etcd" \(https:\/\/github\.com\/coreos\/etcd\/releases\/download\/v3\.0\.17\/etcd-v3\.0\.17-linux-amd64\.tar\.gz\) has no member etcd-v3\.0\.17-linux-amd64\/etcdctl-missing/,
      dir,
      before,
    );
    expect(r.stderr).toContain('building    kubelet');
  });

  /**
   * The fixture manifest without image packages (pin would look their unpinned images up on the
   * internet; lib/image-bundle tests that against a local registry), with one source's checksum
   * replaced by `unpinned: true`.
   */
  async function unpinnedManifest(
    name: string,
    packageName: string,
    sourceId: string,
  ): Promise<{ manifest: string; text: string; sha256: string }> {
    const f = server.fileFor(packageName, sourceId);
    const doc = parseDocument(await readFile(server.manifestPath, 'utf8'));
    const packages = doc.get('packages') as YAMLSeq<YAMLMap>;
    packages.items = packages.items.filter((p) => !p.has('images'));
    const text = doc.toString({ lineWidth: 0 });
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.includes(`sha256: ${f.sha256}`));
    lines[at] = lines[at].replace(`sha256: ${f.sha256}`, 'unpinned: true');
    const manifest = path.join(tmp, name);
    await writeFile(manifest, lines.join('\n'));
    return { manifest, text, sha256: f.sha256 };
  }

  it('unpinned sources are refused without --allow-unpinned, naming package, source and `ket-packages pin`; built with it', async () => {
    const { dir, before } = await previousOutput('unpinned');
    const { manifest } = await unpinnedManifest('unpinned-manifest.yaml', 'etcd', 'etcd');
    const args = [
      'build',
      '--manifest',
      manifest,
      '--mirror',
      server.url,
      '--out',
      dir,
      '--cache-dir',
      path.join(tmp, 'cache-unpinned'),
      '--only',
      'etcd',
    ];
    const env = { KEYS_PATH: keys.keysPath, KET_GPG_PASSPHRASE: PASSPHRASE };
    const refused = await cli(args, env);
    await expectCleanFailure(
      refused,
      /package "etcd" source "etcd" \(https:\/\/github\.com\/coreos\/etcd\/releases\/download\/v3\.1\.10\/etcd-v3\.1\.10-linux-amd64\.tar\.gz\)[\s\S]*ket-packages pin/,
      dir,
      before,
    );
    expect(refused.stderr).not.toContain('downloading');
    const allowed = await cli([...args, '--allow-unpinned'], env);
    expect(allowed.code).toBe(0);
    expect(allowed.stderr).toMatch(/downloaded {2}etcd source etcd: .*UNPINNED \(sha256 [0-9a-f]{64}\)/);
    expect(await listPackages(dir)).toEqual(['debs/etcd_3.1.10_amd64.deb', ...before, 'rpms/etcd-3.1.10-1.x86_64.rpm'].sort());
  });

  it('pin downloads unpinned sources and writes their sha256 in place (comments, order kept); a second pin has nothing to do', async () => {
    const { manifest, text, sha256 } = await unpinnedManifest('pin-manifest.yaml', 'transition-etcd', 'etcd');
    const f = { sha256 };
    const pinCache = path.join(tmp, 'cache-pin');
    const r = await cli(['pin', '--manifest', manifest, '--mirror', server.url, '--cache-dir', pinCache], {});
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`pinned      transition-etcd source etcd: sha256 ${f.sha256}`);
    expect(await readFile(manifest, 'utf8')).toBe(text);
    expect(existsSync(path.join(pinCache, 'sha256', f.sha256))).toBe(true);
    const again = await cli(['pin', '--manifest', manifest, '--mirror', server.url, '--cache-dir', pinCache], {});
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('every source is pinned');
  });
});

/** A URL on 127.0.0.1 where nothing listens (a port taken and released). */
async function startFixtureServerPortOnly(): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(`http://127.0.0.1:${port}`));
    });
  });
}
