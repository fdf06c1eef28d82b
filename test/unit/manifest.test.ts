import { ManifestError, parseManifest } from '../../lib/manifest/load';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyPins, ManifestPin } from '../../lib/manifest/pin-edit';
import { readYamlFile } from '../../lib/util/yaml-schema';

const SHA = 'a'.repeat(64);

/** A minimal valid manifest; each test breaks one thing in it. */
function manifestText(packages: string): string {
  return `
metadata:
  maintainer: Test <t@example.com>
  vendor: Test
  license: Apache Software License 2.0
  homepage: https://example.com
  arch: { rpm: x86_64, deb: amd64 }
packages:
${packages}`;
}

const kubelet = `
  - name: kubelet
    description: Kubernetes kubelet binary
    versioning: kismatic
    version: 1.7.4
    iteration: 1
    sources:
      - id: bin
        url: https://example.com/v{version}/kubelet
        sha256: ${SHA}
    files:
      - { from: bin, path: /usr/bin/kubelet, mode: "0755" }
`;

function problemsOf(text: string): string[] {
  try {
    parseManifest(text, 'test.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return [...(e as ManifestError).problems];
  }
  throw new Error('manifest was accepted');
}

describe('manifest validation', () => {
  test('a valid manifest resolves templates and versions', () => {
    const m = parseManifest(manifestText(kubelet), 'test.yaml');
    expect(m.packages[0].sources[0]).toMatchObject({
      url: 'https://example.com/v1.7.4/kubelet',
      checksum: { algorithm: 'sha256', hex: SHA },
    });
    expect(m.packages[0].rpm).toMatchObject({ evr: '1.7.4_1-1', fileName: 'kubelet-1.7.4_1-1.x86_64.rpm' });
    expect(m.packages[0].deb).toEqual({ version: '1.7.4-1', fileName: 'kubelet_1.7.4-1_amd64.deb' });
  });

  test('the error message names the file, the package and the field', () => {
    expect(() => parseManifest(manifestText(kubelet.replace('version: 1.7.4', 'version: 1.7.x')), 'release.yaml')).toThrow(
      /release\.yaml: invalid release manifest:\n {2}- package "kubelet": field "version" must be dotted numbers such as 1\.7\.4, got "1\.7\.x"/,
    );
  });

  test.each([
    ['unknown key', kubelet.replace('iteration: 1', 'iteration: 1\n    colour: blue'), 'package "kubelet": unknown key "colour"'],
    [
      'unknown key in a source',
      kubelet.replace(`sha256: ${SHA}`, `sha256: ${SHA}\n        mirror: x`),
      'package "kubelet": unknown key "sources[0].mirror"',
    ],
    [
      'missing checksum',
      kubelet.replace(`        sha256: ${SHA}\n`, ''),
      'package "kubelet": field "sources[0]" needs exactly one of sha256, sha512 or "unpinned: true"',
    ],
    [
      'two checksums',
      kubelet.replace(`sha256: ${SHA}`, `sha256: ${SHA}\n        unpinned: true`),
      'package "kubelet": field "sources[0]" needs exactly one of sha256, sha512 or "unpinned: true"',
    ],
    [
      'malformed sha256',
      kubelet.replace(SHA, 'abc123'),
      'package "kubelet": field "sources[0].sha256" must be 64 lowercase hexadecimal characters, got "abc123"',
    ],
    [
      'upper-case sha256',
      kubelet.replace(SHA, 'A'.repeat(64)),
      'package "kubelet": field "sources[0].sha256" must be 64 lowercase hexadecimal characters',
    ],
    [
      'malformed sha512',
      kubelet.replace(`sha256: ${SHA}`, `sha512: ${SHA}`),
      'package "kubelet": field "sources[0].sha512" must be 128 lowercase hexadecimal characters',
    ],
    [
      'malformed version',
      kubelet.replace('version: 1.7.4', 'version: v1.7.4'),
      'package "kubelet": field "version" must be dotted numbers such as 1.7.4, got "v1.7.4"',
    ],
    ['duplicate package name', kubelet + kubelet, 'package "kubelet": field "name" duplicates packages[0] (packages[1])'],
    [
      'missing iteration',
      kubelet.replace('    iteration: 1\n', ''),
      'package "kubelet": missing field "iteration" (required by versioning: kismatic)',
    ],
    [
      'unknown versioning',
      kubelet.replace('versioning: kismatic', 'versioning: semver'),
      'package "kubelet": field "versioning" must be one of kismatic, upstream, repackaged, got "semver"',
    ],
    [
      'unknown placeholder',
      kubelet.replace('v{version}', 'v{verison}'),
      'package "kubelet": field "sources[0].url" unknown placeholder {verison}',
    ],
    [
      'file from an unknown source',
      kubelet.replace('from: bin', 'from: binary'),
      'package "kubelet": field "files[0].from" names no source of this package: "binary"',
    ],
    ['bad mode', kubelet.replace('"0755"', '"rwx"'), 'package "kubelet": field "files[0].mode" must be an octal mode such as "0755"'],
    [
      'relative install path',
      kubelet.replace('/usr/bin/kubelet', 'usr/bin/kubelet'),
      'package "kubelet": field "files[0].path" must be an absolute file path',
    ],
    [
      'versionFrom an unknown package',
      kubelet.replace('version: 1.7.4', 'versionFrom: kubernetes'),
      'package "kubelet": field "versionFrom" names no package: "kubernetes"',
    ],
    [
      'version and versionFrom',
      kubelet.replace('version: 1.7.4', 'version: 1.7.4\n    versionFrom: kubelet'),
      'package "kubelet": needs exactly one of version or versionFrom',
    ],
    [
      'repackaged without rpmRelease',
      kubelet.replace('versioning: kismatic', 'versioning: repackaged').replace('    iteration: 1\n', '    debRevision: "0"\n'),
      'package "kubelet": missing field "rpmRelease" (required by versioning: repackaged)',
    ],
    ['a package that ships nothing', kubelet.replace(/ {4}files:\n.*\n/, ''), 'package "kubelet": ships nothing'],
    [
      'malformed image digest',
      kubelet.replace(
        '    files:',
        `    images:\n      - { name: pause, repository: gcr.io/google_containers/pause-amd64, tag: "3.0", digest: "sha256:abc" }\n    files:`,
      ),
      'package "kubelet": field "images[0].digest" must be "sha256:" followed by 64 lowercase hexadecimal characters',
    ],
  ])('%s', (_case, packages, expected) => {
    const problems = problemsOf(manifestText(packages));
    expect(problems.join('\n')).toContain(expected);
  });

  test('a duplicate YAML key is a syntax error, not a silent override', () => {
    expect(problemsOf(manifestText(kubelet.replace('iteration: 1', 'iteration: 1\n    iteration: 2')))[0]).toMatch(
      /^YAML syntax error at line 15, column 5: Map keys must be unique\n/,
    );
  });

  // The yaml library's message is "REASON at line L, column C:" then a code frame on the next
  // lines; only its first line was kept, which ended at the colon.
  test.each([
    [
      'a nested mapping in a compact one',
      'metadata:\n  vendor: Test\n  license: a: b\npackages: []\n',
      [
        'YAML syntax error at line 3, column 12: Nested mappings are not allowed in compact mappings',
        '    license: a: b',
        '             ^',
      ],
    ],
    [
      'a key over two lines',
      'metadata:\n  vendor\n  license: x\npackages: []\n',
      ['YAML syntax error at line 2, column 3: Implicit keys need to be on a single line', '  metadata:', '    vendor', '    ^'],
    ],
    [
      'an unclosed flow sequence',
      'metadata: [\n',
      [
        'YAML syntax error at line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
        '  metadata: [',
        '',
        '  ^',
      ],
    ],
  ])('a YAML syntax error (%s) names the file, line and column, the reason, and shows the line', (_case, text, lines) => {
    const error = (() => {
      try {
        parseManifest(text, 'release.yaml');
      } catch (e) {
        return e as ManifestError;
      }
      throw new Error('parsed');
    })();
    expect(error).toBeInstanceOf(ManifestError);
    expect(error.problems).toEqual([lines.join('\n')]);
    // Under its bullet, the frame indented below the first line.
    expect(error.message).toBe(
      `release.yaml: invalid release manifest:\n  - ${lines[0]}\n${lines
        .slice(1)
        .map((l) => (l ? `    ${l}` : l))
        .join('\n')}`,
    );
  });

  test('an alias without its anchor, or an alias bomb, is a YAML error, not a crash', () => {
    expect(problemsOf(manifestText(kubelet.replace('iteration: 1', 'iteration: *one')))).toEqual([
      'YAML error at line 14, column 16: Unresolved alias (the anchor must be set before the alias): one',
    ]);
    const bomb = `a: &a [1, 2]\nb: &b [${Array(10).fill('*a').join(', ')}]\nc: [${Array(10).fill('*b').join(', ')}]\n`;
    expect(problemsOf(`${manifestText(kubelet)}\n${bomb}`)).toEqual([
      'YAML error: Excessive alias count indicates a resource exhaustion attack',
    ]);
  });

  test('an unknown top-level key is named', () => {
    expect(problemsOf(`${manifestText(kubelet)}\nversion: 2\n`)).toContain('unknown key "version"');
  });

  test('all problems are reported at once', () => {
    const broken = kubelet.replace('version: 1.7.4', 'version: x').replace(SHA, 'y');
    expect(problemsOf(manifestText(broken))).toHaveLength(2);
  });
});

describe('pinning edits', () => {
  const text = `packages:
  # the bundle
  - name: kismatic-offline
    images:
      - { name: pause, repository: gcr.io/google_containers/pause-amd64, tag: "3.0", unpinned: true }  # keep me
`;
  const digest = `sha256:${'c'.repeat(64)}`;

  test('an image pin replaces unpinned in place, keeping comments and flow style', () => {
    const out = applyPins(
      text,
      [{ packageName: 'kismatic-offline', list: 'images', entry: 'pause', key: 'digest', value: digest }],
      'm.yaml',
    );
    expect(out).toContain(`tag: "3.0", digest: ${digest} }  # keep me`);
    expect(out).toContain('# the bundle');
  });

  test('an unknown image or an already pinned one is named', () => {
    expect(() =>
      applyPins(text, [{ packageName: 'kismatic-offline', list: 'images', entry: 'busybox', key: 'digest', value: digest }], 'm.yaml'),
    ).toThrow('m.yaml: package "kismatic-offline" has no image "busybox"');
    const pinned = applyPins(
      text,
      [{ packageName: 'kismatic-offline', list: 'images', entry: 'pause', key: 'digest', value: digest }],
      'm.yaml',
    );
    expect(() =>
      applyPins(pinned, [{ packageName: 'kismatic-offline', list: 'images', entry: 'pause', key: 'digest', value: digest }], 'm.yaml'),
    ).toThrow('image "pause" is not marked unpinned');
  });

  test('a manifest broken since it was loaded is a YAML syntax error naming the line, not a wrong edit', () => {
    const pin: ManifestPin = { packageName: 'kismatic-offline', list: 'images', entry: 'pause', key: 'digest', value: digest };
    expect(() => applyPins(`${text}oops: a: b\n`, [pin], 'm.yaml')).toThrow(
      new RegExp(
        `^m\\.yaml: YAML syntax error at line ${text.split('\n').length}, column 7: Nested mappings are not allowed in compact mappings\n  oops: a: b\n {8}\\^$`,
      ),
    );
  });

  test('pinning the committed release.yaml changes only the pinned lines, byte for byte', () => {
    const file = path.join(__dirname, '..', '..', 'release.yaml');
    const original = readFileSync(file, 'utf8');
    const manifest = parseManifest(original, file);
    const pins: ManifestPin[] = manifest.packages.flatMap((p) => [
      ...p.sources
        .filter((src) => src.checksum === undefined)
        .map((src) => ({ packageName: p.name, list: 'sources' as const, entry: src.id, key: 'sha256' as const, value: 'd'.repeat(64) })),
      ...p.images
        .filter((img) => img.digest === undefined)
        .map((img) => ({ packageName: p.name, list: 'images' as const, entry: img.name, key: 'digest' as const, value: digest })),
    ]);
    expect(pins.length).toBeGreaterThan(0);
    const before = original.split('\n');
    const after = applyPins(original, pins, 'release.yaml').split('\n');
    expect(after).toHaveLength(before.length);
    const changed = before.flatMap((line, i) => (line === after[i] ? [] : [i]));
    expect(changed).toHaveLength(pins.length);
    for (const i of changed) {
      // The pinned line differs only in `unpinned: true` becoming the pin.
      expect(after[i].replace(/(sha256: d{64}|digest: sha256:c{64})/, 'unpinned: true')).toBe(before[i]);
    }
  });
});

describe('file names in messages', () => {
  test('relative inside the current folder, absolute outside it (no ../ket-fixtures-XXXX/…)', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'ket-name-'));
    try {
      const outside = path.join(tmp, 'release.yaml');
      writeFileSync(outside, 'a: 1\n');
      expect(readYamlFile(outside, 'release manifest').name).toBe(outside);
      expect(readYamlFile(path.resolve('release.yaml'), 'release manifest').name).toBe('release.yaml');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
