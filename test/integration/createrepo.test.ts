import { link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseRepomd, REPODATA_TYPES, repodataEntries, RepodataType, verifyListedChecksum } from '../../lib/publish/metadata';
import { appendToRepodata, PublishedRepodataFile, publishedRepodataFile } from '../../lib/publish/repodata-append';
import { CREATEREPO_FORMAT } from '../../lib/publish/rpm';
import { run } from '../../lib/util/exec';
import { buildRpms } from '../support/packages';

/**
 * Publish adds packages to a yum repository by appending the published entries to createrepo_c's
 * entries for the new packages and letting modifyrepo_c write repomd.xml
 * (lib/publish/repodata-append). Here it is compared with what createrepo_c itself makes of the
 * same input, `--update --skip-stat --recycle-pkglist --pkglist NEW` over the old repodata alone
 * (the way publish ran it before), with createrepo_c 0.17 as Debian 12 and Ubuntu 22.04 ship it.
 */
describe('published repodata plus new packages: appended as createrepo_c --update would write it (integration)', () => {
  let dir: string;
  let rpms: Record<string, string>;
  let oldRepodata: string;
  const location = (file: string) => `packages/${path.basename(file)}`;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-createrepo-test-'));
    const built = await buildRpms(path.join(dir, 'rpms'), [
      { name: 'mid-one', version: '1.0' },
      { name: 'mid-two', version: '1.0' },
      { name: 'zz-new', version: '1.0' },
      { name: 'aa-new', version: '2.0' },
    ]);
    rpms = Object.fromEntries(built.map((f) => [path.basename(f).replace(/-\d.*$/, ''), f]));
    // The published repository: metadata of the two old packages.
    const repo = path.join(dir, 'published');
    await createrepo(repo, [rpms['mid-one'], rpms['mid-two']], []);
    oldRepodata = path.join(repo, 'repodata');
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** createrepo_c on `listed` (linked into REPO/packages) with extra arguments, as publish runs it. */
  async function createrepo(repo: string, listed: string[], extra: string[]): Promise<void> {
    await mkdir(path.join(repo, 'packages'), { recursive: true });
    for (const f of listed) await symlink(f, path.join(repo, location(f)));
    await writeFile(`${repo}.pkglist`, listed.map(location).join('\n') + '\n');
    await run('createrepo_c', ['--quiet', ...CREATEREPO_FORMAT, ...extra, '--pkglist', `${repo}.pkglist`, repo]);
  }

  /** createrepo_c --update over a hard-linked copy of the old repodata (createrepo_c replaces files, never writes into them). */
  async function withUpdate(name: string, fresh: string[]): Promise<string> {
    const repo = path.join(dir, name);
    await mkdir(path.join(repo, 'repodata'), { recursive: true });
    for (const f of await readdir(oldRepodata)) await link(path.join(oldRepodata, f), path.join(repo, 'repodata', f));
    await createrepo(repo, fresh, ['--update', '--skip-stat', '--recycle-pkglist']);
    return path.join(repo, 'repodata');
  }

  /** What publish does: createrepo_c on the new packages alone, then the published entries appended. */
  async function appended(name: string, fresh: string[]): Promise<string> {
    const repo = path.join(dir, name);
    await createrepo(repo, fresh, []);
    const published = {} as Record<RepodataType, PublishedRepodataFile>;
    for (const e of parseRepomd(await readFile(path.join(oldRepodata, 'repomd.xml'), 'utf8')))
      if ((REPODATA_TYPES as readonly string[]).includes(e.type))
        published[e.type as RepodataType] = publishedRepodataFile(e.type as RepodataType, {
          href: e.href,
          xml: gunzipSync(await readFile(path.join(oldRepodata, '..', e.href))),
        });
    await mkdir(`${repo}-scratch`);
    await appendToRepodata(path.join(repo, 'repodata'), published, `${repo}-scratch`, name);
    return path.join(repo, 'repodata');
  }

  /**
   * Each file repomd.xml lists, checked against its checksum, size and open-checksum, with its
   * package entries (each element's bytes) and its prologue.
   */
  async function readRepodata(repodata: string) {
    const listed = parseRepomd(await readFile(path.join(repodata, 'repomd.xml'), 'utf8'));
    const out: Record<string, { file: string; entries: string[]; prologue: string; xml: Buffer }> = {};
    for (const e of listed) {
      const gz = await readFile(path.join(repodata, '..', e.href));
      verifyListedChecksum(e, gz);
      expect(e.size).toBe(gz.length);
      const xml = gunzipSync(gz);
      const entries: string[] = [];
      const { prologue } = repodataEntries(xml, e.href, e.type as RepodataType, (start, end) =>
        entries.push(xml.toString('utf8', start, end)),
      );
      out[e.type] = { file: path.basename(e.href), entries, prologue, xml };
    }
    const repomd = await readFile(path.join(repodata, 'repomd.xml'), 'utf8');
    for (const e of listed)
      expect(repomd).toMatch(new RegExp(`<data type="${e.type}">[^]*?<open-checksum type="sha256">[0-9a-f]{64}</open-checksum>`));
    return out;
  }

  test('new packages whose names sort after the published ones: the same files, byte for byte', async () => {
    const reference = await readRepodata(await withUpdate('update-after', [rpms['zz-new']]));
    const ours = await readRepodata(await appended('append-after', [rpms['zz-new']]));
    expect(Object.keys(ours).sort()).toEqual([...REPODATA_TYPES].sort());
    expect(Object.keys(reference).sort()).toEqual([...REPODATA_TYPES].sort());
    for (const type of REPODATA_TYPES) {
      // Checksum-prefixed names: the same name is the same compressed bytes.
      expect(ours[type].file).toBe(reference[type].file);
      expect(ours[type].entries).toHaveLength(3);
    }
  }, 60_000);

  test('new packages sorting before and after: the same entries and counts (only their order differs)', async () => {
    const fresh = [rpms['aa-new'], rpms['zz-new']];
    const reference = await readRepodata(await withUpdate('update-both', fresh));
    const ours = await readRepodata(await appended('append-both', fresh));
    const old = await readRepodata(oldRepodata);
    for (const type of REPODATA_TYPES) {
      expect(ours[type].prologue).toBe(reference[type].prologue);
      expect(ours[type].prologue).toContain('packages="4"');
      expect([...ours[type].entries].sort()).toEqual([...reference[type].entries].sort());
      // The published entries first, exactly as they were.
      expect(ours[type].entries.slice(0, 2)).toEqual(old[type].entries);
    }
  }, 60_000);

  test('published files that count different numbers of packages, or a work folder the batch file cannot name, are refused', async () => {
    const repo = path.join(dir, 'mismatch');
    await createrepo(repo, [rpms['zz-new']], []);
    const old = await readRepodata(oldRepodata);
    const published = Object.fromEntries(
      REPODATA_TYPES.map((t) => [t, publishedRepodataFile(t, { href: old[t].file, xml: old[t].xml })]),
    ) as Record<RepodataType, PublishedRepodataFile>;
    const other = await readRepodata(path.join(repo, 'repodata'));
    await mkdir(`${repo}-scratch`);
    await expect(
      appendToRepodata(
        path.join(repo, 'repodata'),
        { ...published, other: publishedRepodataFile('other', { href: 'x-other.xml.gz', xml: other.other.xml }) },
        `${repo}-scratch`,
        'rpm-test',
      ),
    ).rejects.toThrow(
      /^rpm-test: the published primary \(2\), filelists \(2\), other \(1\) files count different numbers of packages; the repository is damaged$/,
    );
    // A work folder the batch file cannot name is refused before modifyrepo_c runs.
    await expect(appendToRepodata(path.join(repo, 'repodata'), published, `${repo}-scratch\\x`, 'rpm-test')).rejects.toThrow(
      /^rpm-test: the work folder .* holds a backslash or a line break, which modifyrepo_c's batch file cannot name$/,
    );
  }, 60_000);
});
