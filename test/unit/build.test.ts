import { mirrorUrl, parseMirror } from '../../lib/download/mirror';
import { applySourcePins } from '../../lib/download/pin';
import { rpmPayloadMacro, rpmSpec } from '../../lib/packaging/rpm';
import { debControl, dpkgCompressionArgs } from '../../lib/packaging/deb';
import { rpmsignArgs } from '../../lib/packaging/sign';
import { validateContents } from '../../lib/packaging/stage';
import {
  keptDebFields,
  mergeRpmProvides,
  mergeRpmRequires,
  mergeScriptlets,
  parseRpmFileList,
  parseRpmRequires,
} from '../../lib/packaging/repackage';
import { parseControlParagraphs } from '../../lib/util/debian-control';
import { checkPinned, selectPackages, sourcesFor } from '../../lib/packaging/orchestrate';
import { fixtureKind, mirrorPathOf, pinnedManifestText } from '../../lib/local/offline-upstream/generate';
import { parseManifest } from '../../lib/manifest/load';
import { RpmContents, DebContents } from '../../lib/packaging/types';

const base = {
  name: 'kubelet',
  description: 'Kubernetes kubelet binary',
  license: 'Apache Software License 2.0',
  vendor: 'Apprenda',
  maintainer: 'Apprenda <info@apprenda.com>',
  homepage: 'https://apprenda.com/kismatic',
  files: [{ sourcePath: '/src/kubelet', path: '/usr/bin/kubelet', mode: 0o755 }],
  sourceDateEpoch: 1503273600,
};

describe('mirror URLs', () => {
  it('keeps the upstream host as the first path segment', () => {
    expect(mirrorUrl('https://dl.k8s.io/v1.7.4/kubernetes-node-linux-amd64.tar.gz', 'http://127.0.0.1:8080')).toBe(
      'http://127.0.0.1:8080/dl.k8s.io/v1.7.4/kubernetes-node-linux-amd64.tar.gz',
    );
  });
  it('appends to a mirror base path with or without a trailing slash, keeps the query', () => {
    expect(mirrorUrl('https://github.com/coreos/etcd/releases/download/v3.1.10/e.tar.gz?x=1', 'https://m.example/base/')).toBe(
      'https://m.example/base/github.com/coreos/etcd/releases/download/v3.1.10/e.tar.gz?x=1',
    );
  });
  it('keeps a non-default port in the host segment and leaves URLs alone without a mirror', () => {
    expect(mirrorUrl('http://host:81/a', 'http://m')).toBe('http://m/host:81/a');
    expect(mirrorUrl('https://x/y', undefined)).toBe('https://x/y');
  });
  it('keeps percent-encoding (the ~ of Debian versions) as given', () => {
    expect(mirrorUrl('https://apt.dockerproject.org/d/docker-engine_1.12.6-0~ubuntu-xenial_amd64.deb', 'http://m')).toBe(
      'http://m/apt.dockerproject.org/d/docker-engine_1.12.6-0~ubuntu-xenial_amd64.deb',
    );
  });
  it('refuses a mirror that is not an http(s) URL, naming it', () => {
    expect(() => parseMirror('127.0.0.1:8080')).toThrow(/mirror "127.0.0.1:8080"|only http/);
    expect(() => parseMirror('ftp://m/')).toThrow('only http and https');
    expect(() => parseMirror('not a url')).toThrow('mirror "not a url" is not a URL');
  });
});

