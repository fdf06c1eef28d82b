import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, writeFile, unlink } from 'node:fs/promises';
import { writeAllOrNothing } from '../../lib/consume/write';
import { UserError } from '../../lib/util/errors';
import * as os from 'node:os';
import * as path from 'node:path';
import { consumeRelease, KET_FILES, ReleaseSource, versionChange } from '../../lib/consume';
import { editGroupVars } from '../../lib/consume/group-vars';
import { findRuleSets, missedRules, packageRules } from '../../lib/consume/rule-set';
import { parse, Scalar } from 'yaml';
import { normalizeRepository } from '../../lib/consume/image-check';
import { splitLines, joinLines, encodeScalar } from '../../lib/consume/text';
import { ketValues, KetValues } from '../../lib/consume/values';
import { loadManifest } from '../../lib/manifest/load';
import { urlsFromStackOutputs } from '../../lib/consume/repository';
import { ReleaseManifest, releaseFromManifest } from '../../lib/release-manifest';
import {
  fixtureRelease,
  ketFixtureFiles,
  RELEASE_A,
  RELEASE_B,
  snapshot,
  writeKetFixture,
  FixtureVersions,
  EolStyle,
} from '../support/ket-fixture';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ket-consume-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setUp(from: FixtureVersions, eol: EolStyle = 'lf'): Promise<string> {
  const ket = path.join(dir, 'ket');
  await writeKetFixture(ket, ketFixtureFiles(from, eol));
  return ket;
}

async function releaseFile(release: ReleaseManifest): Promise<ReleaseSource> {
  const file = path.join(dir, `release-${release.manifest}.json`);
  await writeFile(file, JSON.stringify(release));
  return { kind: 'release-manifest', file };
}

async function expectFiles(ket: string, expected: Record<string, string>): Promise<void> {
  for (const f of KET_FILES) expect({ f, text: await readFile(path.join(ket, f), 'utf8') }).toEqual({ f, text: expected[f] });
}

describe('consume: moving a KET-shaped checkout to a release', () => {
  test.each([
    ['upgrade', RELEASE_A, RELEASE_B],
    ['downgrade', RELEASE_B, RELEASE_A],
  ])('%s rewrites exactly the intended lines; a second run changes nothing', async (_name, from, to) => {
    const ket = await setUp(from);
    const release = await releaseFile(fixtureRelease(to));
    const first = await consumeRelease({ ketDir: ket, release });
    expect(first.written).toBe(true);
    expect([...first.changed].sort()).toEqual([...KET_FILES].sort());
    await expectFiles(ket, ketFixtureFiles(to));
    expect(first.diff).toContain('--- a/ansible/group_vars/all.yaml');
    expect(first.diff).toContain(`-kubernetes_version: v${from.k8s}`);
    expect(first.diff).toContain(`+kubernetes_version: v${to.k8s}`);

    const before = await snapshot(ket);
    const second = await consumeRelease({ ketDir: ket, release });
    expect(second).toMatchObject({ changed: [], diff: '', written: false });
    expect(await snapshot(ket)).toEqual(before);
  });

  test('reports what the release cannot fill and the images the bundle lacks, never guessing', async () => {
    const ket = await setUp(RELEASE_A);
    const { findings } = await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_B)) });
    expect(findings).toEqual(
      expect.arrayContaining([
        'no repository given: the repository URL lines are left as they are',
        expect.stringMatching(/all\.yaml: flannel_version \(v0\.9\.0\) is not set by the release/),
        expect.stringMatching(/flannel_orig_img is quay\.io\/coreos\/flannel:v0\.9\.0, which kismatic-offline does not contain/),
        expect.stringMatching(/README\.md: component "Calico" \(v2\.3\.0\) is not named by the release/),
      ]),
    );
    // storage_server_version is no version variable of ours (no _yum/_apt/_deb, no image tag): silent.
    expect(findings.join('\n')).not.toMatch(/storage_server_version/);
    // Every other *_orig_img is in the bundle at the new tags.
    expect(findings.filter((f) => f.includes('_orig_img'))).toHaveLength(1);
  });

  test('mixed \\r\\n and \\n line endings survive, line by line', async () => {
    const ket = await setUp(RELEASE_A, 'mixed');
    await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_B)) });
    await expectFiles(ket, ketFixtureFiles(RELEASE_B, 'mixed'));
  });

  test('--dry-run returns the diff and writes nothing', async () => {
    const ket = await setUp(RELEASE_A);
    const before = await snapshot(ket);
    const result = await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_B)), dryRun: true });
    expect(result.written).toBe(false);
    expect(result.changed.length).toBe(KET_FILES.length);
    expect(result.diff).toMatch(/^\+HELM_VERSION = v2\.6\.0$/m);
    expect(await snapshot(ket)).toEqual(before);
  });

  test('the rule sets inside rule_set.go still parse as YAML, every entry of ours at the new version', async () => {
    const ket = await setUp(RELEASE_A);
    await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_B)) });
    const go = await readFile(path.join(ket, 'pkg/inspector/rule/rule_set.go'), 'utf8');
    const sets = findRuleSets(go);
    expect(sets.map((s) => s.name)).toEqual(['defaultRuleSet', 'upgradeRuleSet']);
    const seen: string[] = [];
    for (const s of sets) {
      const rules = parse(go.slice(s.start, s.end)) as Array<Record<string, unknown>>;
      expect(Array.isArray(rules)).toBe(true);
      for (const r of rules.filter((x) => x.kind === 'PackageDependency' && x.packageVersion !== undefined)) {
        const when = r.when as string[];
        const rpm = when.includes('centos') || when.includes('rhel');
        const expected: Record<string, string> = rpm
          ? { etcd: '3.1.11-1', kubelet: '1.7.4_1-1', 'docker-engine': RELEASE_B.docker.rpm, 'storage-server': '3.8.7-1.el7' }
          : {
              etcd: '3.1.11',
              kubectl: '1.7.4-1',
              kubelet: '1.7.4-1',
              'kismatic-offline': '1.7.4-1',
              'docker-engine': RELEASE_B.docker.deb,
            };
        expect({ s: s.name, r }).toEqual({ s: s.name, r: expect.objectContaining({ packageVersion: expected[r.packageName as string] }) });
        seen.push(`${s.name}/${r.packageName}/${when.join(',')}`);
      }
      // The library's own reader sees the same rules.
      expect(packageRules(go, s).length).toBeGreaterThan(0);
    }
    expect(seen).toHaveLength(10);
  });
});

