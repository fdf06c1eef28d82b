import { accountAndRegion, deploymentRepositories } from '../../lib/clone/deployment';
import { packagesIndexObjects, primaryPackages, releaseObjects, repomdFiles } from '../../lib/clone/indexes';
import { progressLine } from '../../lib/clone/progress';
import { checkClonePair, CloneRepository } from '../../lib/clone/types';

const sha = (c: string) => c.repeat(64);

describe('what signed top files reference', () => {
  test('repomd.xml: each data file with its sha256 and size; another checksum type is refused', () => {
    const xml = `<?xml version="1.0"?><repomd xmlns="http://linux.duke.edu/metadata/repo"><revision>1</revision>
      <data type="primary"><checksum type="sha256">${sha('a')}</checksum><location href="repodata/${sha('a')}-primary.xml.gz"/><size>699</size></data>
      <data type="other"><checksum type="sha256">${sha('b')}</checksum><location href="repodata/${sha('b')}-other.xml.gz"/><size>12</size></data></repomd>`;
    expect(repomdFiles(xml)).toEqual([
      { type: 'primary', href: `repodata/${sha('a')}-primary.xml.gz`, sha256: sha('a'), size: 699 },
      { type: 'other', href: `repodata/${sha('b')}-other.xml.gz`, sha256: sha('b'), size: 12 },
    ]);
    expect(() => repomdFiles(xml.replace('type="sha256">' + sha('b'), 'type="sha">' + sha('b')))).toThrow(
      /entry 'other' has checksum type 'sha', expected sha256/,
    );
  });

  test('primary.xml: location, size, sha256 and the full EVR (epoch only when not 0)', async () => {
    const pkg = (name: string, epoch: string) =>
      `<package type="rpm"><name>${name}</name><arch>x86_64</arch><version epoch="${epoch}" ver="1.0" rel="1"/>` +
      `<checksum type="sha256" pkgid="YES">${sha('c')}</checksum><size package="6087" installed="10" archive="20"/><location href="packages/${name}-1.0-1.x86_64.rpm"/></package>`;
    const out = await primaryPackages(`<metadata packages="2">${pkg('kubelet', '0')}${pkg('epochal', '2')}</metadata>`);
    expect(out).toEqual([
      {
        pkg: { name: 'kubelet', version: '1.0-1', arch: 'x86_64' },
        object: { key: 'packages/kubelet-1.0-1.x86_64.rpm', size: 6087, sha256: sha('c'), kind: 'package' },
      },
      {
        pkg: { name: 'epochal', version: '2:1.0-1', arch: 'x86_64' },
        object: { key: 'packages/epochal-1.0-1.x86_64.rpm', size: 6087, sha256: sha('c'), kind: 'package' },
      },
    ]);
    await expect(primaryPackages(`<metadata packages="1">${pkg('x', '0').replace(/<location[^>]+>/, '')}</metadata>`)).rejects.toThrow(
      /primary\.xml: a package entry lacks .*location \(x\)/,
    );
    await expect(primaryPackages(`<metadata packages="1">${pkg('y', '0').replace(/<size[^>]+>/, '')}</metadata>`)).rejects.toThrow(
      /primary\.xml: package 'y' lacks a sha256 checksum or a package size/,
    );
  });

  test('Release: plain indexes come from their SHA256 by-hash twin; every by-hash type present is copied', () => {
    const release = [
      'Suite: kismatic-xenial',
      'MD5Sum:',
      ` ${'1'.repeat(32)}      562 main/binary-amd64/Packages.gz`,
      'SHA256:',
      ` ${sha('d')}      562 main/binary-amd64/Packages.gz`,
      'Acquire-By-Hash: yes',
      '',
    ].join('\n');
    const dir = 'dists/kismatic-xenial/main/binary-amd64';
    const present = new Set([`${dir}/Packages.gz`, `${dir}/by-hash/SHA256/${sha('d')}`, `${dir}/by-hash/MD5Sum/${'1'.repeat(32)}`]);
    expect(releaseObjects('kismatic-xenial', release, (k) => present.has(k))).toEqual([
      {
        key: `${dir}/by-hash/MD5Sum/${'1'.repeat(32)}`,
        size: 562,
        sha256: sha('d'),
        kind: 'metadata',
        sourceKey: `${dir}/by-hash/SHA256/${sha('d')}`,
      },
      {
        key: `${dir}/by-hash/SHA256/${sha('d')}`,
        size: 562,
        sha256: sha('d'),
        kind: 'metadata',
        sourceKey: `${dir}/by-hash/SHA256/${sha('d')}`,
      },
      { key: `${dir}/Packages.gz`, size: 562, sha256: sha('d'), kind: 'index', sourceKey: `${dir}/by-hash/SHA256/${sha('d')}` },
    ]);
    expect(() => releaseObjects('kismatic-xenial', 'MD5Sum:\n 1 2 main/x\n', () => true)).toThrow(/main\/x has no SHA256 entry/);
  });

  test('Packages index: pool files with size and SHA256; an entry without them is refused by name', () => {
    const text = `Package: kubelet\nVersion: 1.7.4-1\nArchitecture: amd64\nFilename: pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb\nSize: 624\nSHA256: ${sha('e')}\n\n`;
    expect(packagesIndexObjects(text)).toEqual([
      {
        pkg: { name: 'kubelet', version: '1.7.4-1', arch: 'amd64' },
        object: { key: 'pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb', size: 624, sha256: sha('e'), kind: 'package' },
      },
    ]);
    expect(() => packagesIndexObjects('Package: etcd\nVersion: 1\n')).toThrow(/entry 'etcd' lacks Filename, Size or SHA256/);
  });
});

