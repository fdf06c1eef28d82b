import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { parseManifest } from '../../lib/manifest/load';
import { checkImagesPinned, describeImage, imagePackageFiles } from '../../lib/image-bundle/images';
import {
  archiveTag,
  cacheFileName,
  dockerTransportRef,
  normalizeRepository,
  parseRegistryMirror,
  sourceRepository,
} from '../../lib/image-bundle/reference';
import { mixedContent, textChunk } from '../../lib/local/registry/fixture-content';
import { tarStream, ustarHeader } from '../../lib/local/registry/oci-layout';
import { registryConfig } from '../../lib/local/registry/registry';
import { UserError } from '../../lib/util/errors';

describe('image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox'],
    ['calico/node', 'docker.io/calico/node'],
    ['gcr.io/google_containers/pause-amd64', 'gcr.io/google_containers/pause-amd64'],
    ['localhost/tools/x', 'localhost/tools/x'],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000/a/b'],
  ])('normalizes %s to %s', (input, expected) => {
    expect(normalizeRepository(input)).toBe(expected);
  });

  it('keeps the original registry host as the first path component under a mirror', () => {
    const mirror = parseRegistryMirror('http://127.0.0.1:5000');
    expect(sourceRepository('gcr.io/google_containers/pause-amd64', mirror)).toBe('127.0.0.1:5000/gcr.io/google_containers/pause-amd64');
    expect(sourceRepository('busybox', mirror)).toBe('127.0.0.1:5000/docker.io/library/busybox');
    expect(sourceRepository('registry', parseRegistryMirror('https://mirror.example.com/ket/'))).toBe(
      'mirror.example.com/ket/docker.io/library/registry',
    );
    expect(sourceRepository('calico/node')).toBe('docker.io/calico/node');
  });

  it('reads TLS from the mirror scheme: http is plain, https and bare hosts verify', () => {
    expect(parseRegistryMirror('http://127.0.0.1:5000')).toEqual({ base: '127.0.0.1:5000', tlsVerify: false });
    expect(parseRegistryMirror('https://Mirror.Example.com')).toEqual({ base: 'mirror.example.com', tlsVerify: true });
    expect(parseRegistryMirror('mirror.example.com:443/base')).toEqual({ base: 'mirror.example.com:443/base', tlsVerify: true });
  });

  it.each(['', 'ftp://x', 'http://', 'http://host/has space', 'http://host?x=1'])('rejects the mirror %j naming the option', (bad) => {
    expect(() => parseRegistryMirror(bad)).toThrow(/registry mirror must look like/);
  });

  it('builds skopeo references by digest and by tag', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    expect(dockerTransportRef('docker.io/library/busybox', { digest: d })).toBe(`docker://docker.io/library/busybox@${d}`);
    expect(dockerTransportRef('docker.io/library/busybox', { tag: 'latest' })).toBe('docker://docker.io/library/busybox:latest');
    expect(archiveTag('busybox', 'latest')).toBe('busybox:latest');
  });

  it('keys the cache by digest, with a file name free of skopeo separators', () => {
    const name = cacheFileName(`sha256:${'b'.repeat(64)}`, 'gcr.io/google_containers/pause-amd64', '3.0');
    expect(name).toBe(`${'b'.repeat(64)}/gcr.io_google_containers_pause-amd64_3.0.tar`);
    expect(name).not.toContain(':');
  });
});

const manifestWith = (images: string) => `
metadata: { maintainer: M <m@example.com>, vendor: V, license: L, homepage: https://example.com, arch: { rpm: x86_64, deb: amd64 } }
packages:
  - name: kubelet
    description: k
    versioning: kismatic
    version: 1.7.4
    iteration: 1
    sources: [{ id: s, url: https://example.com/k, unpinned: true }]
    files: [{ from: s, path: /usr/bin/kubelet, mode: "0755" }]
  - name: kismatic-offline
    description: images
    versioning: kismatic
    versionFrom: kubelet
    images:
${images}
`;