describe('consume refuses, naming the file and what it expected, and leaves every file untouched', () => {
  const cases: Array<[string, (ket: string) => Promise<void>, RegExp]> = [
    [
      'a missing file',
      (ket) => unlink(path.join(ket, 'Makefile')),
      /is not a KET checkout, or not a complete one: cannot read Makefile \(ENOENT\)/,
    ],
    [
      'a KET v1.4.x-shaped checkout (no docs/provision.md)',
      (ket) => unlink(path.join(ket, 'docs/provision.md')),
      /looks like a KET checkout of another version than consume supports \(no docs\/provision\.md, as in KET v1\.4\.x\); cannot read docs\/provision\.md \(ENOENT\)\. consume edits the layout of KET v1\.5\.x .*check out the release branch or tag/,
    ],
    [
      'a KET master-shaped checkout (integration-tests/prepare.go)',
      async (ket) => {
        await mkdir(path.join(ket, 'integration-tests'));
        await rename(path.join(ket, 'integration/prepare.go'), path.join(ket, 'integration-tests/prepare.go'));
      },
      /another version than consume supports \(integration-tests\/prepare\.go instead of integration\/prepare\.go, as on KET master\).*KET v1\.5\.x/,
    ],
    [
      'all.yaml without kubernetes_version',
      (ket) => edit(ket, 'ansible/group_vars/all.yaml', (t) => t.replace('kubernetes_version:', 'k8s_version:')),
      /ansible\/group_vars\/all\.yaml: expected a top-level "kubernetes_version:" variable/,
    ],
    [
      'all.yaml that is not YAML',
      (ket) => edit(ket, 'ansible/group_vars/all.yaml', (t) => `${t}broken: "unterminated\n`),
      /ansible\/group_vars\/all\.yaml: is not valid YAML at line \d+, column \d+: Missing closing "quote\n {6}broken: "unterminated\n/,
    ],
    [
      'rule_set.go without the upgrade rule set',
      (ket) => edit(ket, 'pkg/inspector/rule/rule_set.go', (t) => t.replace('const upgradeRuleSet', 'const otherRules')),
      /rule_set\.go: expected the rule set constant "const upgradeRuleSet = `"/,
    ],
    [
      'a rule set whose YAML does not parse',
      (ket) => edit(ket, 'pkg/inspector/rule/rule_set.go', (t) => t.replace('  packageName: curl', '  packageName: [curl')),
      /rule_set\.go: the YAML of defaultRuleSet does not parse, at line \d+, column \d+: .+\n {6}.*packageName: \[curl\n/,
    ],
    [
      'prepare.go without install commands',
      (ket) => edit(ket, 'integration/prepare.go', (t) => t.replace(/install/g, 'fetch')),
      /integration\/prepare\.go: expected yum\/apt install commands/,
    ],
    [
      'provision.md without package lines',
      (ket) => edit(ket, 'docs/provision.md', (t) => t.replace(/Kismatic package of/g, 'Package')),
      /docs\/provision\.md: expected the "Kismatic package of COMPONENT VERSION" lines/,
    ],
    [
      'README without the components table',
      (ket) => edit(ket, 'README.md', (t) => t.replace('| Component | Version |', '| Part | Release |')),
      /README\.md: expected the "\| Component \| Version \|" table/,
    ],
    [
      'Makefile without the tool versions',
      (ket) => edit(ket, 'Makefile', (t) => t.replace(/_VERSION =/g, '_VER =')),
      /Makefile: expected assignments of KUBECTL_VERSION, HELM_VERSION/,
    ],
  ];
  test.each(cases)('%s', async (_name, breakIt, message) => {
    const ket = await setUp(RELEASE_A);
    await breakIt(ket);
    const before = await snapshot(ket);
    const release = await releaseFile(fixtureRelease(RELEASE_B));
    await expect(consumeRelease({ ketDir: ket, release })).rejects.toThrow(message);
    expect(await snapshot(ket)).toEqual(before);
  });

  test('a YAML error in a KET file names its line and column in that file, the reason and the line', () => {
    const files = ketFixtureFiles(RELEASE_A);
    const all = `${files['ansible/group_vars/all.yaml']}broken: a: b\n`;
    const allLine = all.split('\n').length - 1;
    expect(() => editGroupVars(all, ketValues(fixtureRelease(RELEASE_B)), undefined)).toThrow(
      `ansible/group_vars/all.yaml: is not valid YAML at line ${allLine}, column 9: Nested mappings are not allowed in compact mappings\n  broken: a: b\n          ^`,
    );
    // The rule set is YAML inside a Go raw string: the position is the Go file's.
    const go = files['pkg/inspector/rule/rule_set.go'].replace('  packageName: curl', '  packageName: curl: x');
    const goLine = go.split('\n').findIndex((l) => l === '  packageName: curl: x') + 1;
    const set = findRuleSets(go)[0];
    expect(() => packageRules(go, set)).toThrow(
      `pkg/inspector/rule/rule_set.go: the YAML of defaultRuleSet does not parse, at line ${goLine}, column 16: Nested mappings are not allowed in compact mappings\n    packageName: curl: x\n                 ^`,
    );
    // On the raw string's first line (after the backquote) the column is the Go file's too.
    const first = 'const defaultRuleSet = `a: b: c\n`\nconst upgradeRuleSet = `[]`\n';
    expect(() => packageRules(first, findRuleSets(first)[0])).toThrow(
      'the YAML of defaultRuleSet does not parse, at line 1, column 28: Nested mappings are not allowed in compact mappings\n  a: b: c\n     ^',
    );
  });

  test('several broken files are reported together', async () => {
    const ket = await setUp(RELEASE_A);
    await edit(ket, 'README.md', (t) => t.replace('| Component | Version |', '| Part | Release |'));
    await edit(ket, 'Makefile', (t) => t.replace(/_VERSION =/g, '_VER ='));
    const before = await snapshot(ket);
    const err = await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_B)) }).catch((e: Error) => e);
    expect(String(err)).toMatch(/README\.md: expected[\s\S]*Makefile: expected/);
    expect(await snapshot(ket)).toEqual(before);
  });

  test('a release naming one KET value twice with different values', async () => {
    const ket = await setUp(RELEASE_A);
    const release = fixtureRelease(RELEASE_B);
    const offline = release.packages.find((p) => p.name === 'kismatic-offline')!;
    const images = [
      ...offline.images!,
      { name: 'calico-2', repository: 'calico/node', tag: 'v9', ket: { variables: { calico_node_version: 'v9' } } },
    ];
    const conflicting = { ...release, packages: release.packages.map((p) => (p === offline ? { ...p, images } : p)) };
    const before = await snapshot(ket);
    await expect(consumeRelease({ ketDir: ket, release: await releaseFile(conflicting) })).rejects.toThrow(
      /ket\.variables\.calico_node_version: image "calico" of kismatic-offline says "v2\.0\.0", image "calico-2" of kismatic-offline says "v9"/,
    );
    expect(await snapshot(ket)).toEqual(before);
  });

  test('a release manifest that is not one', async () => {
    const ket = await setUp(RELEASE_A);
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ schemaVersion: 1, manifest: 'x', packages: [{ name: 'kubelet' }] }));
    const before = await snapshot(ket);
    await expect(consumeRelease({ ketDir: ket, release: { kind: 'release-manifest', file } })).rejects.toThrow(
      /bad\.json: not a release manifest:[\s\S]*field "packages\.0" must have required property 'version'/,
    );
    expect(await snapshot(ket)).toEqual(before);
  });
});