describe('RPM spec', () => {
  const rpm: RpmContents = { ...base, version: '1.7.4_1', release: '1', arch: 'x86_64', requires: ['bridge-utils', 'iptables >= 1.4.21'] };
  it('declares name, version, release, metadata and exactly the manifest requires', () => {
    const spec = rpmSpec(rpm, '/stage');
    expect(spec).toContain('Name: kubelet\nVersion: 1.7.4_1\nRelease: 1\n');
    expect(spec).toContain('Summary: Kubernetes kubelet binary');
    expect(spec).toContain('Vendor: Apprenda');
    expect(spec).toContain('Packager: Apprenda <info@apprenda.com>');
    expect(spec).toContain('URL: https://apprenda.com/kismatic');
    expect(spec).toContain('AutoReqProv: no');
    expect(spec).toContain('Requires: bridge-utils\nRequires: iptables >= 1.4.21\n');
    expect(spec).not.toContain('BuildArch');
  });
  it('lists files root-owned with the manifest mode, directories, links and config files', () => {
    const spec = rpmSpec(
      {
        ...rpm,
        directories: [{ path: '/usr/share/x', mode: 0o750 }],
        symlinks: [{ path: '/usr/bin/k', target: 'kubelet' }],
        files: [...rpm.files, { sourcePath: '/s/c', path: '/etc/sysconfig/k', mode: 0o600 }],
        configFiles: ['/etc/sysconfig/k'],
      },
      '/stage',
    );
    expect(spec).toContain('%defattr(-,root,root,-)');
    expect(spec).toContain('%attr(0755,root,root) "/usr/bin/kubelet"');
    expect(spec).toContain('%dir %attr(0750,root,root) "/usr/share/x"');
    expect(spec).toContain('%config(noreplace) %attr(0600,root,root) "/etc/sysconfig/k"');
    expect(spec).toContain('"/usr/bin/k"');
    expect(spec).toContain('rmdir "%{buildroot}" && mv \'/stage\' "%{buildroot}"');
  });
  it('writes scriptlets and scriptlet requires, escaping % so rpm does not expand macros', () => {
    const spec = rpmSpec(
      {
        ...rpm,
        scriptlets: { post: { body: 'echo 100%\n' }, postun: { interpreter: '<lua>', body: 'print(1)' } },
        scriptletRequires: { post: ['policycoreutils'] },
      },
      '/stage',
    );
    expect(spec).toContain('%post\necho 100%%\n');
    expect(spec).toContain('%postun -p <lua>\nprint(1)\n');
    expect(spec).toContain('Requires(post): policycoreutils');
  });
  it('marks noarch packages with BuildArch', () => {
    expect(rpmSpec({ ...rpm, arch: 'noarch' }, '/s')).toContain('BuildArch: noarch');
  });
  it('payload compression: xz multi-threaded, single-threaded, gzip; never zstd', () => {
    expect(rpmPayloadMacro({ algorithm: 'xz', level: 6, threads: 0 })).toBe('w6T0.xzdio');
    expect(rpmPayloadMacro({ algorithm: 'xz', level: 9, threads: 4 })).toBe('w9T4.xzdio');
    expect(rpmPayloadMacro({ algorithm: 'xz', level: 6, threads: 1 })).toBe('w6.xzdio');
    expect(rpmPayloadMacro({ algorithm: 'gzip', level: 9, threads: 0 })).toBe('w9.gzdio');
    expect(() => validateContents({ ...rpm, compression: { algorithm: 'zstd' as 'xz', level: 3, threads: 0 } })).toThrow('gzip or xz');
  });
  it('refuses paths rpm would glob or split', () => {
    expect(() => validateContents({ ...rpm, files: [{ sourcePath: '/s', path: '/usr/bin/a b', mode: 0o755 }] })).toThrow(
      'cannot package path "/usr/bin/a b"',
    );
    expect(() => validateContents({ ...rpm, files: [{ sourcePath: '/s', path: '/usr/bin/a*', mode: 0o755 }] })).toThrow(
      'cannot package path',
    );
    expect(() => validateContents({ ...rpm, files: [...rpm.files, ...rpm.files] })).toThrow('listed twice');
  });
  it('rpmsign: gpg from /usr/bin, the key by fingerprint, passphrase from a file, never a prompt', () => {
    const args = rpmsignArgs({ fingerprint: 'ABCD', gnupgHome: '/h', passphraseFile: '/p/pass' }, ['/x.rpm']);
    expect(args).toEqual(expect.arrayContaining(['--addsign', '__gpg /usr/bin/gpg', '_gpg_name ABCD', '_gpg_path /h', '/x.rpm']));
    expect(args.find((a) => a.startsWith('_gpg_sign_cmd_extra_args'))).toBe(
      '_gpg_sign_cmd_extra_args --batch --no-tty --pinentry-mode loopback --passphrase-file /p/pass',
    );
    expect(rpmsignArgs({ fingerprint: 'ABCD', gnupgHome: '/h' }, []).join(' ')).not.toContain('passphrase');
  });
});

