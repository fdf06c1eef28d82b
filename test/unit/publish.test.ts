import * as path from 'node:path';
import { parsePrimaryFingerprints } from '../../lib/publish/key-guard';
import { gzipSync } from 'node:zlib';
import { clientInstructions, missingBuildOutputs } from '../../lib/release/local';
import { loadManifest } from '../../lib/manifest/load';
import { evaluateWritePreconditions, normalizeEtag } from '../../lib/local/store/conditional';
import {
  classifyPackages,
  conflictMessage,
  decompressMetadata,
  parsePackagesIndex,
  parsePrimaryXml,
  parseRepomd,
  rpmEvr,
} from '../../lib/publish/metadata';
import { isLockFree, parseLockRecord } from '../../lib/publish/lock';
import { aptlyPackageRef, distsUploadPhase, parseAptlyRepoShow } from '../../lib/publish/deb';
import { kismaticRepoFile } from '../../lib/publish/rpm';
import { bucketHttpUrl, parseS3Url } from '../../lib/publish/s3';
import { missingPackages, parseMadison, parseRepoquery } from '../../lib/verify';

describe('store conditional writes', () => {
  test('If-None-Match: * fails only when the key exists', () => {
    expect(evaluateWritePreconditions({ ifNoneMatch: '*' }, undefined)).toEqual({ ok: true });
    expect(evaluateWritePreconditions({ ifNoneMatch: '*' }, '"abc"')).toMatchObject({ ok: false, status: 412, condition: 'If-None-Match' });
  });
  test('If-Match compares ETags with or without quotes; absent key is 404', () => {
    expect(evaluateWritePreconditions({ ifMatch: '"abc"' }, 'abc')).toEqual({ ok: true });
    expect(evaluateWritePreconditions({ ifMatch: 'abd' }, '"abc"')).toMatchObject({ ok: false, status: 412, condition: 'If-Match' });
    expect(evaluateWritePreconditions({ ifMatch: '"abc"' }, undefined)).toMatchObject({ ok: false, status: 404 });
    expect(normalizeEtag('W/"x"')).toBe('x');
  });
});

const primary = `<?xml version="1.0"?><metadata packages="2">
<package type="rpm"><name>kubelet</name><arch>x86_64</arch><version epoch="0" ver="1.7.4_1" rel="1"/>
<checksum type="sha256" pkgid="YES">${'a'.repeat(64)}</checksum><location href="packages/kubelet-1.7.4_1-1.x86_64.rpm"/></package>
<package type="rpm"><name>docker-engine</name><arch>x86_64</arch><version epoch="2" ver="1.12.6" rel="1.el7.centos"/>
<checksum type="sha256" pkgid="YES">${'b'.repeat(64)}</checksum><location href="packages/docker-engine-1.12.6-1.el7.centos.x86_64.rpm"/></package>
</metadata>`;

describe('repository metadata', () => {
  test('reads repomd.xml entries', () => {
    const xml =
      '<repomd><data type="primary"><checksum type="sha256">ab12</checksum><location href="repodata/ab12-primary.xml.gz"/></data></repomd>';
    expect(parseRepomd(xml)).toEqual([{ type: 'primary', href: 'repodata/ab12-primary.xml.gz', checksum: 'ab12', checksumType: 'sha256' }]);
  });
  test('reads primary.xml packages with epoch-aware versions, gzip or not', () => {
    const ps = parsePrimaryXml(decompressMetadata('x-primary.xml.gz', gzipSync(primary)));
    expect(ps.map((p) => [p.name, p.version, p.location])).toEqual([
      ['kubelet', '1.7.4_1-1', 'packages/kubelet-1.7.4_1-1.x86_64.rpm'],
      ['docker-engine', '2:1.12.6-1.el7.centos', 'packages/docker-engine-1.12.6-1.el7.centos.x86_64.rpm'],
    ]);
    expect(rpmEvr('0', '1', '2')).toBe('1-2');
    expect(() => decompressMetadata('x.xml.zst', Buffer.from(''))).toThrow(/unsupported metadata compression/);
  });
  test('reads a Packages index and names a broken entry', () => {
    const idx = `Package: kubelet\nVersion: 1.7.4-1\nArchitecture: amd64\nDescription: k\n multi line\nFilename: pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb\nSHA256: ${'c'.repeat(64)}\n\nPackage: etcd\nVersion: 3.1.10\n`;
    expect(() => parsePackagesIndex(idx)).toThrow(/lacks .* \(etcd\)/);
    expect(parsePackagesIndex(idx.split('\n\n')[0])).toEqual([
      {
        name: 'kubelet',
        version: '1.7.4-1',
        arch: 'amd64',
        sha256: 'c'.repeat(64),
        location: 'pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb',
      },
    ]);
  });
  test('classifies a build against the repository: new, already there, changed bytes', () => {
    const pub = [
      { name: 'a', version: '1-1', arch: 'x86_64', sha256: '1', location: 'packages/a' },
      { name: 'b', version: '1-1', arch: 'x86_64', sha256: '2', location: 'packages/b' },
    ];
    const local = [
      { ...pub[0] },
      { ...pub[1], sha256: '9' },
      { name: 'b', version: '2-1', arch: 'x86_64', sha256: '3', location: 'packages/b2' },
    ];
    const c = classifyPackages(local, pub);
    expect(c.present.map((p) => p.name)).toEqual(['a']);
    expect(c.fresh.map((p) => p.version)).toEqual(['2-1']);
    expect(c.conflicts.map((x) => x.local.sha256)).toEqual(['9']);
    expect(conflictMessage('repo', c.conflicts)).toMatch(/nothing was written[\s\S]*b 1-1 \(x86_64\): published sha256 2, this build 9/);
  });
});

