import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { appendPackageEntries, publishedRepodataFile } from '../../lib/publish/repodata-append';
import { parseKeyRecords, primaryFingerprints as parsePrimaryFingerprints, signingKeyProblems } from '../../lib/publish/sign';
import { PassThrough, Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { clientInstructions, missingBuildOutputs } from '../../lib/release/local';
import { loadManifest } from '../../lib/manifest/load';
import { evaluateWritePreconditions, normalizeEtag } from '../../lib/local/store/conditional';
import {
  classifyPackages,
  clearSignedText,
  conflictMessage,
  decompressMetadata,
  namedEntriesAgree,
  packagesIndexEntriesNamed,
  appendParagraphs,
  parsePackagesIndex,
  parsePrimaryXml,
  parseReleaseSha256,
  relistRelease,
  primaryEntriesNamed,
  readPrimaryXml,
  parseRepomd,
  RepodataType,
  rpmEvr,
  verifyListedChecksum,
} from '../../lib/publish/metadata';
import { compareLockOrder, isLockFree, lockOrder, parseLockRecord } from '../../lib/publish/lock';
import { cacheControlOf, SIGNED_ENTRY_FILES } from '../../lib/publish/layout';
import { checksigSections, debVersionProblem, fileNameCollisions, packageRules, strayPackages } from '../../lib/publish/validate';
import { Cleanup } from '../../lib/publish/cleanup';
import { distsUploadPhase } from '../../lib/publish/deb';
import { kismaticRepoFile } from '../../lib/publish/rpm';
import { bucketHttpUrl, parseS3Url } from '../../lib/publish/s3';
import { listingSummary, missingPackages, parseMadison, parseRepoquery } from '../../lib/verify';
import { refusal } from '../../lib/publish/buckets';

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
  test('reads primary.xml packages with epoch-aware versions, gzip or not', async () => {
    const ps = await parsePrimaryXml(gzipSync(primary), 'x-primary.xml.gz');
    expect(await parsePrimaryXml(primary, 'x-primary.xml')).toEqual(ps);
    expect(ps.map((p) => [p.name, p.version, p.location])).toEqual([
      ['kubelet', '1.7.4_1-1', 'packages/kubelet-1.7.4_1-1.x86_64.rpm'],
      ['docker-engine', '2:1.12.6-1.el7.centos', 'packages/docker-engine-1.12.6-1.el7.centos.x86_64.rpm'],
    ]);
    expect(rpmEvr('0', '1', '2')).toBe('1-2');
    await expect(decompressMetadata('x.xml.zst', Buffer.from(''))).rejects.toThrow(/unsupported metadata compression/);
    await expect(parsePrimaryXml('', 'x-primary.xml.zst')).rejects.toThrow(/x-primary\.xml\.zst: unsupported metadata compression/);
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
    expect(distsUploadPhase(`dists/kismatic-xenial/main/binary-amd64/by-hash/SHA512/${'e'.repeat(128)}`)).toBe('by-hash');
    expect(distsUploadPhase(`dists/kismatic-xenial/main/binary-amd64/by-hash/MD5Sum/${'d'.repeat(32)}`)).toBe('skip');
    expect(distsUploadPhase(`dists/kismatic-xenial/main/binary-amd64/by-hash/SHA1/${'d'.repeat(40)}`)).toBe('skip');
    expect(distsUploadPhase('dists/kismatic-xenial/main/binary-amd64/Packages.gz')).toBe('index');
    expect(distsUploadPhase('dists/kismatic-xenial/main/binary-amd64/Release')).toBe('index');
    expect(distsUploadPhase('dists/kismatic-xenial/InRelease')).toBe('top');
  });
});