describe('guards and deployment', () => {
  const repo = (name: string, production = false): CloneRepository => ({
    name,
    rpmBucket: `${name}-rpm`,
    debBucket: `${name}-deb`,
    state: { bucket: 's', prefix: `${name}/` },
    production,
  });
  const repos = [repo('production', true), repo('staging')];

  test.each([
    ['production', 'staging', undefined],
    ['staging', 'staging', /cannot be cloned into itself/],
    ['nope', 'staging', /clone from: no repository named 'nope' \(known: production, staging\)/],
    ['production', 'nope', /clone to: no repository named 'nope'/],
    ['staging', 'production', /clone to: 'production' is a production repository/],
    ['', 'staging', /clone from: the source repository name is empty/],
  ])('%s → %s', (from, to, error) => {
    if (error) expect(() => checkClonePair(repos, from, to)).toThrow(error);
    else expect(checkClonePair(repos, from, to).destination.name).toBe('staging');
  });

  test('bucket names from the deployment file: explicit ones as written, default ones with the build ARN account and region', () => {
    const where = accountAndRegion('arn:aws:codebuild:eu-west-1:123456789012:build/KetPackages-Clone:abcd');
    expect(where).toEqual({ account: '123456789012', region: 'eu-west-1' });
    const resolved = deploymentRepositories(
      {
        zone: 'staging',
        repositories: [
          { name: 'production', zone: 'production', production: true, bucketNamePrefix: 'kp', rpmBucketName: 'kismatic-packages-rpm' },
          { name: 'staging', zone: 'staging', production: false, bucketNamePrefix: 'kp' },
        ],
      },
      where,
      {
        staging: {
          rpmBaseUrl: 'https://r',
          debBaseUrl: 'https://d',
          rpmDistributionId: 'E1',
          debDistributionId: 'E2',
          signingKeySecretArn: 'arn:secret',
        },
      },
    );
    expect(resolved).toEqual([
      {
        name: 'production',
        rpmBucket: 'kismatic-packages-rpm',
        debBucket: 'kp-production-deb-123456789012-eu-west-1',
        state: { bucket: 'kp-production-state-123456789012-eu-west-1', prefix: 'production/' },
        production: true,
        rpmBaseUrl: undefined,
        debBaseUrl: undefined,
      },
      {
        name: 'staging',
        rpmBucket: 'kp-staging-rpm-123456789012-eu-west-1',
        debBucket: 'kp-staging-deb-123456789012-eu-west-1',
        state: { bucket: 'kp-staging-state-123456789012-eu-west-1', prefix: 'staging/' },
        production: false,
        rpmBaseUrl: 'https://r',
        debBaseUrl: 'https://d',
      },
    ]);
    expect(() => accountAndRegion(undefined)).toThrow(/CODEBUILD_BUILD_ARN: '' is not a CodeBuild build ARN/);
  });

  test('a progress line: objects, skipped, bytes, percent and rate', () => {
    expect(
      progressLine({
        objectsDone: 50,
        objectsTotal: 200,
        bytesDone: 1024 * 1024,
        bytesTotal: 4 * 1024 * 1024,
        objectsSkipped: 10,
        bytesSkipped: 512 * 1024,
        elapsedMs: 2000,
      }),
    ).toBe('clone: 50/200 objects (10 already identical), 1.0 MiB of 4.0 MiB (25%), 256.0 KiB/s, 20 objects/s');
  });

  test('a re-run that copied nothing prints no rate (identical objects are not copies)', () => {
    expect(
      progressLine({
        objectsDone: 30000,
        objectsTotal: 30000,
        bytesDone: 2 * 1024 ** 3,
        bytesTotal: 2 * 1024 ** 3,
        objectsSkipped: 30000,
        bytesSkipped: 2 * 1024 ** 3,
        elapsedMs: 1000,
      }),
    ).toBe('clone: 30000/30000 objects (30000 already identical), 2.0 GiB of 2.0 GiB (100%)');
  });
});