describe('DEB control', () => {
  const deb: DebContents = { ...base, version: '1.7.4-1', arch: 'amd64', depends: ['iptables (>= 1.4.21)', 'nfs-common'] };
  it('has the fields fpm wrote, in order, with Depends joined', () => {
    expect(debControl(deb, 42)).toBe(
      'Package: kubelet\nVersion: 1.7.4-1\nArchitecture: amd64\nMaintainer: Apprenda <info@apprenda.com>\nInstalled-Size: 42\n' +
        'Depends: iptables (>= 1.4.21), nfs-common\nHomepage: https://apprenda.com/kismatic\nVendor: Apprenda\n' +
        'License: Apache Software License 2.0\nDescription: Kubernetes kubelet binary\n',
    );
  });
  it('omits an empty Depends, keeps extra fields, folds a long description', () => {
    const text = debControl(
      {
        ...deb,
        depends: [],
        extraFields: [
          ['Recommends', 'git'],
          ['Section', 'admin'],
        ],
        description: 'Docker\nline two\n\nline four',
      },
      1,
    );
    expect(text).not.toContain('Depends');
    expect(text).toContain('Recommends: git\nSection: admin\n');
    expect(text).toContain('Description: Docker\n line two\n .\n line four\n');
  });
  it('refuses an extra field that would duplicate ours', () => {
    expect(() => debControl({ ...deb, extraFields: [['Version', '2']] }, 1)).toThrow('control field Version is written by the DEB writer');
  });
  it('compression arguments honour level and threads', () => {
    expect(dpkgCompressionArgs({ algorithm: 'xz', level: 9, threads: 4 })).toEqual(['-Zxz', '-z9', '--threads-max=4']);
    expect(dpkgCompressionArgs({ algorithm: 'gzip', level: 6, threads: 1 })).toEqual(['-Zgzip', '-z6', '--threads-max=1']);
  });
});

describe('repackaging docker-engine (pure parts)', () => {
  const engineRequires = parseRpmRequires(
    [
      '/bin/sh\tpost,interp',
      'iptables\tmanual',
      'docker-engine-selinux >= 1.12.6-1.el7.centos\tpre',
      'rpmlib(FileDigests) <= 4.6.0-1\trpmlib',
      'libc.so.6()(64bit)\tauto',
      'config(docker-engine) = 1.12.6-1\tconfig',
    ].join('\n'),
  );
  const selinuxRequires = parseRpmRequires(['policycoreutils\tpost', 'iptables\tmanual', '/bin/sh\tpostun,interp'].join('\n'));
  it('parses rpm file lists: type, mode, config flag, link target', () => {
    const entries = parseRpmFileList(
      '/usr/bin/docker\t100755\t\t\n/etc/sysconfig/docker\t100644\tcmn\t\n/usr/share/x\t40750\t\t\n/usr/bin/l\t120777\t\tdocker\n',
    );
    expect(entries).toEqual([
      { path: '/usr/bin/docker', mode: 0o755, type: 'file', config: false, linkTarget: '' },
      { path: '/etc/sysconfig/docker', mode: 0o644, type: 'file', config: true, linkTarget: '' },
      { path: '/usr/share/x', mode: 0o750, type: 'directory', config: false, linkTarget: '' },
      { path: '/usr/bin/l', mode: 0o777, type: 'symlink', config: false, linkTarget: 'docker' },
    ]);
  });
  it('keeps requires with their scriptlet context, drops what rpmbuild regenerates and what is merged in', () => {
    const merged = mergeRpmRequires([
      { name: 'docker-engine', requires: engineRequires },
      { name: 'docker-engine-selinux', requires: selinuxRequires },
    ]);
    expect(merged.requires).toEqual(['iptables', 'libc.so.6()(64bit)']);
    expect(merged.scriptletRequires).toEqual({ post: ['policycoreutils'] });
  });
  it('keeps provides of the merged-in package, not our own name or config()', () => {
    expect(
      mergeRpmProvides(
        [
          {
            name: 'docker-engine',
            provides: ['docker-engine = 1.12.6-1', 'docker-engine(x86-64) = 1.12.6-1', 'config(docker-engine) = 1.12.6-1'],
          },
          { name: 'docker-engine-selinux', provides: ['docker-engine-selinux = 1.12.6-1'] },
        ],
        'docker-engine',
      ),
    ).toEqual(['docker-engine-selinux = 1.12.6-1']);
  });
  it('runs same-phase scriptlets one after the other, refusing different interpreters', () => {
    const merged = mergeScriptlets([
      { name: 'a', scriptlets: { post: { interpreter: '/bin/sh', body: 'echo a' } } },
      { name: 'b', scriptlets: { post: { interpreter: '/bin/sh', body: 'echo b\n' }, postun: { body: 'echo c' } } },
    ]);
    expect(merged.post).toEqual({ interpreter: '/bin/sh', body: '# from a\necho a\n# from b\necho b\n' });
    expect(merged.postun?.body).toBe('# from b\necho c\n');
    expect(() =>
      mergeScriptlets([
        { name: 'a', scriptlets: { post: { interpreter: '/bin/sh', body: 'x' } } },
        { name: 'b', scriptlets: { post: { interpreter: '<lua>', body: 'y' } } },
      ]),
    ).toThrow('cannot merge the %post scriptlets');
  });
  it('parses a Debian control file and keeps relation fields on one line', () => {
    const [control] = parseControlParagraphs(
      'Package: docker-engine\nVersion: 1.12.6-0~ubuntu-xenial\nDepends: iptables,\n libc6 (>= 2.17)\nRecommends: git\nMaintainer: Docker <support@docker.com>\nDescription: Docker\n more text\n',
    );
    expect(control[2]).toEqual(['Depends', 'iptables,\n libc6 (>= 2.17)']);
    const kept = keptDebFields(control);
    expect(kept.depends).toEqual(['iptables', 'libc6 (>= 2.17)']);
    expect(kept.extraFields).toEqual([['Recommends', 'git']]);
    expect(() => parseControlParagraphs(' leading continuation')).toThrow('continuation line first');
  });
  it('control data: values trimmed of spaces and tabs, blank lines of whitespace end a paragraph; damaged field lines refused, naming the line', () => {
    expect(parseControlParagraphs('A:b \t\nB:\t c : d\nC:\n \t\nD: e\n\n\nE: f')).toEqual([
      [
        ['A', 'b'],
        ['B', 'c : d'],
        ['C', ''],
      ],
      [['D', 'e']],
      [['E', 'f']],
    ]);
    // A continuation line may hold a CR (kept as written); a field line may not.
    expect(parseControlParagraphs('A: b\n c\r\n')).toEqual([[['A', 'b\n c\r']]]);
    for (const bad of ['A: b\r\n', 'A: b\u2028c', 'no colon', ': empty name', 'a b: space in the name', '#A: b', '-A: b', 'Ä: b'])
      expect(() => parseControlParagraphs(`Z: z\n${bad}\n`, 'x.deb: DEBIAN/control')).toThrow(
        `x.deb: DEBIAN/control: malformed control file line: ${bad.split('\n')[0]}`,
      );
  });
});