describe('kismatic-offline package', () => {
  const pinned = `sha256:${'c'.repeat(64)}`;
  const manifest = parseManifest(
    manifestWith(`      - { name: kube-proxy, repository: gcr.io/google-containers/kube-proxy-amd64, tag: "v{version}", digest: "${pinned}" }
      - { name: busybox, repository: busybox, tag: latest, unpinned: true }
      - { name: nginx, repository: nginx, tag: stable-alpine, unpinned: true }`),
    'test.yaml',
  );
  const pkg = manifest.packages.find((p) => p.name === 'kismatic-offline')!;

  it('takes kubelet version and derives Kubernetes-following tags', () => {
    expect(pkg.rpm.evr).toBe('1.7.4_1-1');
    expect(pkg.deb.version).toBe('1.7.4-1');
    expect(pkg.images[0].reference).toBe('gcr.io/google-containers/kube-proxy-amd64:v1.7.4');
    expect(describeImage(pkg.images[0])).toBe('image "kube-proxy" (gcr.io/google-containers/kube-proxy-amd64:v1.7.4)');
  });

  it('refuses unpinned images up front, naming every one, unless allowed', () => {
    expect(() => checkImagesPinned(pkg, false)).toThrow(UserError);
    expect(() => checkImagesPinned(pkg, false)).toThrow(/2 image\(s\) have no pinned digest: busybox, nginx/);
    expect(() => checkImagesPinned(pkg, true)).not.toThrow();
  });

  it('installs each archive as /opt/images/NAME.tar read from the cache in place', () => {
    const files = imagePackageFiles([{ image: pkg.images[0], digest: pinned, archivePath: '/cache/images/x.tar', bytes: 1, cached: true }]);
    expect(files).toEqual([{ sourcePath: '/cache/images/x.tar', path: '/opt/images/kube-proxy.tar', mode: 0o644 }]);
  });

  it('rejects a malformed image digest naming the package and field', () => {
    expect(() =>
      parseManifest(manifestWith('      - { name: pause, repository: pause, tag: "3.0", digest: "sha256:123" }'), 'bad.yaml'),
    ).toThrow(/package "kismatic-offline": field "images\[0\]\.digest" must be "sha256:"/);
  });
});

describe('fixture image writing', () => {
  it('writes ustar headers whose checksum tar accepts', () => {
    const h = ustarHeader('usr/bin/tool', 1234, 0o755, 1503273600);
    expect(h.length).toBe(512);
    expect(h.toString('ascii', 0, 12)).toBe('usr/bin/tool');
    expect(parseInt(h.toString('ascii', 124, 135), 8)).toBe(1234);
    expect(parseInt(h.toString('ascii', 100, 107), 8)).toBe(0o755);
    expect(h.toString('ascii', 257, 262)).toBe('ustar');
    const stored = parseInt(h.toString('ascii', 148, 154), 8);
    const copy = Buffer.from(h);
    copy.write('        ', 148, 8, 'ascii');
    expect(stored).toBe([...copy].reduce((a, b) => a + b, 0));
  });

  it('refuses names and sizes ustar cannot hold', () => {
    expect(() => ustarHeader('x'.repeat(101), 1)).toThrow(/longer than 100/);
    expect(() => ustarHeader('big', 8 ** 11)).toThrow(/too large/);
  });

  it('pads members to 512-byte blocks and ends with two zero blocks', async () => {
    const chunks: Buffer[] = [];
    for await (const c of tarStream([
      {
        path: 'a',
        size: 3,
        content: async function* () {
          yield Buffer.from('abc');
        },
      },
    ]))
      chunks.push(c);
    const tar = Buffer.concat(chunks);
    expect(tar.length).toBe(512 + 512 + 1024);
    expect(tar.toString('ascii', 512, 515)).toBe('abc');
  });

  it('fails when a file produces fewer bytes than declared', async () => {
    const run = async () => {
      for await (const _ of tarStream([
        {
          path: 'a',
          size: 5,
          content: async function* () {
            yield Buffer.from('abc');
          },
        },
      ]))
        void _;
    };
    await expect(run()).rejects.toThrow(/produced 3 bytes, declared 5/);
  });

  it('produces exactly the requested size, not periodic, part random and part text', async () => {
    const chunks: Buffer[] = [];
    for await (const c of mixedContent(3 * 1024 * 1024 + 17)) chunks.push(c);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(3 * 1024 * 1024 + 17);
    const hashes = chunks.map((c) => createHash('sha256').update(c).digest('hex'));
    expect(new Set(hashes).size).toBe(hashes.length);
    const text = textChunk(4096);
    expect(text.length).toBe(4096);
    expect(/^[\x20-\x7e\n]*$/.test(text.toString('ascii'))).toBe(true);
  });
});

