import { createHash } from 'node:crypto';
import { cp, link, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parsePrimaryXml } from '../../lib/publish/metadata';
import { CREATEREPO_FORMAT } from '../../lib/publish/rpm';
import { run } from '../../lib/util/exec';
import { buildRpms } from '../support/packages';

/**
 * What publish relies on in createrepo_c (0.17, as Debian 12 and Ubuntu 22.04 ship it), run the
 * way lib/publish/rpm.ts runs it: `--update --skip-stat --recycle-pkglist --pkglist LIST` over
 * the old repodata alone (the old RPMs are not on disk), the new RPMs as symbolic links.
 */
describe('createrepo_c --update --skip-stat --recycle-pkglist --pkglist (integration)', () => {
  let dir: string;
  let rpms: string[];
  let oldRepodata: string;
  const location = (file: string) => `packages/${path.basename(file)}`;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-createrepo-test-'));
    rpms = await buildRpms(path.join(dir, 'rpms'), [
      { name: 'old-one', version: '1.0' },
      { name: 'old-two', version: '1.0' },
      { name: 'new-one', version: '1.0' },
    ]);
    // The published repository: metadata of the two old packages.
    const repo = path.join(dir, 'published');
    await mkdir(path.join(repo, 'packages'), { recursive: true });
    for (const f of rpms.slice(0, 2)) await symlink(f, path.join(repo, location(f)));
    await writeFile(path.join(dir, 'published.pkglist'), rpms.slice(0, 2).map(location).join('\n') + '\n');
    await run('createrepo_c', ['--quiet', ...CREATEREPO_FORMAT, '--pkglist', path.join(dir, 'published.pkglist'), repo]);
    oldRepodata = path.join(repo, 'repodata');
  }, 120_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A copy of the old repodata as hard links (as publish makes it), the given RPMs linked in, createrepo_c run on `listed`. */
  async function update(name: string, onDisk: string[], listed: string[]): Promise<string> {
    const repo = path.join(dir, name);
    await mkdir(path.join(repo, 'repodata'), { recursive: true });
    await mkdir(path.join(repo, 'packages'));
    for (const f of await readdir(oldRepodata)) await link(path.join(oldRepodata, f), path.join(repo, 'repodata', f));
    for (const f of onDisk) await symlink(f, path.join(repo, location(f)));
    await writeFile(`${repo}.pkglist`, listed.map(location).join('\n') + '\n');
    await run('createrepo_c', [
      '--quiet',
      ...CREATEREPO_FORMAT,
      ...['--update', '--skip-stat', '--recycle-pkglist', '--pkglist', `${repo}.pkglist`, repo],
    ]);
    return repo;
  }

  async function primaryOf(repodata: string): Promise<{ xml: string; entries: Array<{ location: string; sha256: string }> }> {
    const file = (await readdir(repodata)).find((f) => f.endsWith('-primary.xml.gz'))!;
    const gz = await readFile(path.join(repodata, file));
    const xml = gunzipSync(gz).toString('utf8');
    const entries = (await parsePrimaryXml(gz, file)).map((p) => ({ location: p.location, sha256: p.sha256 }));
    return { xml, entries };
  }

  /** The <package> element of `loc`, as written (every field: checksum, times, sizes, files). */
  const entryXml = (xml: string, loc: string) => {
    const end = xml.indexOf('</package>', xml.indexOf(`<location href="${loc}"/>`));
    return xml.slice(xml.lastIndexOf('<package ', end), end);
  };

  const sha256 = async (f: string) =>
    createHash('sha256')
      .update(await readFile(f))
      .digest('hex');

  test('a package list of new packages only: the old entries are kept exactly as they were, the new one added once', async () => {
    const before = await primaryOf(oldRepodata);
    const oldBytes = await Promise.all((await readdir(oldRepodata)).map((f) => sha256(path.join(oldRepodata, f))));
    const repo = await update('new-only', [rpms[2]], [rpms[2]]);
    const after = await primaryOf(path.join(repo, 'repodata'));
    expect(after.entries.map((e) => e.location).sort()).toEqual(rpms.map(location).sort());
    for (const f of rpms.slice(0, 2)) expect(entryXml(after.xml, location(f))).toBe(entryXml(before.xml, location(f)));
    expect(after.entries.find((e) => e.location === location(rpms[2]))!.sha256).toBe(await sha256(rpms[2]));
    // The old files it started from (hard links) are replaced, never written into: a second run
    // can start from them again.
    expect(await Promise.all((await readdir(oldRepodata)).map((f) => sha256(path.join(oldRepodata, f))))).toEqual(oldBytes);
  }, 60_000);

  // Why publish never lists a package the old metadata may hold (rpm.ts, speculativePackages).
  test('a package list naming a package the old metadata already lists (its file on disk): createrepo_c lists it twice', async () => {
    const repo = await update('relisted', [rpms[0], rpms[2]], [rpms[0], rpms[2]]);
    const { entries } = await primaryOf(path.join(repo, 'repodata'));
    expect(entries.filter((e) => e.location === location(rpms[0]))).toHaveLength(2);
    expect(entries).toHaveLength(4);
  }, 60_000);

  test('the same with other bytes under that name: both entries, the old and the other', async () => {
    const other = path.join(dir, 'other', path.basename(rpms[0]));
    await mkdir(path.dirname(other), { recursive: true });
    // Same file name, other bytes: another build of the same package (here: another package's bytes).
    await cp(rpms[1], other);
    const repo = await update('conflicting', [other], [other]);
    const { entries } = await primaryOf(path.join(repo, 'repodata'));
    expect(
      entries
        .filter((e) => e.location === location(rpms[0]))
        .map((e) => e.sha256)
        .sort(),
    ).toEqual([await sha256(rpms[0]), await sha256(rpms[1])].sort());
  }, 60_000);
});
