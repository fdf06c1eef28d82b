import { existsSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSigningKey, SigningKey, SigningKeyOptions } from '../signing/keyring';
import { bucketNameProblem } from '../util/bucket-name';
import { UserError } from '../util/errors';
import { removeTree } from '../util/folder';
import { Logger, timed } from '../util/log';
import { Cleanup } from './cleanup';
import { parseS3Url } from './s3-url';
import type { PublishResult } from './repository';
import { assertSigningKeyAcceptable } from './sign';
import { readBuildPackages, ReleaseContents } from './validate';
import { releaseOfBuild } from '../release-manifest';

export type { PublishResult } from './repository';
export type { ReleaseContents } from './validate';

export interface PublishOptions {
  /** Bucket of the yum repository. */
  readonly rpmRepo: string;
  /** Bucket of the apt repository. */
  readonly debRepo: string;
  /** Build output: FROM/rpms/*.rpm and FROM/debs/*.deb. */
  readonly from: string;
  /** s3://BUCKET/PREFIX: private place for the repository locks. */
  readonly stateUrl: string;
  /** Public URL of the yum repository, written into kismatic.repo (default: the bucket's URL). */
  readonly rpmBaseUrl?: string;
  readonly signingKey: SigningKeyOptions;
  /** Environment for the S3 endpoint and credentials (AWS_*); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly lockTtlMs?: number;
  readonly lockWaitMs?: number;
  /** Publish although the repositories' metadata is signed by another key (a deliberate rotation). */
  readonly allowKeyChange?: boolean;
  /**
   * What the release contains: a package of the build outside it is refused (a stray). A promise
   * (e.g. a release manifest still being read) is awaited where the strays are checked, while the
   * key opens and the locks are taken; its rejection is the publish's error, before any write.
   */
  readonly release: ReleaseContents | Promise<ReleaseContents>;
  /** Publish packages the release does not name (never in pipelines: strays are served forever). */
  readonly allowStrays?: boolean;
  /** Aborting stops the publish before its next write and cleans up its secrets at once. */
  readonly signal?: AbortSignal;
  /**
   * What the user called the repository options, so messages name what they typed, e.g.
   * `{ stateUrl: '--state-url' }` or `{ stateUrl: 'KET_STATE_URL' }`.
   * @default the field names ('rpmRepo', 'debRepo', 'stateUrl')
   */
  readonly labels?: PublishLabels;
}

export type PublishLabels = Partial<Record<'rpmRepo' | 'debRepo' | 'stateUrl', string>>;

export interface PublishSummary {
  readonly rpm: PublishResult;
  readonly deb: PublishResult;
  readonly rpmUrl: string;
  readonly debUrl: string;
}