describe('consume building blocks', () => {
  test('URL lines: live ones change, commented test-repository lines stay comments', () => {
    const text = ketFixtureFiles(RELEASE_A)['ansible/group_vars/all.yaml'];
    const r = editGroupVars(text, ketValues(fixtureRelease(RELEASE_A)), {
      rpm: 'https://new-rpm.example.invalid',
      deb: 'https://new-deb.example.invalid',
    });
    expect(r.text).toContain('yum_repository_url: https://new-rpm.example.invalid\n');
    expect(r.text).toContain('yum_gpg_key_url: https://new-rpm.example.invalid/public.key\n');
    expect(r.text).toContain('deb_gpg_key_url: https://new-deb.example.invalid/public.key\n');
    expect(r.text).toContain('# yum_repository_url: https://rpm-test.example.invalid\n');
    expect(r.previousUrls).toEqual({ rpm: 'https://rpm.example.invalid', deb: 'https://deb.example.invalid' });
    expect(text.split('\n').length).toBe(r.text.split('\n').length);
  });

  test('scalars keep their quoting; a plain value YAML would not read as a string is quoted', () => {
    expect(encodeScalar('1.14.4', 'QUOTE_DOUBLE')).toBe('"1.14.4"');
    expect(encodeScalar("it's", 'QUOTE_SINGLE')).toBe("'it''s'");
    expect(encodeScalar('v1.7.4', 'PLAIN')).toBe('v1.7.4');
    expect(encodeScalar('3.0', 'PLAIN')).toBe('"3.0"');
    expect(encodeScalar('yes', 'PLAIN')).toBe('"yes"');
    expect(encodeScalar('a: b', 'PLAIN')).toBe('"a: b"');
  });

  test('lines keep their own endings', () => {
    const text = 'a\r\nb\nc';
    expect(splitLines(text)).toEqual([
      { text: 'a', eol: '\r\n' },
      { text: 'b', eol: '\n' },
      { text: 'c', eol: '' },
    ]);
    expect(joinLines(splitLines(text))).toBe(text);
    expect(joinLines(splitLines('x\n\n'))).toBe('x\n\n');
  });

  test('Docker Hub short names equal their long forms', () => {
    expect(normalizeRepository('busybox')).toBe('docker.io/library/busybox');
    expect(normalizeRepository('calico/node')).toBe('docker.io/calico/node');
    expect(normalizeRepository('docker.io/calico/node')).toBe('docker.io/calico/node');
    expect(normalizeRepository('gcr.io/google_containers/pause-amd64')).toBe('gcr.io/google_containers/pause-amd64');
  });

  test('repository URLs from the stack outputs, by repository name', () => {
    const outputs = ['production', 'staging'].flatMap((name) => {
      const P = name[0].toUpperCase() + name.slice(1);
      return [
        { OutputKey: `${P}RpmBaseUrl`, OutputValue: `https://${name}-rpm.cloudfront.example`, Description: `${name}: yum/dnf baseurl` },
        { OutputKey: `${P}DebBaseUrl`, OutputValue: `https://${name}-deb.cloudfront.example/`, Description: `${name}: apt repository URL` },
      ];
    });
    expect(urlsFromStackOutputs(outputs, 'staging', 'KetPackages-Repositories')).toEqual({
      rpm: 'https://staging-rpm.cloudfront.example',
      deb: 'https://staging-deb.cloudfront.example',
    });
    expect(() => urlsFromStackOutputs(outputs, 'qa', 'KetPackages-Repositories')).toThrow(
      'stack KetPackages-Repositories has no repository "qa" (RpmBaseUrl/DebBaseUrl outputs); it has: production, staging',
    );
  });
});