describe('locks', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  test('free when absent, released, expired or unreadable; held otherwise', () => {
    expect(isLockFree(undefined, now)).toBe(true);
    expect(isLockFree({ owner: 'x', acquiredAt: '', expiresAt: '2026-01-01T00:00:01Z' }, now)).toBe(false);
    expect(isLockFree({ owner: 'x', acquiredAt: '', expiresAt: '2025-12-31T23:59:59Z' }, now)).toBe(true);
    expect(isLockFree({ owner: 'x', acquiredAt: '', expiresAt: '2026-01-01T00:00:01Z', released: true }, now)).toBe(true);
    expect(parseLockRecord('not json')).toBeUndefined();
  });
});

describe('apt publishing helpers', () => {
  test('upload phases: by-hash first, top files last, aptly link names skipped', () => {
    expect(distsUploadPhase(`dists/kismatic-xenial/main/binary-amd64/by-hash/SHA256/${'d'.repeat(64)}`)).toBe('by-hash');
    expect(distsUploadPhase('dists/kismatic-xenial/main/binary-amd64/by-hash/SHA256/Packages.gz')).toBe('skip');
    expect(distsUploadPhase('dists/kismatic-xenial/main/binary-amd64/Packages.gz')).toBe('index');
    expect(distsUploadPhase('dists/kismatic-xenial/main/binary-amd64/Release')).toBe('index');
    expect(distsUploadPhase('dists/kismatic-xenial/InRelease')).toBe('top');
  });
  test('aptly package refs', () => {
    expect(parseAptlyRepoShow('Name: k\nNumber of packages: 2\nPackages:\n  a_1_amd64\n  b_2_amd64\n')).toEqual(['a_1_amd64', 'b_2_amd64']);
    expect(parseAptlyRepoShow('Name: k\nNumber of packages: 0\n')).toEqual([]);
    expect(aptlyPackageRef({ name: 'docker-engine', version: '1.12.6-0~ubuntu-xenial', arch: 'amd64' })).toBe(
      'docker-engine_1.12.6-0~ubuntu-xenial_amd64',
    );
  });
});

describe('URLs and client files', () => {
  test('s3:// state URLs', () => {
    expect(parseS3Url('s3://ket-state/prod', 'x')).toEqual({ bucket: 'ket-state', prefix: 'prod/' });
    expect(parseS3Url('s3://ket-state', 'x')).toEqual({ bucket: 'ket-state', prefix: '' });
    expect(() => parseS3Url('https://x/y', '--state-url')).toThrow(/--state-url: 'https:\/\/x\/y' is not an s3:\/\/BUCKET\/PREFIX URL/);
  });
  test('bucket URLs: path style on a custom endpoint, virtual host on AWS', () => {
    expect(bucketHttpUrl({ endpoint: 'http://127.0.0.1:4568/', region: 'us-east-1' }, 'b')).toBe('http://127.0.0.1:4568/b');
    expect(bucketHttpUrl({ region: 'eu-west-1' }, 'b')).toBe('https://b.s3.eu-west-1.amazonaws.com');
  });
  test('kismatic.repo keeps the old file and adds repo_gpgcheck', () => {
    expect(kismaticRepoFile('https://r.example/')).toBe(
      '[kismatic]\nname=Kismatic Packages\nbaseurl=https://r.example/\nenabled=1\ngpgkey=https://r.example/public.key\ngpgcheck=1\nrepo_gpgcheck=1\n',
    );
  });
});

describe('verify listings', () => {
  test('finds what is missing at its exact version', () => {
    const listed = [
      ...parseRepoquery('kubelet\t1.7.4_1-1\netcd\t3.1.10-1\n'),
      ...parseMadison('   kubelet | 1.7.4-1 | http://x kismatic-xenial/main amd64 Packages\n'),
    ];
    expect(
      missingPackages(
        [
          { name: 'kubelet', version: '1.7.4_1-1' },
          { name: 'kubelet', version: '1.7.4-1' },
          { name: 'etcd', version: '3.1.11-1' },
        ],
        listed,
      ),
    ).toEqual([{ name: 'etcd', version: '3.1.11-1' }]);
  });
});

describe('local', () => {
  test('prints the yum and apt lines for the staging repositories', () => {
    const text = clientInstructions('http://127.0.0.1:4568/rpm', 'http://127.0.0.1:4568/deb');
    expect(text).toContain('curl -fsSL -o /etc/yum.repos.d/kismatic.repo http://127.0.0.1:4568/rpm/kismatic.repo');
    expect(text).toContain('deb [signed-by=/usr/share/keyrings/kismatic.gpg] http://127.0.0.1:4568/deb kismatic-xenial main');
  });
  test('an empty build folder misses both files of every package', () => {
    const manifest = loadManifest(path.resolve(__dirname, '../../release.yaml'));
    const missing = missingBuildOutputs(manifest, '/nonexistent');
    expect(missing).toHaveLength(manifest.packages.length * 2);
    expect(missing).toContain('/nonexistent/rpms/kubelet-1.7.4_1-1.x86_64.rpm');
  });
});

describe('parsePrimaryFingerprints', () => {
  test('takes the fingerprint after each primary key, not subkeys', () => {
    const colons = [
      'pub:-:2048:1:AAAA:1:::-:::scSC::::::23::0:',
      'fpr:::::::::PRIMARY1:',
      'uid:-::::1::H::A <a@x>::::::::::0:',
      'sub:-:2048:1:BBBB:1::::::e::::::23:',
      'fpr:::::::::SUB1:',
      'pub:-:2048:1:CCCC:1:::-:::scSC::::::23::0:',
      'fpr:::::::::PRIMARY2:',
    ].join('\n');
    expect(parsePrimaryFingerprints(colons)).toEqual(['PRIMARY1', 'PRIMARY2']);
  });
});
