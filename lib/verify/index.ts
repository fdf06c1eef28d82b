import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { APT_REPOSITORY } from '../release/apt-layout';
import { parseDebianStanzas, rpmEvr } from '../publish/metadata';
import { ScratchKeyring } from '../publish/sign';
import { UserError } from '../util/errors';
import { run, RunResult, ToolError } from '../util/exec';
import { Logger } from '../util/log';
import { aptReason, clientFailure, curlReason, dnfReason } from './failure';

/**
 * Verifies published repositories the way clusters use them: real dnf (gpgcheck=1,
 * repo_gpgcheck=1) and real apt-get (signed-by) in throwaway roots, so nothing on this machine's
 * own package configuration is read or changed.
 */
export interface ExpectedPackage {
  readonly name: string;
  /** RPM: version-release (as `dnf install NAME-VERSION` takes it); DEB: the Version. */
  readonly version: string;
}

export interface VerifyOptions {
  readonly rpmUrl: string;
  readonly debUrl: string;
  readonly rpm: readonly ExpectedPackage[];
  readonly deb: readonly ExpectedPackage[];
  readonly logger: Logger;
}

export interface ListedPackage {
  readonly name: string;
  readonly version: string;
}

/** What is missing from a listing: each expected name at its exact version. */
export function missingPackages(expected: readonly ExpectedPackage[], listed: readonly ListedPackage[]): ExpectedPackage[] {
  const have = new Set(listed.map((p) => `${p.name}\u0000${p.version}`));
  return expected.filter((p) => !have.has(`${p.name}\u0000${p.version}`));
}

/** Query format of full EVRs: the epoch separately, so 2:1.0-1 and 1.0-1 differ (%{evr} hides a 0 epoch only). */
export const REPOQUERY_FORMAT = '%{name}\\t%{epoch}\\t%{version}\\t%{release}';

/** `dnf repoquery --qf REPOQUERY_FORMAT` lines, as name and full EVR ([epoch:]version-release, epoch 0 omitted as RPM does). */
export function parseRepoquery(stdout: string): ListedPackage[] {
  return stdout
    .split('\n')
    .map((l) => l.trim().split('\t'))
    .filter((f) => f.length >= 2 && f[0])
    .map((f) => (f.length >= 4 ? { name: f[0], version: rpmEvr(f[1], f[2], f[3]) } : { name: f[0], version: f[1] }));
}

/**
 * What a repository serves beyond the release: packages of the release's names at other versions
 * (older releases: information) and packages of names the release does not know (strays: warnings,
 * since a repository never deletes and a stray is served forever).
 */
export function unexpectedPackages(
  expected: readonly ExpectedPackage[],
  listed: readonly ListedPackage[],
): { otherVersions: ListedPackage[]; strays: ListedPackage[] } {
  const names = new Set(expected.map((p) => p.name));
  const exact = new Set(expected.map((p) => `${p.name}\u0000${p.version}`));
  const unique = [...new Map(listed.map((l) => [`${l.name}\u0000${l.version}`, l])).values()];
  return {
    otherVersions: unique.filter((l) => names.has(l.name) && !exact.has(`${l.name}\u0000${l.version}`)),
    strays: unique.filter((l) => !names.has(l.name)),
  };
}

/**
 * How many of the expected packages (the release manifest's; a clone's, the source repository's)
 * a listing has at their exact versions, for the log: "N of M expected package(s) listed at their
 * exact versions". Only those count: other versions of them and strays (names not expected) are
 * reported on their own lines (reportUnexpected), the missing ones as problems.
 */
export function listingSummary(expected: readonly ExpectedPackage[], listed: readonly ListedPackage[]): string {
  const found = expected.length - missingPackages(expected, listed).length;
  return `${found} of ${expected.length} expected package(s) listed at their exact versions`;
}