async function edit(ket: string, file: string, fn: (text: string) => string): Promise<void> {
  const p = path.join(ket, file);
  await writeFile(p, fn(await readFile(p, 'utf8')));
}

describe('writing all files or none: file-system faults are UserErrors naming the file', () => {
  const plan = (file: string, before: string, after: string) => ({ path: path.join(dir, file), before, after });

  test('a temporary file that cannot be written: nothing written, the file named', async () => {
    await writeFile(path.join(dir, 'a'), 'old a');
    await writeFile(path.join(dir, 'b'), 'old b');
    // A leftover at the temporary name: a real EEXIST from the file system.
    await mkdir(path.join(dir, `.b.ket-consume-${process.pid}`));
    const err = await writeAllOrNothing([plan('a', 'old a', 'new a'), plan('b', 'old b', 'new b')]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /\/b: cannot write its new content to the temporary file .*\.b\.ket-consume-\d+ \(EEXIST.*nothing was written/,
    );
    expect(await readFile(path.join(dir, 'a'), 'utf8')).toBe('old a');
    expect(await readdir(dir)).toEqual(expect.not.arrayContaining([`.a.ket-consume-${process.pid}`]));
  });

  test('a rename failing after another succeeded: every file restored, said so', async () => {
    await writeFile(path.join(dir, 'a'), 'old a');
    await mkdir(path.join(dir, 'b')); // rename(file, directory) fails: EISDIR
    await writeFile(path.join(dir, 'b', 'x'), '');
    const err = await writeAllOrNothing([plan('a', 'old a', 'new a'), plan('b', 'old b', 'new b')]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(
      /\/b: cannot replace it \((EISDIR|ENOTEMPTY|EEXIST).*every file was restored, nothing was written/,
    );
    expect(await readFile(path.join(dir, 'a'), 'utf8')).toBe('old a');
  });

  test('a failing restore is reported, naming which files are changed and which not', async () => {
    await writeFile(path.join(dir, 'a'), 'old a');
    await writeFile(path.join(dir, 'c'), 'old c');
    await mkdir(path.join(dir, 'b'));
    await writeFile(path.join(dir, 'b', 'x'), '');
    await mkdir(path.join(dir, `.a.ket-restore-${process.pid}`)); // the restore of a cannot create its temporary file
    const err = await writeAllOrNothing([plan('a', 'old a', 'new a'), plan('b', 'old b', 'new b'), plan('c', 'old c', 'new c')]).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(UserError);
    const m = (err as Error).message;
    expect(m).toMatch(/\/a: restoring it failed \(EEXIST/);
    expect(m).toMatch(new RegExp(`now CHANGED \\(new content\\): ${path.join(dir, 'a')}\\n`));
    expect(m).toMatch(new RegExp(`unchanged \\(old content\\): ${path.join(dir, 'b')}, ${path.join(dir, 'c')}`));
    expect(await readFile(path.join(dir, 'a'), 'utf8')).toBe('new a');
    expect(await readFile(path.join(dir, 'c'), 'utf8')).toBe('old c');
  });

  test('a read-only file is refused, naming it; nothing written (even as root)', async () => {
    await writeFile(path.join(dir, 'a'), 'old a');
    await writeFile(path.join(dir, 'b'), 'old b');
    await chmod(path.join(dir, 'b'), 0o444);
    const err = await writeAllOrNothing([plan('a', 'old a', 'new a'), plan('b', 'old b', 'new b')]).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/nothing was written:\n {2}- .*\/b is read-only \(mode 0444\)/);
    expect(await readFile(path.join(dir, 'a'), 'utf8')).toBe('old a');
  });

  test('a symlink is written through (it stays a link); mode, owner and group are kept', async () => {
    await mkdir(path.join(dir, 'elsewhere'));
    await writeFile(path.join(dir, 'elsewhere', 'real'), 'old a');
    await symlink(path.join('elsewhere', 'real'), path.join(dir, 'a'));
    await writeFile(path.join(dir, 'b'), 'old b');
    await chmod(path.join(dir, 'b'), 0o640);
    const foreign = process.getuid?.() === 0;
    if (foreign) await chown(path.join(dir, 'b'), 65534, 65534);
    await writeAllOrNothing([plan('a', 'old a', 'new a'), plan('b', 'old b', 'new b')]);
    expect((await lstat(path.join(dir, 'a'))).isSymbolicLink()).toBe(true);
    expect(await readFile(path.join(dir, 'elsewhere', 'real'), 'utf8')).toBe('new a');
    const b = await stat(path.join(dir, 'b'));
    expect(b.mode & 0o7777).toBe(0o640);
    if (foreign) expect([b.uid, b.gid]).toEqual([65534, 65534]);
    expect(await readFile(path.join(dir, 'b'), 'utf8')).toBe('new b');
  });
});

test.each([
  ['', /the KET checkout folder is empty \(""\)/],
  ['/nonexistent/ket-checkout', /the KET checkout folder \/nonexistent\/ket-checkout does not exist/],
])('--ket %j: says the folder is empty or does not exist', async (ketDir, message) => {
  await expect(consumeRelease({ ketDir, release: { kind: 'manifest', file: 'release.yaml' } })).rejects.toThrow(message);
});

describe('rule sets: what the version edit may have missed is reported', () => {
  const findingsFor = async (breakIt: (t: string) => string) => {
    const ket = await setUp(RELEASE_A);
    await edit(ket, 'pkg/inspector/rule/rule_set.go', breakIt);
    return (await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_B)), dryRun: true })).findings;
  };

  test('a packageName close to one of ours (kubelett) is named, not edited', async () => {
    const findings = await findingsFor((t) => t.replace('  packageName: kubelet\n', '  packageName: kubelett\n'));
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /defaultRuleSet has a PackageDependency for "kubelett" \(when \["master","rhel"\]\), close to our package "kubelet"/,
        ),
      ]),
    );
  });

  test('an expected (package, platform) rule missing from one rule set is reported for that rule set', async () => {
    const intact = await findingsFor((t) => t);
    expect(intact.join('\n')).not.toMatch(/upgradeRuleSet has no versioned PackageDependency rule for [^\n]*kubelet on ubuntu/);
    const findings = await findingsFor((t) => t.replace('  when: ["ingress", "ubuntu"]', '  when: ["ingress", "debian"]'));
    expect(findings.join('\n')).toMatch(/upgradeRuleSet has no versioned PackageDependency rule for [^\n]*kubelet on ubuntu/);
  });

  test('a complete rule set reports nothing missing', () => {
    const values = ketValues(fixtureRelease(RELEASE_B));
    const rules = (platforms: string[]) =>
      [...values.packages.keys()].flatMap((packageName) =>
        platforms.map((p) => ({ packageName, when: ['master', p], version: new Scalar('1') })),
      );
    expect(missedRules([{ name: 'defaultRuleSet', rules: rules(['centos', 'rhel', 'ubuntu']) }], values)).toEqual([]);
    expect(missedRules([{ name: 'defaultRuleSet', rules: rules(['centos', 'ubuntu']) }], values)).toEqual([
      expect.stringMatching(/defaultRuleSet has no versioned PackageDependency rule for \w[\w-]* on rhel, /),
    ]);
  });
});