describe('registry config', () => {
  it('listens on loopback only, on the given port, with the given storage', () => {
    const config = registryConfig('/tmp/store', 40123);
    expect(config).toContain('addr: 127.0.0.1:40123');
    expect(config).toContain('rootdirectory: "/tmp/store"');
    expect(config).toMatch(/delete:\n\s+enabled: true/);
  });
});

describe('release.yaml kismatic-offline', () => {
  const { loadManifest } = jest.requireActual('../../lib/manifest/load') as typeof import('../../lib/manifest/load');
  const pkg = loadManifest(path.join(__dirname, '../../release.yaml')).packages.find((p) => p.name === 'kismatic-offline')!;

  it('ships the 28 archives of the old build_rpms.sh, under their old names', () => {
    const old =
      'registry kubedns kube-dnsmasq kubernetes-dashboard kubedns-sidecar pause nginx busybox defaultbackend nginx-ingress-controller tcp-healthz-amd64 kube-proxy kube-controller-manager kube-scheduler kube-apiserver cni-bin calico calico-ctl calico-cni weave-kube weave-npc netplugin auth-proxy aci-gw kube-policy-controller heapster influxdb tiller'.split(
        ' ',
      );
    expect(pkg.images.map((i) => i.name).sort()).toEqual([...old].sort());
    expect(pkg.rpm.fileName).toBe('kismatic-offline-1.7.4_1-1.x86_64.rpm');
    expect(pkg.deb.fileName).toBe('kismatic-offline_1.7.4-1_amd64.deb');
  });

  it('derives the control-plane tags from the Kubernetes version', () => {
    for (const name of ['kube-proxy', 'kube-controller-manager', 'kube-scheduler', 'kube-apiserver']) {
      expect(pkg.images.find((i) => i.name === name)!.reference).toBe(`gcr.io/google-containers/${name}-amd64:v1.7.4`);
    }
  });
});

describe('fixture manifest pinning', () => {
  const { fixtureImageSpecs, pinImagesInManifestText } = jest.requireActual(
    '../../lib/local/registry/fixture-images',
  ) as typeof import('../../lib/local/registry/fixture-images');
  const text = `# top comment${manifestWith(`      # the pause image
      - { name: pause, repository: gcr.io/google_containers/pause-amd64, tag: "3.0", digest: "sha256:${'1'.repeat(64)}" }
      - { name: busybox, repository: busybox, tag: latest, unpinned: true }`)}`;

  it('pins every image to its fixture digest, keeping comments, and the result validates', () => {
    const d1 = `sha256:${'a'.repeat(64)}`;
    const d2 = `sha256:${'b'.repeat(64)}`;
    const specs = fixtureImageSpecs(parseManifest(text, 'in.yaml').packages);
    expect(specs).toEqual([
      { name: 'pause', repository: 'gcr.io/google_containers/pause-amd64', tag: '3.0' },
      { name: 'busybox', repository: 'busybox', tag: 'latest' },
    ]);
    const out = pinImagesInManifestText(text, [
      { ...specs[0], digest: d1, configDigest: d2 },
      { ...specs[1], digest: d2, configDigest: d1 },
    ]);
    expect(out).toContain('# top comment');
    expect(out).toContain('# the pause image');
    const pkg = parseManifest(out, 'out.yaml').packages.find((p) => p.name === 'kismatic-offline')!;
    expect(pkg.images.map((i) => [i.name, i.digest, i.unpinned])).toEqual([
      ['pause', d1, undefined],
      ['busybox', d2, undefined],
    ]);
  });
});