/** Option problems, named by label (the field name by default); none means the options are usable. */
export function optionProblems(opts: Pick<PublishOptions, 'rpmRepo' | 'debRepo' | 'stateUrl' | 'labels'>): string[] {
  const problems: string[] = [];
  const label = labelOf(opts);
  for (const [field, value] of [
    ['rpmRepo', opts.rpmRepo],
    ['debRepo', opts.debRepo],
  ] as const) {
    const problem = value ? bucketNameProblem(value) : 'the bucket of the repository is required';
    if (problem) problems.push(`${label(field)}: ${problem}`);
  }
  if (opts.rpmRepo && opts.rpmRepo === opts.debRepo)
    problems.push(`${label('rpmRepo')} and ${label('debRepo')} must be different buckets (both are '${opts.rpmRepo}')`);
  if (!opts.stateUrl)
    problems.push(`${label('stateUrl')}: s3://BUCKET/PREFIX is required: a private place for the repository locks, never served publicly`);
  else {
    try {
      const state = parseS3Url(opts.stateUrl, label('stateUrl'));
      if (state.bucket === opts.rpmRepo || state.bucket === opts.debRepo)
        problems.push(`${label('stateUrl')} must not be a repository bucket (it is private; '${state.bucket}' is served to clients)`);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

function labelOf(opts: Pick<PublishOptions, 'labels'>): (field: keyof PublishLabels) => string {
  return (field) => opts.labels?.[field] ?? field;
}

/**
 * Publishes a build into the yum and apt repositories. Every check of both repositories runs
 * before the first write of either (inputs, strays, RPM signatures, conflicts, epochs, the signing
 * key, buckets), and every failure is reported together; then both are written side by side.
 * Locks on the two repositories are taken in one fixed order. Secrets are cleaned on every path.
 *
 * @throws UserError listing every problem, with nothing written, or naming what failed while writing.
 */
export async function publishRepositories(opts: PublishOptions): Promise<PublishSummary> {
  const problems = optionProblems(opts);
  if (problems.length) throw new UserError(problems.join('\n'));
  const cleanup = new Cleanup();
  const interrupted = () =>
    new UserError(`publish interrupted (${String(opts.signal?.reason ?? 'aborted')}); secrets and scratch files removed`, 130);
  const work = publish(opts, cleanup, () => {
    if (opts.signal?.aborted) throw interrupted();
  });
  if (!opts.signal) return work;
  // On abort the secrets go at once and the caller gets its answer when they are gone; the work
  // stops at its next check (before any further write of a signed entry file).
  work.catch(() => undefined);
  const signal = opts.signal;
  let onAbort = () => {};
  const abortedAndClean = new Promise<never>((_, reject) => {
    onAbort = () =>
      void cleanup
        .run()
        // The work stops at its next check; what it made after the cleanup goes with its last sweep
        // (publish's finally). Waited for a few seconds at most: the answer must not hang on a tool.
        .then(() => Promise.race([work.then(noop, noop), new Promise<void>((r) => setTimeout(r, 5_000).unref())]))
        .then(() => reject(interrupted()));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  abortedAndClean.catch(() => undefined);
  try {
    return await Promise.race([work, abortedAndClean]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function publish(opts: PublishOptions, cleanup: Cleanup, aborted: () => void): Promise<PublishSummary> {
  const { logger } = opts;
  const state = { ...parseS3Url(opts.stateUrl, labelOf(opts)('stateUrl')), label: labelOf(opts)('stateUrl') };
  let workDir: string | undefined;
  try {
    aborted();
    // What needs no S3 starts first: the key (gpg), the build's packages (rpm, dpkg-deb) and the
    // release record. The S3 half of the publish (the AWS SDK: ~90 ms of module loading) is
    // loaded once their processes are running, so the two overlap.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ket-publish-'));
    workDir = dir;
    cleanup.add(() => removeTree(dir));
    // The key opens (and is checked against what clients accept) while everything else is read.
    const key: Promise<SigningKey> = timed(logger, 'key', 'opening the signing key', () =>
      openSigningKey(opts.signingKey, 'publish (signing repository metadata)', (home, fingerprint, source) =>
        assertSigningKeyAcceptable(home, fingerprint, source, logger),
      ),
    );
    key.catch(() => undefined);
    cleanup.add(() => key.then((k) => k.dispose()));
    const [rpmFiles, debFiles] = await Promise.all([
      listPackageFiles(opts.from, 'rpms', '.rpm'),
      listPackageFiles(opts.from, 'debs', '.deb'),
    ]);
    const inputs = Promise.all([
      timed(logger, 'inputs', 'reading the RPMs', () => readBuildPackages(rpmFiles, 'rpm')),
      timed(logger, 'inputs', 'reading the DEBs', () => readBuildPackages(debFiles, 'deb')),
    ]);
    inputs.catch(() => undefined);
    // The release record (lib/release-manifest): FROM/release-manifest.json, checked before any write.
    const releaseRead = releaseOfBuild(opts.from, logger).then(
      (release) => ({ release, problem: undefined }),
      (e: Error) => ({ release: undefined, problem: e.message }),
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded here on purpose (above)
    const { publishToBuckets } = require('./buckets') as typeof import('./buckets');
    return await publishToBuckets(opts, { state, workDir: dir, key, inputs, releaseRead, cleanup, aborted });
  } finally {
    await timed(logger, 'cleanup', 'locks, secrets and scratch files', () => cleanup.run());
    // Again: an interrupt runs the cleanup while the work goes on to its next check, which may
    // make folders in the work folder after it was removed. (Usually it is gone: no rm is started.)
    if (workDir && existsSync(workDir)) await removeTree(workDir);
  }
}

/** The package files of a build folder (FROM/SUBDIR/*.EXT), sorted; none is an error naming the folder. */
export async function listPackageFiles(from: string, subdir: string, ext: '.rpm' | '.deb'): Promise<string[]> {
  const dir = path.join(from, subdir);
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(
      `cannot read ${dir}: ${e.code === 'ENOENT' ? 'no such directory (run ket-packages build first, or pass the build folder)' : e.message}`,
    );
  });
  const files = names
    .filter((n) => n.endsWith(ext))
    .sort()
    .map((n) => path.join(dir, n));
  if (files.length === 0) throw new UserError(`no ${ext} files in ${dir}`);
  return files;
}

function noop(): void {}