test('a move to an older Kubernetes is noted as a downgrade (versions compare part by part)', async () => {
  const ket = await setUp(RELEASE_B);
  const said: string[] = [];
  const logger = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m) };
  await consumeRelease({ ketDir: ket, release: await releaseFile(fixtureRelease(RELEASE_A)), dryRun: true, logger });
  expect(said).toContain('note: downgrade from Kubernetes v1.7.4 to v1.7.3');
  const values = (k8s: string) => ({ variables: new Map([['kubernetes_version', { value: k8s, from: 'test' }]]) }) as unknown as KetValues;
  expect(versionChange('kubernetes_version: v1.7.9\n', values('v1.7.10'))).toBe('upgrade from Kubernetes v1.7.9 to v1.7.10');
  expect(versionChange('kubernetes_version: "v1.8.0"\n', values('v1.7.10'))).toBe('downgrade from Kubernetes v1.8.0 to v1.7.10');
  expect(versionChange('kubernetes_version: v1.7.4\n', values('v1.7.4'))).toBeUndefined();
});

test("the release manifest records the release.yaml's file name, not the path it was given as", () => {
  const release = releaseFromManifest(loadManifest(path.relative(process.cwd(), path.join(__dirname, '..', '..', 'release.yaml'))));
  expect(release.manifest).toBe('release.yaml');
});