describe('InRelease: the signed text and its SHA256 listing', () => {
  const sha = (c: string) => c.repeat(64);
  const release = [
    'Origin: . kismatic-xenial',
    'Suite: kismatic-xenial',
    'SHA256:',
    ` ${sha('a')}              512 main/binary-amd64/Packages`,
    ` ${sha('B')}              312 main/binary-amd64/Packages.gz`,
    '',
  ].join('\n');
  // Any signed text: dash-escaped lines (RFC 4880 §7.1) come back without their escape.
  const text = `${release}-----BEGIN PGP fake armor line\n- one dash line\n`;
  const sig = '-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCgAd\n=abcd\n-----END PGP SIGNATURE-----\n';
  const clearSigned = (text: string, after = '') =>
    Buffer.from(
      `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n${text
        .slice(0, -1)
        .split('\n')
        .map((l) => (l.startsWith('-') ? `- ${l}` : l))
        .join('\n')}\n${sig}${after}`,
    );

  test('clearSignedText: the dash-escaped text between the armor headers and the signature, as gpg writes it out', () => {
    expect(clearSigned(text).toString()).toContain('\n- -----BEGIN PGP fake armor line\n- - one dash line\n-----BEGIN PGP SIGNATURE');
    expect(clearSignedText(clearSigned(text), 'InRelease')).toBe(text);
    expect(clearSignedText(Buffer.from(clearSigned(text).toString().replace(/\n/g, '\r\n')), 'InRelease')).toBe(text);
    // Trailing whitespace is not signed: gone, as in gpg's output.
    expect(
      clearSignedText(
        Buffer.from(clearSigned(text).toString().replace('Suite: kismatic-xenial\n', 'Suite: kismatic-xenial \t\n')),
        'InRelease',
      ),
    ).toBe(text);
  });

  test.each([
    ['text before the message', (b: Buffer) => Buffer.concat([Buffer.from('Suite: forged\n'), b]), /does not begin with/],
    ['text after the signature', (b: Buffer) => Buffer.concat([b, Buffer.from('SHA256:\n forged\n')]), /text after the signature/],
    ['a second signed message', (b: Buffer) => Buffer.concat([b, b]), /text after the signature/],
    ['no signature', (b: Buffer) => b.subarray(0, b.indexOf('-----BEGIN PGP SIGNATURE')), /no complete signature block/],
    ['a header other than Hash', (b: Buffer) => Buffer.from(b.toString().replace('Hash: SHA512', 'Comment: x')), /armor header/],
    [
      'a message nested in the text',
      (b: Buffer) => Buffer.from(b.toString().replace('Suite:', '-----BEGIN PGP SIGNED MESSAGE-----\nSuite:')),
      /second message/,
    ],
  ])('clearSignedText refuses %s, naming the file', (_what, change, message) => {
    expect(() => clearSignedText(change(clearSigned(release)), 'deb-repo: dists/kismatic-xenial/InRelease')).toThrow(
      new RegExp(`^deb-repo: dists/kismatic-xenial/InRelease is not a clear-signed message .*${message.source}.*the repository is damaged`),
    );
  });

  test('parseReleaseSha256: path -> SHA256 (lower case) and size; a damaged listing is refused by name', () => {
    expect(parseReleaseSha256(release, 'InRelease')).toEqual(
      new Map([
        ['main/binary-amd64/Packages', { sha256: sha('a'), size: 512 }],
        ['main/binary-amd64/Packages.gz', { sha256: sha('b'), size: 312 }],
      ]),
    );
    expect(() => parseReleaseSha256('Origin: x\nMD5Sum:\n 0 1 a\n', 'r: InRelease')).toThrow(
      /^r: InRelease: not a Release file with a SHA256 field/,
    );
    expect(() => parseReleaseSha256(release.replace(' 312 ', ' 31x '), 'r: InRelease')).toThrow(
      /^r: InRelease: malformed SHA256 line: b{64} +31x main\/binary-amd64\/Packages.gz; the repository is damaged/i,
    );
    expect(() => parseReleaseSha256(`${release}\nOrigin: second paragraph\n`, 'r: InRelease')).toThrow(/not a Release file/);
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

  test('the summary counts the manifest’s packages found, not strays or other versions', () => {
    const expected = [
      { name: 'kubelet', version: '1.7.4-1' },
      { name: 'etcd', version: '3.1.11-1' },
      { name: 'kubectl', version: '1.7.4-1' },
    ];
    const listed = [
      { name: 'kubelet', version: '1.7.4-1' },
      { name: 'kubelet', version: '1.7.3-1' },
      { name: 'etcd', version: '3.1.11-1' },
      { name: 'etcd', version: '3.1.11-1' },
      { name: 'stray', version: '0.1-1' },
      { name: 'stray', version: '0.2-1' },
    ];
    expect(listingSummary(expected, listed)).toBe('2 of 3 expected package(s) listed at their exact versions');
    expect(listingSummary(expected, [])).toBe('0 of 3 expected package(s) listed at their exact versions');
  });
});

describe('publish refusal', () => {
  test('counts what it lists: a message naming several damaged files is as many problems', () => {
    const damaged = [
      'RPM repository s3://r: repodata/a-primary.xml.gz does not match',
      'RPM repository s3://r: repodata/b-other.xml.gz does not match',
    ];
    const conflict =
      'DEB repository s3://d: 1 package(s) already published with different bytes:\n  etcd 3.1.10-1 (amd64): published sha256 a, this build b';
    const message = refusal([damaged.join('\n- '), conflict, 'stray.rpm: stray is not a package of the release manifest']).message;
    expect(message).toBe(
      [
        'publish refused (4 problem(s)); nothing was written:',
        `- ${damaged[0]}`,
        `- ${damaged[1]}`,
        `- ${conflict}`,
        '- stray.rpm: stray is not a package of the release manifest',
      ].join('\n'),
    );
    // The count is the number of "- " lines the reader sees.
    const count = Number(/\((\d+) problem\(s\)\)/.exec(message)![1]);
    expect(message.split('\n').filter((l) => l.startsWith('- '))).toHaveLength(count);
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

describe('metadata is read as XML, not by pattern', () => {
  test('repomd.xml with attributes in another order, namespaces, entities and zstd-free hrefs', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="primary"><location xml:base="" href="repodata/ab-primary.xml.gz"/><checksum type="sha256">ab</checksum><open-checksum type="sha256">cd</open-checksum></data>
  <data type="other"><checksum type="sha256">ef</checksum><location href="repodata/ef-other.xml.gz"></location></data>
</repomd>`;
    expect(parseRepomd(xml)).toEqual([
      { type: 'primary', href: 'repodata/ab-primary.xml.gz', checksum: 'ab', checksumType: 'sha256' },
      { type: 'other', href: 'repodata/ef-other.xml.gz', checksum: 'ef', checksumType: 'sha256' },
    ]);
    expect(() => parseRepomd('<repomd><data type="primary">')).toThrow(/repomd\.xml is not well-formed XML/);
  });
  test('primary.xml with reordered attributes, entities and nested rpm: elements', async () => {
    const xml = `<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm"><name>a&amp;b</name><arch>noarch</arch><version rel="1" ver="2.0" epoch="3"/>
<checksum pkgid="YES" type="sha256">${'e'.repeat(64)}</checksum><summary>s</summary>
<format><rpm:provides><rpm:entry name="a&amp;b"/></rpm:provides></format>
<location href="packages/a&amp;b-2.0-1.noarch.rpm"/></package></metadata>`;
    expect(await parsePrimaryXml(xml, 'p.xml')).toEqual([
      { name: 'a&b', arch: 'noarch', version: '3:2.0-1', sha256: 'e'.repeat(64), location: 'packages/a&b-2.0-1.noarch.rpm' },
    ]);
  });
});

describe('a damaged primary.xml or repomd.xml is refused by name', () => {
  const entry = (name: string) =>
    `<package type="rpm"><name>${name}</name><arch>x86_64</arch><version epoch="0" ver="1.0" rel="1"/>` +
    `<checksum type="sha256" pkgid="YES">${'a'.repeat(64)}</checksum><location href="packages/${name}-1.0-1.x86_64.rpm"/></package>\n`;
  const doc = (count: string, body: string) =>
    `<?xml version="1.0"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" ${count}>\n${body}</metadata>\n`;
  const good = doc('packages="2"', entry('a') + entry('b'));
  const read = (xml: string, file = 'repodata/x-primary.xml') => parsePrimaryXml(xml, file);

  test('the same packages whatever the chunk boundaries (tokens split across chunks)', async () => {
    const whole = await read(good);
    expect(whole.map((p) => p.name)).toEqual(['a', 'b']);
    const bytes = Buffer.from(good.replace('<name>a</name>', '<name>a&amp;&#x41;é</name>'));
    const oneByte = Readable.from(
      Array.from(bytes, (b) => Buffer.from([b])),
      { objectMode: false },
    );
    expect((await readPrimaryXml(oneByte, 'x-primary.xml')).map((p) => p.name)).toEqual(['a&Aé', 'b']);
  });

  test('truncated: inside an entry, inside a tag, or before </metadata>', async () => {
    await expect(read(good.slice(0, good.lastIndexOf('</package>')))).rejects.toThrow(
      /^repodata\/x-primary\.xml is not well-formed XML: unclosed tag: package where the input ends \(line 4\); the file is truncated or damaged$/,
    );
    await expect(read(good.slice(0, good.lastIndexOf('<location') + 12))).rejects.toThrow(
      /x-primary\.xml is not well-formed XML: unclosed tag: package where the input ends .*truncated or damaged$/,
    );
    await expect(read(good.slice(0, good.indexOf('</metadata>')))).rejects.toThrow(
      /x-primary\.xml is not well-formed XML: unclosed tag: metadata where the input ends .*truncated or damaged$/,
    );
    const gz = gzipSync(good);
    await expect(parsePrimaryXml(gz.subarray(0, gz.length - 30), 'x-primary.xml.gz')).rejects.toThrow(
      /^x-primary\.xml\.gz: unexpected end of file$/,
    );
  });

  test('an input destroyed before its end without an error (a producer that gave up) is refused by name', async () => {
    const tee = new PassThrough();
    const parsed = readPrimaryXml(tee, 'repodata/x-primary.xml');
    tee.write(good.slice(0, 60));
    await new Promise((resolve) => setImmediate(resolve));
    tee.destroy();
    await expect(parsed).rejects.toThrow(/^repodata\/x-primary\.xml: the input stopped before its end$/);
  });

  test('garbage, a wrong root, a mismatched or stray end tag, content after the root, a repeated attribute', async () => {
    await expect(read('')).rejects.toThrow(/^repodata\/x-primary\.xml is not well-formed XML: document must contain a root element/);
    await expect(read('not XML at all')).rejects.toThrow(/x-primary\.xml is not well-formed XML: text data outside of root node/);
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
    await expect(parsePrimaryXml(noise, 'x-primary.xml')).rejects.toThrow(/^x-primary\.xml is not well-formed XML: /);
    await expect(read('<html><body/></html>')).rejects.toThrow(
      /^repodata\/x-primary\.xml: the root element is <html>, expected <metadata>$/,
    );
    await expect(read(good.replace('</arch>', '</name>'))).rejects.toThrow(
      /^repodata\/x-primary\.xml is not well-formed XML: unexpected close tag \(line 3, column \d+\)$/,
    );
    await expect(read(good + '</metadata>')).rejects.toThrow(/is not well-formed XML: unmatched closing tag: metadata \(line 6/);
    await expect(read(good + '<metadata packages="0"/>')).rejects.toThrow(/is not well-formed XML: documents may contain only one root/);
    await expect(read(good + 'junk')).rejects.toThrow(/is not well-formed XML: text data outside of root node \(line 6/);
    await expect(read(good.replace('<version ', '<version ver="9" '))).rejects.toThrow(
      /is not well-formed XML: duplicate attribute: ver \(line 3/,
    );
  });

  test('the packages="N" count on <metadata> must match the entries read', async () => {
    await expect(read(doc('packages="3"', entry('a') + entry('b')))).rejects.toThrow(
      /^repodata\/x-primary\.xml: <metadata> announces packages="3" but 2 package entries were read; the file is damaged$/,
    );
    await expect(read(doc('packages="two"', entry('a') + entry('b')))).rejects.toThrow(/announces packages="two" but 2 package entries/);
    await expect(read(doc('', entry('a')))).rejects.toThrow(/^repodata\/x-primary\.xml: <metadata> has no packages="N" count/);
    expect(await read(doc('packages="0"', ''))).toEqual([]);
    expect(await read('<metadata packages="0"/>')).toEqual([]);
  });

  test('primaryEntriesNamed: the entries of the given names only, as the strict reader reads them, and the count of all', async () => {
    const packager = entry('c').replace('<location', '<packager>Someone</packager><location');
    const xml = doc('packages="4"', entry('a') + entry('b') + packager + entry('a&amp;d'));
    const all = await read(xml);
    for (const names of [['a'], ['b', 'c'], ['a&d'], [], ['zz']]) {
      const { packages, layout } = primaryEntriesNamed(Buffer.from(xml), 'x-primary.xml', new Set(names));
      expect(layout.total).toBe(4);
      expect(packages).toEqual(all.filter((p) => names.includes(p.name)));
    }
    const empty = '<?xml version="1.0"?>\n<metadata packages="0"/>';
    expect(primaryEntriesNamed(Buffer.from(empty + '\n'), 'p.xml', new Set(['a']))).toEqual({
      packages: [],
      layout: { prologue: empty, entriesStart: empty.length, entriesEnd: empty.length, total: 0 },
    });
    const prologue = doc('packages="0"', '').replace('\n</metadata>\n', '');
    expect(primaryEntriesNamed(Buffer.from(doc('packages="0"', '')), 'p.xml', new Set(['a'])).layout).toEqual({
      prologue,
      entriesStart: prologue.length,
      entriesEnd: prologue.length,
      total: 0,
    });
  });

  test('primaryEntriesNamed refuses, naming the file: a wrong count, no count, a cut entry, a cut end, another root, a bad named entry', async () => {
    const names = new Set(['a', 'b']);
    const named = (xml: string) => () => primaryEntriesNamed(Buffer.from(xml), 'repodata/x-primary.xml', names);
    expect(named(doc('packages="3"', entry('a') + entry('b')))).toThrow(
      /^repodata\/x-primary\.xml: <metadata> announces packages="3" but 2 package entries were read; the file is damaged$/,
    );
    expect(named(doc('packages="two"', entry('a')))).toThrow(/announces packages="two" but 1 package entries/);
    expect(named(doc('', entry('a')))).toThrow(/^repodata\/x-primary\.xml: <metadata> has no packages="N" count/);
    expect(named(good.slice(0, good.lastIndexOf('</package>')))).toThrow(
      /^repodata\/x-primary\.xml: a <package> element has no end tag; the file is truncated or damaged$/,
    );
    expect(named(good.slice(0, good.indexOf('</metadata>')))).toThrow(
      /^repodata\/x-primary\.xml: what follows the last <package> is not the end of <metadata>; the file is truncated or damaged$/,
    );
    expect(named(good + 'junk')).toThrow(/what follows the last <package> is not the end of <metadata>/);
    expect(named('<html><metadata packages="0"/></html>')).toThrow(/^repodata\/x-primary\.xml: no <metadata> root element/);
    expect(named('')).toThrow(/no <metadata> root element/);
    // A named entry goes through the strict reader; an unnamed one is only counted.
    expect(named(good.replace('</arch>', '</name>'))).toThrow(/^repodata\/x-primary\.xml is not well-formed XML: /);
    expect(named(good.replace('<arch>x86_64</arch>', ''))).toThrow(/a package entry lacks name, arch/);
    expect(primaryEntriesNamed(Buffer.from(good.replace('<arch>x86_64</arch>', '')), 'p.xml', new Set(['zz'])).layout.total).toBe(2);
  });

  test('appendPackageEntries: the published entries as they are, then the new ones, counted together under the new prologue', () => {
    const file = (xml: string, href = 'repodata/x-primary.xml') => ({ href, xml: Buffer.from(xml) });
    const published = (type: RepodataType, xml: string, href = `repodata/x-${type}.xml`) => publishedRepodataFile(type, file(xml, href));
    const added = doc('packages="1"', entry('n'));
    const appended = (old: string) =>
      Buffer.concat(appendPackageEntries('primary', published('primary', old), file(added, 'new'))).toString();
    expect(appended(good)).toBe(doc('packages="3"', entry('a') + entry('b') + entry('n')));
    // An empty published file (as createrepo_c writes one with no packages, or self-closed).
    expect(appended(doc('packages="0"', ''))).toBe(added);
    expect(appended('<?xml version="1.0"?>\n<metadata packages="0"/>\n')).toBe(added);
    // The other two files, by their roots.
    const other = (count: number, names: string[]) =>
      `<?xml version="1.0"?>\n<otherdata xmlns="http://linux.duke.edu/metadata/other" packages="${count}">\n` +
      names.map((n) => `<package pkgid="${n}" name="${n}" arch="x86_64"><version epoch="0" ver="1" rel="1"/></package>\n`).join('') +
      '</otherdata>';
    expect(Buffer.concat(appendPackageEntries('other', published('other', other(2, ['a', 'b'])), file(other(1, ['n'])))).toString()).toBe(
      other(3, ['a', 'b', 'n']),
    );
    // Refused by name: the wrong root, a count that does not match, a cut file; new entries of another root, or none.
    expect(() => published('other', good)).toThrow(
      /^repodata\/x-other\.xml: no <otherdata> root element where the file begins; the file is damaged$/,
    );
    expect(() => published('primary', doc('packages="3"', entry('a')))).toThrow(
      /^repodata\/x-primary\.xml: <metadata> announces packages="3" but 1 package entries were read/,
    );
    expect(() => published('primary', good.slice(0, -20))).toThrow(/the file is truncated or damaged$/);
    expect(() => appendPackageEntries('primary', published('primary', good), file(other(1, ['n']), 'new'))).toThrow(
      /^new: no <metadata> root element/,
    );
    expect(() => appendPackageEntries('primary', published('primary', good), file(doc('packages="0"', ''), 'new'))).toThrow(
      /^new: no package entries to add$/,
    );
  });

  test('appendParagraphs: the index byte for byte, one blank line, then the new paragraphs; parsed, it lists both', () => {
    const paragraph = (name: string) =>
      `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/main/${name[0]}/${name}/${name}_1.0_amd64.deb\nSize: 1\nSHA256: ${'a'.repeat(64)}\n`;
    const index = (...ps: string[]) => ps.map((p) => `${p}\n`).join('');
    const before = index(paragraph('b'), paragraph('d'));
    const more = index(paragraph('a'), paragraph('c'));
    expect(appendParagraphs(before, more)).toBe(before + more);
    expect(appendParagraphs('', more)).toBe(more);
    expect(appendParagraphs('\n', more)).toBe(more);
    // An index another tool wrote without the last blank line, or without the last newline.
    expect(appendParagraphs(before.slice(0, -1), more)).toBe(before + more);
    expect(appendParagraphs(before.slice(0, -2), more)).toBe(before + more);
    expect(parsePackagesIndex(appendParagraphs(before.slice(0, -1), more)).map((p) => p.name)).toEqual(['b', 'd', 'a', 'c']);
  });

  test("relistRelease: the given files' lines in every hash field get their new hashes and sizes, as aptly writes them; every other line is kept; a file a field does not list is refused", () => {
    const fields = [
      ['MD5Sum', 'md5', 32],
      ['SHA1', 'sha1', 40],
      ['SHA256', 'sha256', 64],
      ['SHA512', 'sha512', 128],
    ] as const;
    const bytes = Buffer.from('Package: a\n'.repeat(1_000_000 / 11));
    const hash = (type: string) => createHash(type).update(bytes).digest('hex');
    // Each field as aptly writes it, with the Packages line given: aptly's or the expected one.
    const release = (packagesLine: (type: string, width: number) => string) =>
      [
        'Origin: . kismatic-xenial',
        'Date: Mon, 30 Nov 2026 18:14:51 UTC',
        ...fields.flatMap(([field, type, width]) => [
          `${field}:`,
          packagesLine(type, width),
          ` ${'6'.repeat(width)}      156 main/binary-amd64/Release`,
        ]),
        'Acquire-By-Hash: yes',
        '',
      ].join('\n');
    const text = release((_type, width) => ` ${'5'.repeat(width)}     2940 main/binary-amd64/Packages`);
    const out = relistRelease(text, new Map([['main/binary-amd64/Packages', bytes]]), 'Release');
    expect(out).toBe(release((type) => ` ${hash(type)}   ${bytes.length} main/binary-amd64/Packages`));
    // As apt reads it back.
    expect(parseReleaseSha256(out, 'Release').get('main/binary-amd64/Packages')).toEqual({ sha256: hash('sha256'), size: bytes.length });
    expect(() => relistRelease(text, new Map([['main/binary-amd64/Packages.gz', bytes]]), 'r: Release')).toThrow(
      'r: Release: its MD5Sum field does not list main/binary-amd64/Packages.gz',
    );
    expect(() => relistRelease('Origin: x\n', new Map([['main/binary-amd64/Packages', bytes]]), 'r: Release')).toThrow(
      /no MD5Sum, SHA1, SHA256 or SHA512 field/,
    );
  });

  test('packagesIndexEntriesNamed: the paragraphs of the given names, as parsePackagesIndex reads them; namedEntriesAgree checks them against the whole index', () => {
    const paragraph = (name: string, version: string) =>
      `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nFilename: pool/main/${name[0]}/${name}/${name}_${version}_amd64.deb\nSHA256: ${'a'.repeat(64)}\nDescription: d\n Package: ${name}-not-a-field\n`;
    const text = [
      paragraph('kubelet', '1.7.4-1'),
      paragraph('kubectl', '1.7.4-1'),
      paragraph('kubelet', '1.7.5-1'),
      paragraph('kubelet-arm', '1'),
    ].join('\n');
    const all = parsePackagesIndex(text);
    const names = new Set(['kubelet', 'etcd']);
    const named = packagesIndexEntriesNamed(text, names);
    expect(named.map((p) => `${p.name} ${p.version}`)).toEqual(['kubelet 1.7.4-1', 'kubelet 1.7.5-1']);
    expect(namedEntriesAgree(named, all, names)).toBe(true);
    expect(namedEntriesAgree(named.slice(1), all, names)).toBe(false);
    expect(namedEntriesAgree([...named, all[1]], all, new Set(['kubelet', 'kubectl']))).toBe(true);
    expect(packagesIndexEntriesNamed('', names)).toEqual([]);
    expect(() => packagesIndexEntriesNamed(text.replace('SHA256: ', 'SHA1: '), names)).toThrow(
      /an entry lacks Package, Version, Architecture, SHA256 or Filename \(kubelet\)/,
    );
  });

  test('verifyListedChecksum: the bytes repomd.xml lists, sha256 or an older createrepo\'s "sha"; anything else is named', () => {
    const bytes = Buffer.from('metadata bytes');
    const sum = (algorithm: string) => createHash(algorithm).update(bytes).digest('hex');
    const listed = (checksumType: string, checksum: string) => ({
      type: 'primary',
      href: 'repodata/x-primary.xml.gz',
      checksumType,
      checksum,
    });
    verifyListedChecksum(listed('sha256', sum('sha256')), bytes);
    verifyListedChecksum(listed('sha256', sum('sha256').toUpperCase()), bytes);
    verifyListedChecksum(listed('sha', sum('sha1')), bytes);
    verifyListedChecksum(listed('sha512', sum('sha512')), bytes);
    expect(() => verifyListedChecksum(listed('sha256', 'ab'.repeat(32)), bytes)).toThrow(
      `repodata/x-primary.xml.gz does not match the sha256 checksum repomd.xml lists for it (${'ab'.repeat(32)}, found ${sum('sha256')}); the repository is damaged`,
    );
    expect(() => verifyListedChecksum(listed('md5', sum('md5')), bytes)).toThrow(
      /^repodata\/x-primary\.xml\.gz: repomd\.xml lists a md5 checksum, which publish does not know$/,
    );
  });

  test('repomd.xml: truncated, mismatched, empty or another document', () => {
    const repomd =
      '<repomd><data type="primary"><checksum type="sha256">ab</checksum><location href="repodata/ab-primary.xml.gz"/></data></repomd>';
    expect(parseRepomd(repomd)).toHaveLength(1);
    expect(() => parseRepomd(repomd.slice(0, -'</repomd>'.length))).toThrow(
      /^repomd\.xml is not well-formed XML: unclosed tag: repomd where the input ends \(line 1\); the file is truncated or damaged$/,
    );
    expect(() => parseRepomd(repomd.replace('</checksum>', '</location>'))).toThrow(
      /^repomd\.xml is not well-formed XML: unexpected close tag \(line 1, column \d+\)$/,
    );
    expect(() => parseRepomd('')).toThrow(/^repomd\.xml is not well-formed XML: document must contain a root element/);
    expect(() => parseRepomd('<metadata packages="0"/>')).toThrow(/^repomd\.xml: the root element is <metadata>, expected <repomd>$/);
  });
});

describe('input rules', () => {
  const rpm = {
    format: 'rpm' as const,
    name: 'kubelet',
    epoch: '',
    upstream: '1.7.4_1',
    release: '1',
    arch: 'x86_64',
    version: '1.7.4_1-1',
    location: 'packages/kubelet-1.7.4_1-1.x86_64.rpm',
    file: '/b/rpms/k.rpm',
  };
  const deb = {
    format: 'deb' as const,
    name: 'kubelet',
    epoch: '',
    upstream: '1.7.4-1',
    release: '',
    arch: 'amd64',
    version: '1.7.4-1',
    location: 'pool/main/k/kubelet/kubelet_1.7.4-1_amd64.deb',
    file: '/b/debs/k.deb',
  };
  test.each([
    [
      'an RPM of another architecture',
      { ...rpm, arch: 'aarch64' },
      /architecture 'aarch64' is not served by the RPM repository \(x86_64, noarch\)/,
    ],
    ['a source RPM', { ...rpm, arch: 'src' }, /architecture 'src' is not served/],
    ['an RPM name with a space', { ...rpm, name: 'a b' }, /name 'a b' is not a valid RPM name/],
    ['an RPM version with a dash', { ...rpm, upstream: '1-2' }, /version '1-2' is not a valid RPM version/],
    ['a DEB of another architecture', { ...deb, arch: 'arm64' }, /Architecture 'arm64' is not served by the DEB repository \(amd64, all\)/],
    ['a DEB name with capitals', { ...deb, name: 'Kubelet' }, /Package 'Kubelet' is not a valid Debian package name/],
    ['a DEB version not starting with a digit', { ...deb, version: 'v1.0-1' }, /upstream version must start with a digit/],
    ['a DEB revision with a colon-free bad char', { ...deb, version: '1.0-1_2' }, /the revision holds only/],
    ['a file name too long for disks', { ...rpm, location: `packages/${'x'.repeat(256)}.rpm` }, /longer than 255 bytes/],
    ['an object key too long for S3', { ...rpm, location: `${'d/'.repeat(520)}x.rpm` }, /longer than S3's 1024 bytes/],
  ])('refuses %s, naming the rule', (_what, p, rule) => {
    expect(packageRules(p, 10).join('\n')).toMatch(rule);
  });
  test('accepts the architecture-free packages and valid versions', () => {
    expect(packageRules({ ...rpm, arch: 'noarch' }, 10)).toEqual([]);
    expect(
      packageRules(
        {
          ...deb,
          arch: 'all',
          version: '2:1.12.6-0~ubuntu-xenial',
          location: 'pool/main/k/kubelet/kubelet_1.12.6-0~ubuntu-xenial_all.deb',
        },
        10,
      ),
    ).toEqual([]);
    expect(packageRules({ ...deb, location: 'pool/main/k/kubelet/kubelet-latest.deb' }, 10)).toEqual([
      expect.stringMatching(/its file name is not Debian's NAME_VERSION_ARCH\.deb without epoch \(kubelet_1\.7\.4-1_amd64\.deb\)/),
    ]);
    expect(packageRules(rpm, 0)).toEqual(['it is empty']);
    expect(debVersionProblem('1.0')).toBeUndefined();
  });
  test('epochs: file names drop them, so 2:1.0-1 and 3:1.0-1 collide on one file name', () => {
    const published = [{ name: 'p', version: '2:1.0-1', arch: 'x86_64', sha256: 'a', location: 'packages/p-1.0-1.x86_64.rpm' }];
    const local = [
      { ...rpm, name: 'p', version: '3:1.0-1', epoch: '3', upstream: '1.0', location: 'packages/p-1.0-1.x86_64.rpm', sha256: 'b' },
    ];
    expect(fileNameCollisions(local, published)).toEqual([
      {
        file: '/b/rpms/k.rpm',
        rule: expect.stringMatching(
          /p 3:1\.0-1 would be stored as p-1\.0-1\.x86_64\.rpm, which already holds the published p 2:1\.0-1: RPM file names carry no epoch/,
        ),
      },
    ]);
    expect(fileNameCollisions([{ ...local[0], version: '2:1.0-1' }], published)).toEqual([]);
  });
  test('strays: unknown names and named packages at other versions', () => {
    const release = { rpm: [{ name: 'kubelet', version: '1.7.4_1-1' }], deb: [{ name: 'kubelet', version: '1.7.5-1' }] };
    const stray = { ...deb, name: 'stray', file: '/b/debs/stray.deb', sha256: 's' };
    expect(strayPackages([{ ...rpm, sha256: 'x' }, { ...deb, sha256: 'y' }, stray], release)).toEqual([
      { file: '/b/debs/k.deb', rule: 'kubelet 1.7.4-1 is not the version the release manifest names (1.7.5-1)' },
      { file: '/b/debs/stray.deb', rule: 'stray is not a package of the release manifest' },
    ]);
  });
});

describe('signing key policy', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const t = (d: string) => String(Date.parse(d) / 1000);
  const pub = (bits: number, algo: number, expires = '', validity = 'u') =>
    `pub:${validity}:${bits}:${algo}:AAAA:1:${expires}::-:::scSC::::::23::0:`;
  test.each([
    ['DSA-1024', pub(1024, 17), /key F is DSA-1024: CentOS 7's rpm 4\.11 cannot verify DSA keys with SHA-512/],
    ['RSA-1024', pub(1024, 1), /key F is RSA-1024: .*below 2048 bits/],
    ['EdDSA', pub(255, 22), /key F is EdDSA-255: .*anything but RSA and DSA/],
    ['an expired key', pub(3072, 1, t('2026-05-01'), 'e'), /key F expired on 2026-05-01/],
    ['a revoked key', pub(3072, 1, '', 'r'), /key F is revoked/],
  ])('refuses %s, naming the key', (_what, colons, rule) => {
    expect(signingKeyProblems(parseKeyRecords(colons), 'F', now).problems.join('\n')).toMatch(rule);
  });
  test('a weak signing subkey is refused though the primary is fine; an expiring key warns', () => {
    const colons = [pub(4096, 1, t('2026-07-01')), 'sub:u:1024:17:BBBB:1::::::s::::::23:'].join('\n');
    const r = signingKeyProblems(parseKeyRecords(colons), 'F', now);
    expect(r.problems).toEqual([expect.stringMatching(/signing subkey BBBB of key F is DSA-1024/)]);
    expect(r.warnings).toEqual([expect.stringMatching(/key F expires on 2026-07-01 \(in 30 days\)/)]);
    expect(signingKeyProblems(parseKeyRecords(pub(2048, 1)), 'F', now)).toEqual({ problems: [], warnings: [] });
  });
});

describe('cache rule', () => {
  test('signed entry files and public.key are revalidated; packages and hashed files immutable', () => {
    for (const k of SIGNED_ENTRY_FILES.rpm) expect(cacheControlOf('rpm', k)).toBe('no-cache');
    for (const k of SIGNED_ENTRY_FILES.deb) expect(cacheControlOf('deb', k)).toBe('no-cache');
    expect(cacheControlOf('rpm', 'packages/a-1-1.x86_64.rpm')).toMatch(/immutable/);
    expect(cacheControlOf('rpm', `repodata/${'a'.repeat(64)}-primary.xml.gz`)).toMatch(/immutable/);
    expect(cacheControlOf('deb', 'dists/kismatic-xenial/main/binary-amd64/Packages.gz')).toBe('public, max-age=60');
  });
});

describe('cleanup', () => {
  test('runs each task once, at once, also tasks added after it started', async () => {
    const order: string[] = [];
    const c = new Cleanup();
    c.add(async () => order.push('a'));
    c.add(async () => {
      throw new Error('ignored');
    });
    c.add(async () => order.push('c'));
    const first = c.run();
    c.add(async () => order.push('late'));
    await Promise.all([first, c.run()]);
    await c.run();
    expect(order).toEqual(['a', 'c', 'late']);
  });
});

describe('lock order', () => {
  test('locks sort by state bucket and key, whoever asks', () => {
    const a = { bucket: 's', key: 'p/locks/rpm-b.lock' };
    const b = { bucket: 's', key: 'p/locks/deb-b.lock' };
    const c = { bucket: 'r', key: 'q/locks/rpm-b.lock' };
    expect([a, b, c].sort(compareLockOrder)).toEqual([c, b, a]);
    expect([b, c, a].sort(compareLockOrder)).toEqual([c, b, a]);
  });

  test('the order is by code units, not the locale (every machine takes the locks alike)', () => {
    // A locale-aware order puts "a" before "B" and ignores "-" at first; code units do not.
    const upper = { bucket: 's', key: 'P/locks/x.lock' };
    const lower = { bucket: 's', key: 'a/locks/x.lock' };
    const dash = { bucket: 's', key: 'p/locks/a-c.lock' };
    const plain = { bucket: 's', key: 'p/locks/ab.lock' };
    expect([lower, upper].sort(compareLockOrder)).toEqual([upper, lower]);
    expect([plain, dash].sort(compareLockOrder)).toEqual([dash, plain]);
    expect(lockOrder(upper).localeCompare(lockOrder(lower))).toBeGreaterThan(0); // (what the old order did)
  });
});

describe('primary.xml at repository scale', () => {
  test('10,000 packages stream through the parser from a gzip stream', async () => {
    const entry = (i: number) =>
      `<package type="rpm"><name>p${i}</name><arch>x86_64</arch><version epoch="0" ver="1.${i}" rel="1"/><checksum type="sha256" pkgid="YES">${'a'.repeat(64)}</checksum><location href="packages/p${i}-1.${i}-1.x86_64.rpm"/><format><rpm:provides><rpm:entry name="p${i}"/></rpm:provides></format></package>\n`;
    const chunks = function* () {
      yield '<?xml version="1.0"?><metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="10000">\n';
      for (let i = 0; i < 10_000; i++) yield entry(i);
      yield '</metadata>\n';
    };
    const gz = Readable.from(chunks()).pipe(createGzip());
    const packages = await readPrimaryXml(gz, 'repodata/x-primary.xml.gz');
    expect(packages).toHaveLength(10_000);
    expect(packages[9_999]).toEqual({
      name: 'p9999',
      arch: 'x86_64',
      version: '1.9999-1',
      sha256: 'a'.repeat(64),
      location: 'packages/p9999-1.9999-1.x86_64.rpm',
    });
  });

  // Issue 14: the parse never throttles the download it reads through a tee.
  test('the input is taken as it arrives, whatever the pace of the parse: a producer is never held back', async () => {
    const entries = Array.from(
      { length: 10_000 },
      (_, i) =>
        `<package type="rpm"><name>p${i}</name><arch>x86_64</arch><version epoch="0" ver="1.${i}" rel="1"/><checksum type="sha256" pkgid="YES">${randomBytes(32).toString('hex')}</checksum><location href="packages/p${i}-1.${i}-1.x86_64.rpm"/></package>\n`,
    );
    const gz = gzipSync(`<?xml version="1.0"?><metadata packages="10000">\n${entries.join('')}</metadata>\n`);
    const tee = new PassThrough();
    const parsed = readPrimaryXml(tee, 'repodata/x-primary.xml.gz');
    let settled = false;
    void parsed.finally(() => (settled = true));
    // All of it at once, as a fast download would deliver it (far more than the tee's buffer).
    for (let i = 0; i < gz.length; i += 64 * 1024) tee.write(gz.subarray(i, i + 64 * 1024));
    tee.end();
    expect(gz.length).toBeGreaterThan(20 * tee.writableHighWaterMark);
    await new Promise((resolve) => setImmediate(resolve));
    // One turn of the event loop later the reader has taken every byte (nothing waits in the tee,
    // so a pipe() into it never pauses), while the parse of those bytes is still going on.
    expect({ waiting: tee.writableLength + tee.readableLength, finished: tee.writableFinished, settled }).toEqual({
      waiting: 0,
      finished: true,
      settled: false,
    });
    expect(await parsed).toHaveLength(10_000);
  });
});

describe('rpmkeys --checksig output of several files', () => {
  const out = [
    '/b/a.rpm:',
    '    Header V4 RSA/SHA256 Signature, key ID ef1843a0: OK',
    '    MD5 digest: OK',
    '/b/b.rpm:',
    '    MD5 digest: OK',
    '',
  ].join('\n');
  it('splits the verdicts per file', () => {
    const s = checksigSections(out, ['/b/a.rpm', '/b/b.rpm'])!;
    expect(s.get('/b/a.rpm')).toContain('RSA/SHA256 Signature');
    expect(s.get('/b/b.rpm')).toBe('    MD5 digest: OK\n');
  });
  it('gives up (one run per file instead) when a file has no section or a line belongs to none', () => {
    expect(checksigSections(out, ['/b/a.rpm', '/b/b.rpm', '/b/c.rpm'])).toBeUndefined();
    expect(checksigSections(`error: something\n${out}`, ['/b/a.rpm', '/b/b.rpm'])).toBeUndefined();
  });
});