const manifestText = `# top comment
metadata:
  maintainer: A <a@b.c>
  vendor: V
  license: L
  homepage: https://h.example
  arch: { rpm: x86_64, deb: amd64 }
packages:
  - name: etcd
    description: d
    versioning: upstream
    version: 3.1.10
    iteration: 1
    sources:
      # the etcd tarball
      - id: etcd
        url: https://github.com/coreos/etcd/releases/download/v{version}/etcd-v{version}-linux-amd64.tar.gz
        unpinned: true
        format: rpm
    files:
      - { from: etcd, member: "etcd-v{version}-linux-amd64/etcd", path: /usr/bin/etcd_k8s, mode: "0755" }
  - name: kubelet
    description: k
    versioning: kismatic
    version: 1.7.4
    iteration: 1
    sources:
      - id: node
        url: https://dl.k8s.io/v{version}/kubernetes-node-linux-amd64.tar.gz
        sha256: ${'a'.repeat(64)}
    files:
      - { from: node, member: kubernetes/node/bin/kubelet, path: /usr/bin/kubelet, mode: "0755" }
`;

describe('pinning and selection', () => {
  const manifest = parseManifest(manifestText, 'm.yaml');
  it('replaces unpinned: true by sha256 at the same place, keeping comments', () => {
    const out = applySourcePins(manifestText, [{ packageName: 'etcd', sourceId: 'etcd', sha256: 'b'.repeat(64) }], 'm.yaml');
    expect(out).toContain('# top comment');
    expect(out).toContain('# the etcd tarball');
    expect(out).toContain(`        sha256: ${'b'.repeat(64)}\n        format: rpm\n`);
    expect(out).not.toContain('unpinned');
    expect(parseManifest(out, 'm.yaml').packages[0].sources[0].checksum).toEqual({ algorithm: 'sha256', hex: 'b'.repeat(64) });
  });
  it('refuses to pin a source that is not unpinned or does not exist', () => {
    expect(() => applySourcePins(manifestText, [{ packageName: 'kubelet', sourceId: 'node', sha256: 'b'.repeat(64) }], 'm.yaml')).toThrow(
      'is not marked unpinned',
    );
    expect(() => applySourcePins(manifestText, [{ packageName: 'kubelet', sourceId: 'nope', sha256: 'b'.repeat(64) }], 'm.yaml')).toThrow(
      'has no source "nope"',
    );
  });
  it('refuses unpinned sources naming package, source and the pin command', () => {
    expect(() => checkPinned(manifest.packages, false, 'm.yaml')).toThrow(
      /package "etcd" source "etcd" \(https:\/\/github.com\/coreos\/etcd\/releases\/download\/v3.1.10\/etcd-v3.1.10-linux-amd64.tar.gz\)[\s\S]*ket-packages pin[\s\S]*--allow-unpinned/,
    );
    expect(() => checkPinned(manifest.packages, true, 'm.yaml')).not.toThrow();
    expect(() => checkPinned([manifest.packages[1]], false, 'm.yaml')).not.toThrow();
  });
  it('names unpinned sources and images together, in one message', () => {
    const withImages = parseManifest(
      manifestText +
        `  - name: kismatic-offline
    description: images
    versioning: kismatic
    version: 1.7.4
    iteration: 1
    images:
      - { name: pause, repository: gcr.io/google_containers/pause-amd64, tag: "3.0", unpinned: true }
`,
      'm.yaml',
    );
    expect(() => checkPinned(withImages.packages, false, 'm.yaml')).toThrow(
      /1 source\(s\) have no pinned checksum:\n {2}- package "etcd" source "etcd" .*\n1 image\(s\) have no pinned digest:\n {2}- package "kismatic-offline" image "pause" \(gcr.io\/google_containers\/pause-amd64:3.0\)/,
    );
  });
  it('--only picks packages and refuses unknown names', () => {
    expect(selectPackages(manifest, ['kubelet']).map((p) => p.name)).toEqual(['kubelet']);
    expect(selectPackages(manifest, undefined).length).toBe(2);
    expect(() => selectPackages(manifest, ['kubelet', 'nope'])).toThrow('only: no package named nope in m.yaml (packages: etcd, kubelet)');
  });
  it('a format-restricted source serves only that format', () => {
    expect(sourcesFor(manifest.packages[0], 'rpm').length).toBe(1);
    expect(sourcesFor(manifest.packages[0], 'deb').length).toBe(0);
    expect(sourcesFor(manifest.packages[1], 'deb').length).toBe(1);
  });
});