function reportUnexpected(repo: string, expected: readonly ExpectedPackage[], listed: readonly ListedPackage[], logger: Logger): void {
  const { otherVersions, strays } = unexpectedPackages(expected, listed);
  if (otherVersions.length)
    logger.info(
      `${repo}: also serves other versions of the release's packages: ${otherVersions.map((l) => `${l.name} ${l.version}`).join(', ')}`,
    );
  for (const l of strays)
    logger.warn(`${repo}: serves ${l.name} ${l.version}, which the release manifest does not name (a stray: it stays published)`);
}

/** `apt-cache madison` lines: "name | version | url dist/comp arch Packages". */
export function parseMadison(stdout: string): ListedPackage[] {
  return stdout
    .split('\n')
    .map((l) => l.split('|').map((f) => f.trim()))
    .filter((f) => f.length >= 3 && f[0])
    .map(([name, version]) => ({ name, version }));
}

/** Package and Version of each stanza of a Packages index. */
function parsePackagesIndex(text: string): ListedPackage[] {
  return parseDebianStanzas(text)
    .filter((f) => f.Package && f.Version)
    .map((f) => ({ name: f.Package, version: f.Version }));
}

function trimUrl(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * dnf confined to a throwaway folder and one repository, with every check on: gpgcheck and
 * repo_gpgcheck against the repository's own public.key. Nothing of this machine's own package
 * configuration is read or changed. The one way this project runs dnf (verify, and the tests that
 * install packages).
 */
export interface ScratchDnf {
  /** The throwaway folder (removed by dispose); callers may keep their own files in it. */
  readonly root: string;
  /** Where `dnf install` installs (ROOT/installroot): `rpm --root` reads what it holds. */
  readonly installroot: string;
  /**
   * Runs dnf with these arguments (e.g. ['install', 'kubelet']); a ToolError naming `what` when it
   * fails. `quiet: false` drops -q (only then does dnf list each download error under its summary).
   */
  run(args: readonly string[], what: string, opts?: { quiet?: boolean }): Promise<RunResult>;
  /** Removes the folder. */
  dispose(): Promise<void>;
}

/** A ScratchDnf for the repository at `url` (its repodata/ and public.key are read from there). */
export async function openScratchDnf(url: string): Promise<ScratchDnf> {
  const base = trimUrl(url);
  const root = await mkdtemp(path.join(os.tmpdir(), 'ket-dnf-'));
  try {
    await mkdir(path.join(root, 'repos'));
    // Our own dnf.conf: Debian's sets skip_if_unavailable=True, which turns a bad signature into
    // an empty repository instead of an error.
    await writeFile(
      path.join(root, 'dnf.conf'),
      '[main]\ngpgcheck=1\nrepo_gpgcheck=1\nlocalpkg_gpgcheck=1\nskip_if_unavailable=False\ninstall_weak_deps=0\n',
    );
    await writeFile(
      path.join(root, 'repos', 'ket-verify.repo'),
      [
        '[ket-verify]',
        'name=KET packages under verification',
        `baseurl=${base}/`,
        'enabled=1',
        'gpgcheck=1',
        'repo_gpgcheck=1',
        `gpgkey=${base}/public.key`,
        'metadata_expire=0',
        '',
      ].join('\n'),
    );
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
  const installroot = path.join(root, 'installroot');
  return {
    root,
    installroot,
    run: (args, what, opts = {}) =>
      run(
        'dnf',
        [
          '-y',
          ...(opts.quiet === false ? [] : ['-q']),
          `--config=${root}/dnf.conf`,
          `--installroot=${installroot}`,
          `--setopt=reposdir=${root}/repos`,
          `--setopt=cachedir=${root}/cache`,
          '--setopt=skip_if_unavailable=False',
          '--releasever=7',
          '--disablerepo=*',
          '--enablerepo=ket-verify',
          ...args,
        ],
        { what },
      ),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * Checks a yum repository with real dnf (repo_gpgcheck, gpgcheck) and rpmkeys in a throwaway root.
 * @param url base URL (where repodata/ and public.key are)
 * @returns the problems found, none when every expected package is listed, downloads and carries
 *   the repository key's signature. A client failure is one line naming the repository and the
 *   client's reason, with its last output lines indented below (lib/verify/failure).
 */
export async function verifyRpmRepository(url: string, expected: readonly ExpectedPackage[], logger: Logger): Promise<string[]> {
  const base = trimUrl(url);
  const scratch = await openScratchDnf(base);
  const root = scratch.root;
  const problems: string[] = [];
  try {
    // makecache runs without -q: only then does dnf list each download error (URL and curl
    // error or HTTP status) under its summary, which is the reason a failure reports.
    const dnf = (args: string[], what: string, quiet = true) => scratch.run(args, `dnf ${what} (${base})`, { quiet });
    try {
      await dnf(['makecache'], 'makecache with repo_gpgcheck', false);
    } catch (e) {
      return [clientFailure(`RPM repository ${base}: dnf rejects the repository metadata`, e, dnfReason)];
    }
    let listed: ListedPackage[];
    try {
      listed = parseRepoquery((await dnf(['repoquery', '--available', '--qf', REPOQUERY_FORMAT], 'repoquery')).stdout);
    } catch (e) {
      return [clientFailure(`RPM repository ${base}: dnf cannot list the packages`, e, dnfReason)];
    }
    logger.info(`dnf: ${base} metadata signature OK, ${listingSummary(expected, listed)}`);
    reportUnexpected(`RPM repository ${base}`, expected, listed, logger);
    const missing = missingPackages(expected, listed);
    for (const p of missing)
      problems.push(
        `RPM repository ${base}: ${p.name}-${p.version} is not listed (listed versions of ${p.name}: ${
          listed
            .filter((l) => l.name === p.name)
            .map((l) => l.version)
            .join(', ') || 'none'
        })`,
      );
    const present = expected.filter((p) => !missing.includes(p));
    if (present.length) {
      const dest = path.join(root, 'download');
      await mkdir(dest);
      try {
        await dnf(['download', `--destdir=${dest}`, ...present.map((p) => `${p.name}-${p.version}`)], 'download');
      } catch (e) {
        problems.push(clientFailure(`RPM repository ${base}: cannot download packages`, e, dnfReason));
        return problems;
      }
      // rpm checks each package's signature against the repository's own public key.
      const dbpath = path.join(root, 'rpmdb');
      await mkdir(dbpath);
      const keyFile = path.join(root, 'public.key');
      try {
        await run('curl', ['-fsS', '-o', keyFile, `${base}/public.key`], { what: `fetching ${base}/public.key` });
      } catch (e) {
        problems.push(clientFailure(`RPM repository ${base}: cannot fetch public.key`, e, curlReason));
        return problems;
      }
      // public.key may hold several keys (a rotated repository keeps the old one); rpmkeys
      // imports only the first key of an armored block, so each is imported on its own.
      const keyring = await ScratchKeyring.create(path.join(root, 'keyrings'));
      try {
        await keyring.import(await readFile(keyFile, 'utf8'), `${base}/public.key`);
        for (const [i, k] of (await keyring.exportEach()).entries()) {
          await writeFile(`${keyFile}.${i}`, k);
          await run('rpmkeys', ['--dbpath', dbpath, '--import', `${keyFile}.${i}`], {
            what: 'importing the repository key into a throwaway rpm database',
          });
        }
      } finally {
        await keyring.dispose();
      }
      for (const f of (await readdir(dest)).filter((n) => n.endsWith('.rpm')).sort()) {
        try {
          const { stdout } = await run(
            'rpmkeys',
            ['--dbpath', dbpath, '--define', '__gpg /usr/bin/gpg', '--checksig', '-v', path.join(dest, f)],
            { what: `checking ${f}` },
          );
          if (!/Header V4 RSA\/SHA256 Signature, key ID [0-9a-f]+: OK/i.test(stdout) && !/Signature, key ID [0-9a-f]+: OK/.test(stdout)) {
            problems.push(`RPM repository ${base}: ${f} carries no signature by the repository key:\n${stdout.trim()}`);
          }
        } catch (e) {
          problems.push(clientFailure(`RPM repository ${base}: ${f}: signature check failed`, e, () => undefined));
        }
      }
      logger.info(`dnf: downloaded and signature-checked ${present.length} package(s)`);
    }
    return problems;
  } finally {
    await scratch.dispose();
  }
}

/**
 * apt-get confined to a throwaway folder and one repository: sources.list names only that
 * repository, signed-by its own public.key (fetched when the ScratchApt is opened). Nothing of
 * this machine's own package configuration is read or changed. The one way this project runs
 * apt-get (verify, and the tests that install packages).
 */
export interface ScratchApt {
  /** The throwaway folder (apt's Dir; removed by dispose); callers may keep their own files in it. */
  readonly root: string;
  /**
   * Runs apt-get with apt's options, then `extraOptions` (e.g. DPkg::Options for an install),
   * then these arguments; a ToolError naming `what` when it fails.
   */
  run(args: readonly string[], what: string, opts?: { extraOptions?: readonly string[]; cwd?: string }): Promise<RunResult>;
  /** Removes the folder. */
  dispose(): Promise<void>;
}

/**
 * A ScratchApt for the repository at `url`, suite `distribution`. Throws a ToolError naming
 * URL/public.key when the key cannot be fetched.
 */
export async function openScratchApt(url: string, distribution: string = APT_REPOSITORY.distribution): Promise<ScratchApt> {
  const base = trimUrl(url);
  const root = await mkdtemp(path.join(os.tmpdir(), 'ket-apt-'));
  try {
    for (const d of [
      'etc/apt/preferences.d',
      'etc/apt/apt.conf.d',
      'var/lib/apt/lists/partial',
      'var/cache/apt/archives/partial',
      'var/lib/dpkg',
    ]) {
      await mkdir(path.join(root, d), { recursive: true });
    }
    await writeFile(path.join(root, 'var/lib/dpkg/status'), '');
    const keyFile = path.join(root, 'repo-key.asc');
    await run('curl', ['-fsS', '-o', keyFile, `${base}/public.key`], { what: `fetching ${base}/public.key` });
    await writeFile(
      path.join(root, 'etc/apt/sources.list'),
      `deb [arch=${APT_REPOSITORY.architecture} signed-by=${keyFile}] ${base} ${distribution} ${APT_REPOSITORY.component}\n`,
    );
  } catch (e) {
    await rm(root, { recursive: true, force: true });
    throw e;
  }
  const o = (name: string, value: string) => ['-o', `${name}=${value}`];
  const options = [
    ...o('Dir', root),
    ...o('Dir::State::status', `${root}/var/lib/dpkg/status`),
    ...o('Dir::Etc::sourceparts', '-'),
    ...o('APT::Architecture', APT_REPOSITORY.architecture),
    ...o('APT::Architectures', APT_REPOSITORY.architecture),
    ...o('APT::Sandbox::User', 'root'),
    ...o('Debug::NoLocking', '1'),
    ...o('Acquire::Languages', 'none'),
    ...o('Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled', 'false'),
    // Plain Packages files in lists/ (verify reads them): hosts such as Docker images set GzipIndexes/lz4.
    ...o('Acquire::GzipIndexes', 'false'),
  ];
  return {
    root,
    run: (args, what, opts = {}) => run('apt-get', [...options, ...(opts.extraOptions ?? []), ...args], { what, cwd: opts.cwd }),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * Checks an apt repository with real apt-get (signed-by the repository's public.key) in a
 * throwaway root; problems are reported as verifyRpmRepository reports them.
 */
export async function verifyDebRepository(
  url: string,
  expected: readonly ExpectedPackage[],
  logger: Logger,
  distribution: string = APT_REPOSITORY.distribution,
): Promise<string[]> {
  const base = trimUrl(url);
  let apt: ScratchApt;
  try {
    apt = await openScratchApt(base, distribution);
  } catch (e) {
    if (!(e instanceof ToolError)) throw e;
    return [clientFailure(`DEB repository ${base}: no public.key`, e, curlReason)];
  }
  const root = apt.root;
  const problems: string[] = [];
  try {
    await mkdir(path.join(root, 'download'));
    try {
      const { stdout, stderr } = await apt.run(['-q', 'update'], `apt-get update (${base})`);
      // apt-get update exits 0 after some failures; these lines mean the repository was not accepted.
      const bad = `${stdout}\n${stderr}`.split('\n').filter((l) => /^(E:|W:.*(GPG|signature|not signed|Failed to fetch))/i.test(l.trim()));
      if (bad.length) {
        const reason = `DEB repository ${base}: apt-get update does not accept the repository: ${aptReason(bad.join('\n')) ?? bad[0].trim()}`;
        // One line is the reason itself; more go indented below it, as clientFailure does.
        if (bad.length === 1) return [reason];
        return [[reason, '    apt-get (exit 0), its errors and warnings:', ...bad.map((l) => `      ${l.trim()}`)].join('\n')];
      }
    } catch (e) {
      return [clientFailure(`DEB repository ${base}: apt-get update rejects the repository`, e, aptReason)];
    }
    // Every version the repository lists: the Packages indexes apt-get update fetched and checked
    // against the signed InRelease (apt-cache madison and dumpavail show only what they are asked or the candidate).
    const listsDir = path.join(root, 'var/lib/apt/lists');
    const indexes = (await readdir(listsDir)).filter((f) => f.endsWith('_Packages'));
    const listed = (await Promise.all(indexes.map(async (f) => parsePackagesIndex(await readFile(path.join(listsDir, f), 'utf8'))))).flat();
    logger.info(`apt-get: ${base} ${distribution} accepted (InRelease signature OK), ${listingSummary(expected, listed)}`);
    reportUnexpected(`DEB repository ${base}`, expected, listed, logger);
    const missing = missingPackages(expected, listed);
    for (const p of missing)
      problems.push(
        `DEB repository ${base}: ${p.name}=${p.version} is not listed (listed versions of ${p.name}: ${
          listed
            .filter((l) => l.name === p.name)
            .map((l) => l.version)
            .join(', ') || 'none'
        })`,
      );
    const present = expected.filter((p) => !missing.includes(p));
    if (present.length) {
      try {
        // apt-get download checks each file against the signed index's SHA256.
        await apt.run(['-q', 'download', ...present.map((p) => `${p.name}=${p.version}`)], 'apt-get download', {
          cwd: path.join(root, 'download'),
        });
        logger.info(`apt-get: downloaded ${present.length} package(s), hashes match the signed index`);
      } catch (e) {
        problems.push(clientFailure(`DEB repository ${base}: cannot download packages`, e, aptReason));
      }
    }
    return problems;
  } finally {
    await apt.dispose();
  }
}

/** Both checks; @throws UserError listing every problem of both repositories. */
export async function verifyRepositories(opts: VerifyOptions): Promise<void> {
  const problems = [
    ...(await verifyRpmRepository(opts.rpmUrl, opts.rpm, opts.logger)),
    ...(await verifyDebRepository(opts.debUrl, opts.deb, opts.logger)),
  ];
  if (problems.length) throw new UserError(`verify found ${problems.length} problem(s):\n${problems.map((p) => `- ${p}`).join('\n')}`);
  opts.logger.info(
    `verify: OK (${opts.rpm.length} RPM and ${opts.deb.length} DEB package(s) listed at their exact versions, downloadable, signatures valid)`,
  );
}
