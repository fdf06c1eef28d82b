import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fetchToFile } from '../download/fetch';
import { APT_REPOSITORY } from '../release/apt-layout';
import { UserError } from '../util/errors';
import { RepositoryUrls } from './group-vars';

/** What a yum repository of ours serves at its base URL (publish writes both). */
export const RPM_REPOSITORY_FILES = ['repodata/repomd.xml', 'kismatic.repo'] as const;
/** What an apt repository of ours serves at its base URL: the suite's signed Release (lib/release/apt-layout). */
export const DEB_REPOSITORY_FILES = [`dists/${APT_REPOSITORY.distribution}/InRelease`] as const;

/**
 * Checks that each URL is the kind of repository it is given as, before anything is written:
 * the RPM URL serves repodata/repomd.xml (a `<repomd` document) and kismatic.repo, the DEB URL
 * serves dists/SUITE/InRelease (a clear-signed Release). A URL that serves the other kind's
 * files is reported as swapped.
 * @throws UserError naming each URL, the file expected and what came back (HTTP status, wrong content).
 */
export async function checkRepositoryShapes(urls: RepositoryUrls): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ket-consume-shape-'));
  try {
    const probe = async (base: string, file: string): Promise<string | undefined> => {
      const dest = path.join(dir, `${Math.random().toString(36).slice(2)}`);
      try {
        await fetchToFile(`${base}/${file}`, dest, { what: `${base}/${file}`, maxRedirects: 5, idleTimeoutMs: 30_000 });
      } catch (e) {
        return (e as Error).message;
      }
      const text = await readFile(dest, 'utf8');
      if (file.endsWith('repomd.xml') && !text.includes('<repomd')) return `${base}/${file} is not repodata (no <repomd> element)`;
      if (file.endsWith('InRelease') && !text.startsWith('-----BEGIN PGP SIGNED MESSAGE-----'))
        return `${base}/${file} is not a clear-signed Release file`;
      return undefined;
    };
    const check = async (what: string, base: string, files: readonly string[], other: readonly string[], otherKind: string) => {
      const problems = (await Promise.all(files.map((f) => probe(base, f)))).filter((p): p is string => p !== undefined);
      if (problems.length === 0) return [];
      const swapped = (await Promise.all(other.map((f) => probe(base, f)))).every((p) => p === undefined);
      return [
        `${what} ${base}: expected ${files.map((f) => `${base}/${f}`).join(' and ')}, but ${problems.join('; ')}` +
          (swapped ? ` (it serves ${other.join(' and ')}: that is ${otherKind}; are the two URLs swapped?)` : ''),
      ];
    };
    const problems = [
      ...(await check('RPM repository URL', urls.rpm, RPM_REPOSITORY_FILES, DEB_REPOSITORY_FILES, 'an apt (DEB) repository')),
      ...(await check('DEB repository URL', urls.deb, DEB_REPOSITORY_FILES, RPM_REPOSITORY_FILES, 'a yum (RPM) repository')),
    ];
    if (problems.length > 0)
      throw new UserError(
        `the repositories are not what they are given as; nothing written:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