describe('fixtures (pure parts)', () => {
  it('recognises each upstream file kind from its URL', () => {
    expect(fixtureKind('https://dl.k8s.io/v1.7.4/kubernetes-node-linux-amd64.tar.gz')).toEqual({ kind: 'k8s-node', version: '1.7.4' });
    expect(fixtureKind('https://github.com/coreos/etcd/releases/download/v3.0.17/etcd-v3.0.17-linux-amd64.tar.gz')).toEqual({
      kind: 'etcd',
      version: '3.0.17',
    });
    expect(fixtureKind('https://y/docker-engine-selinux-1.12.6-1.el7.centos.noarch.rpm')).toEqual({
      kind: 'docker-selinux-rpm',
      version: '1.12.6',
      release: '1.el7.centos',
    });
    expect(fixtureKind('https://y/docker-engine-1.12.6-1.el7.centos.x86_64.rpm')).toEqual({
      kind: 'docker-rpm',
      version: '1.12.6',
      release: '1.el7.centos',
    });
    expect(fixtureKind('https://y/docker-engine_1.12.6-0~ubuntu-xenial_amd64.deb')).toEqual({
      kind: 'docker-deb',
      version: '1.12.6',
      release: '0~ubuntu-xenial',
    });
    expect(fixtureKind('https://y/other.zip')).toBeUndefined();
    expect(mirrorPathOf('https://dl.k8s.io/v1.7.4/x')).toBe('/dl.k8s.io/v1.7.4/x');
  });
  it('pins every source of the derived manifest to its fixture checksum', () => {
    const text = pinnedManifestText(manifestText, [
      { packageName: 'etcd', sourceId: 'etcd', sha256: 'c'.repeat(64), urlPath: '', file: '', upstreamUrl: '' },
      { packageName: 'kubelet', sourceId: 'node', sha256: 'd'.repeat(64), urlPath: '', file: '', upstreamUrl: '' },
    ]);
    const m = parseManifest(text, 'fixture.yaml');
    expect(m.packages.map((p) => p.sources[0].checksum?.hex)).toEqual(['c'.repeat(64), 'd'.repeat(64)]);
  });
});
