import { readFile, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { loadManifest } from '../manifest/load';
import { readReleaseManifest, releaseFromManifest, ReleaseManifest } from '../release-manifest';
import { fetchVerifiedReleaseIndex, newestRelease, ReleaseIndex, unservedPackages } from '../release-manifest/repository';
import { UserError } from '../util/errors';
import { Logger, silentLogger } from '../util/log';
import { problemList } from '../util/problem-list';
import { editMakefile, editProvisionDoc, editReadmeComponents, MAKEFILE, PROVISION_MD, README_MD } from './docs';
import { KetFileError } from './errors';
import { editGroupVars, GROUP_VARS, RepositoryUrls } from './group-vars';
import { checkBundledImages } from './image-check';
import { editInstallCommands, PACKAGES_MD, PREPARE_GO, UrlChange } from './install-commands';
import { RepositorySource, resolveRepositoryUrls } from './repository';
import { checkRepositoryShapes } from './repository-shape';
import { editRuleSets, RULE_SET } from './rule-set';
import { ketValues, KetValues } from './values';
import { writeAllOrNothing } from './write';

export type { RepositorySource } from './repository';
export { StackRegionError } from './errors';
export type { RepositoryUrls } from './group-vars';

/**
 * The release to move KET to:
 * - manifest: a release.yaml (versions and KET mappings; no checksums);
 * - release-manifest: the build/release-manifest.json a build wrote (no build tools needed);
 * - repository: the newest release recorded in the repositories' release.json (needs a repository).
 */
export type ReleaseSource =
  | { readonly kind: 'manifest'; readonly file: string }
  | { readonly kind: 'release-manifest'; readonly file: string }
  | { readonly kind: 'repository' };

export interface ConsumeOptions {
  /** The KET checkout to edit. */
  readonly ketDir: string;
  readonly release: ReleaseSource;
  /** Where KET should install from; without it the repository URL lines are left alone. */
  readonly repository?: RepositorySource;
  /** Compute and return the diff, write nothing. */
  readonly dryRun?: boolean;
  readonly logger?: Logger;
}

export interface ConsumeResult {
  /** Unified diff of every change (a/FILE, b/FILE relative to the KET checkout); '' when none. */
  readonly diff: string;
  /** KET files (relative paths) whose content changes. */
  readonly changed: readonly string[];
  /** What was not done and why, for a person to look at: unfilled variables, images missing from the bundle, … */
  readonly findings: readonly string[];
  /** True when files were written (not a dry run, something changed). */
  readonly written: boolean;
  readonly release: ReleaseManifest;
  readonly urls?: RepositoryUrls;
}

/** Every KET file consume edits, relative to the checkout, in the order the diff shows them. */
export const KET_FILES = [GROUP_VARS, RULE_SET, PREPARE_GO, PACKAGES_MD, PROVISION_MD, README_MD, MAKEFILE] as const;

/**
 * Rewrites a KET checkout to a release: all.yaml's versions (and repository URLs), the
 * inspector's PackageDependency rules, the integration install commands, the docs, the README's
 * component table and the Makefile's tool versions. Nothing is written unless every file was
 * found, looked like KET's and could be edited; then all are replaced together.
 * With a repository, its release.json (signed by its public.key) must list every package
 * version written, or nothing is written.
 * @throws UserError (KetFileError for a file) before any write.
 */
export async function consumeRelease(opts: ConsumeOptions): Promise<ConsumeResult> {
  const logger = opts.logger ?? silentLogger;
  const findings: string[] = [];
  // path.resolve('') is the current folder: an empty --ket must not edit whatever is here.
  if (opts.ketDir.trim() === '') throw new UserError('the KET checkout folder is empty (""): name the folder of a KET checkout');
  const ketDir = path.resolve(opts.ketDir);

  // Read the checkout first: a wrong --ket fails before any network access.
  const originals = await readKetFiles(ketDir);

  let urls: RepositoryUrls | undefined;
  let indexes: { rpm: ReleaseIndex; deb: ReleaseIndex } | undefined;
  if (opts.repository) {
    const resolved = await resolveRepositoryUrls(opts.repository);
    urls = { rpm: resolved.rpm, deb: resolved.deb };
    logger.info(`repositories (from ${resolved.described}): RPM ${urls.rpm}, DEB ${urls.deb}`);
    await checkRepositoryShapes(urls);
    // Both checked, both reported: a fault in one repository does not hide the other's.
    const outcomes = await Promise.allSettled([
      fetchVerifiedReleaseIndex(urls.rpm, 'RPM repository'),
      fetchVerifiedReleaseIndex(urls.deb, 'DEB repository'),
    ]);
    const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
    if (failures.some((f) => !(f instanceof UserError))) throw failures.find((f) => !(f instanceof UserError));
    if (failures.length > 0) throw new UserError(failures.map((f) => f.message).join('\n'));
    const [rpm, deb] = outcomes.map((o) => (o as PromiseFulfilledResult<ReleaseIndex & { signer: string }>).value);
    // public.key comes from the same place as release.json: this catches partial tampering only.
    // The person should compare the fingerprint with the one the project publishes (README).
    logger.info(
      `release.json verified against each repository's public.key: RPM signed by ${rpm.signer}, DEB signed by ${deb.signer}; compare with the published fingerprint`,
    );
    if (rpm.signer !== deb.signer)
      findings.push(
        `the two repositories' release.json are signed by different keys (RPM ${rpm.signer}, DEB ${deb.signer}): publish signs both with one key; check both fingerprints before trusting them`,
      );
    indexes = { rpm, deb };
  } else {
    findings.push('no repository given: the repository URL lines are left as they are');
  }

  const release = await loadRelease(opts.release, indexes, urls, logger);
  if (indexes) assertServed(release, indexes, urls!);
  const values = ketValues(release);
  const direction = versionChange(originals.get(GROUP_VARS)!, values);
  if (direction) logger.info(`note: ${direction}`);

  const edited = editAll(originals, values, urls, findings);
  const changed = KET_FILES.filter((f) => edited.get(f) !== originals.get(f));
  const diff = changed
    .map((f) =>
      createTwoFilesPatch(`a/${f}`, `b/${f}`, originals.get(f)!, edited.get(f)!, '', '', { context: 3, headerOptions: FILE_HEADERS_ONLY }),
    )
    .join('');

  let written = false;
  if (!opts.dryRun && changed.length > 0) {
    await writeAllOrNothing(changed.map((f) => ({ path: path.join(ketDir, f), before: originals.get(f)!, after: edited.get(f)! })));
    written = true;
  }
  return { diff, changed, findings, written, release, urls };
}

/** The KET layout consume edits: apprenda/kismatic v1.5.x (the layout DESIGN.md §7 targets). */
export const SUPPORTED_KET_LAYOUT = 'KET v1.5.x (apprenda/kismatic tags v1.5.0 to v1.5.3)';

async function readKetFiles(ketDir: string): Promise<Map<string, string>> {
  const dirStat = await stat(ketDir).catch(() => undefined);
  if (!dirStat) throw new UserError(`the KET checkout folder ${ketDir} does not exist`);
  if (!dirStat.isDirectory()) throw new UserError(`the KET checkout ${ketDir} is not a folder`);
  const texts = new Map<string, string>();
  const missing: string[] = [];
  for (const f of KET_FILES) {
    try {
      texts.set(f, await readFile(path.join(ketDir, f), 'utf8'));
    } catch (e) {
      missing.push(`${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  if (missing.length === 0) return texts;
  const otherVersion = await otherKetLayout(ketDir);
  if (otherVersion)
    throw new UserError(
      `${ketDir} looks like a KET checkout of another version than consume supports (${otherVersion}); cannot read ${missing.join(', ')}. ` +
        `consume edits the layout of ${SUPPORTED_KET_LAYOUT}: check out the release branch or tag you are moving (e.g. git checkout v1.5.3)`,
    );
  throw new UserError(
    `${ketDir} is not a KET checkout, or not a complete one: cannot read ${missing.join(', ')}; expected the files of apprenda/kismatic ${SUPPORTED_KET_LAYOUT} (${KET_FILES.join(', ')})`,
  );
}

/** Signs of a KET checkout in a layout other than v1.5.x's, for the message; undefined when none. */
async function otherKetLayout(ketDir: string): Promise<string | undefined> {
  const has = async (f: string) => (await stat(path.join(ketDir, f)).catch(() => undefined)) !== undefined;
  const signs: string[] = [];
  // KET master (after v1.6) moved the integration tests to integration-tests/.
  if ((await has('integration-tests/prepare.go')) && !(await has(PREPARE_GO)))
    signs.push('integration-tests/prepare.go instead of integration/prepare.go, as on KET master');
  // KET v1.4.x has no docs/provision.md yet.
  if (!(await has(PROVISION_MD)) && (await has(PREPARE_GO))) signs.push('no docs/provision.md, as in KET v1.4.x');
  return signs.length > 0 ? signs.join('; ') : undefined;
}

async function loadRelease(
  source: ReleaseSource,
  indexes: { rpm: ReleaseIndex; deb: ReleaseIndex } | undefined,
  urls: RepositoryUrls | undefined,
  logger: Logger,
): Promise<ReleaseManifest> {
  switch (source.kind) {
    case 'manifest':
      return releaseFromManifest(loadManifest(source.file));
    case 'release-manifest':
      return readReleaseManifest(source.file);
    case 'repository': {
      if (!indexes) throw new UserError('the release is to come from the repository, but no repository was given');
      const newest = newestRelease(indexes.rpm);
      if (!newest) throw new UserError('the RPM repository release.json records no release yet');
      const { publishedAt, ...release } = newest;
      logger.info(
        `release: the newest entry of ${urls?.rpm}/release.json (${release.manifest}, published ${publishedAt}, entry ${indexes.rpm.releases.length} of ${indexes.rpm.releases.length})`,
      );
      return release;
    }
  }
}

/**
 * "downgrade from X to Y" (or upgrade) when the release moves all.yaml's kubernetes_version
 * backwards (forwards); undefined when it stays or either side is unknown. Versions compare
 * numerically, part by part (v1.7.10 is after v1.7.9).
 */
export function versionChange(groupVars: string, values: KetValues): string | undefined {
  const from = /^kubernetes_version:[ \t]*["']?([^"'\s#]+)/m.exec(groupVars)?.[1];
  const to = values.variables.get('kubernetes_version')?.value;
  if (!from || !to || from === to) return undefined;
  const parts = (v: string) =>
    v
      .replace(/^v/, '')
      .split(/[.-]/)
      .map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const [a, b] = [parts(from), parts(to)];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === undefined || (b[i] !== undefined && a[i] < b[i])) return `upgrade from Kubernetes ${from} to ${to}`;
    return `downgrade from Kubernetes ${from} to ${to}`;
  }
  return undefined;
}

function assertServed(release: ReleaseManifest, indexes: { rpm: ReleaseIndex; deb: ReleaseIndex }, urls: RepositoryUrls): void {
  const problems = [
    ...unservedPackages(release, indexes.rpm, 'rpm').map(
      (p) => `${p.rpm.fileName} (${p.name} ${p.rpm.version}) is not served by ${urls.rpm}`,
    ),
    ...unservedPackages(release, indexes.deb, 'deb').map(
      (p) => `${p.deb.fileName} (${p.name} ${p.deb.version}) is not served by ${urls.deb}`,
    ),
  ];
  if (problems.length > 0)
    throw new UserError(
      `${release.manifest}: the repositories do not serve this release (per their signed release.json); nothing written:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
}

/** Runs every file's editor; refusals from all files are collected and reported together. */
function editAll(
  originals: ReadonlyMap<string, string>,
  values: KetValues,
  urls: RepositoryUrls | undefined,
  findings: string[],
): Map<string, string> {
  const edited = new Map<string, string>();
  const refusals: KetFileError[] = [];
  const attempt = (file: string, fn: (text: string) => { text: string; findings: string[] }) => {
    try {
      const r = fn(originals.get(file)!);
      edited.set(file, r.text);
      findings.push(...r.findings);
    } catch (e) {
      if (!(e instanceof KetFileError)) throw e;
      refusals.push(e);
    }
  };
  let urlChange: UrlChange | undefined;
  let variables: ReadonlyMap<string, string> | undefined;
  attempt(GROUP_VARS, (text) => {
    const r = editGroupVars(text, values, urls);
    if (urls) urlChange = { from: r.previousUrls, to: urls };
    variables = r.variables;
    return r;
  });
  attempt(RULE_SET, (text) => editRuleSets(text, values));
  attempt(PREPARE_GO, (text) => editInstallCommands(text, PREPARE_GO, values, urlChange));
  attempt(PACKAGES_MD, (text) => editInstallCommands(text, PACKAGES_MD, values, urlChange));
  attempt(PROVISION_MD, (text) => editProvisionDoc(text, values));
  attempt(README_MD, (text) => editReadmeComponents(text, values));
  attempt(MAKEFILE, (text) => editMakefile(text, values));
  if (refusals.length > 0)
    throw new UserError(`the KET checkout does not look as expected; nothing written:\n${problemList(refusals.map((r) => r.message))}`);
  if (variables) findings.push(...checkBundledImages(variables, values));
  return edited;
}
