import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { ReleaseSource, RepositorySource } from '../consume';
import { StackRegionError } from '../consume/errors';
import { DEFAULT_MANIFEST } from '../manifest/defaults';
import { UserError } from '../util/errors';
import { stderrLogger } from '../util/log';
import { DEFAULT_SERVE_PORT, LOCAL_BUCKETS } from '../local/names';
import { parseHttpUrl } from './parsers';
import { action } from './program';

interface ConsumeCliOptions {
  ket: string;
  manifest?: string;
  releaseManifest?: string;
  repository?: string;
  rpmUrl?: string;
  debUrl?: string;
  local?: boolean;
  localEndpoint: string;
  stackName: string;
  region?: string;
  dryRun?: boolean;
}

/** Maps the flags to where the release and the repository URLs come from. */
export function consumeSources(opts: ConsumeCliOptions): { release: ReleaseSource; repository?: RepositorySource } {
  if (opts.manifest && opts.releaseManifest) throw new UserError('give --manifest or --release-manifest, not both');
  if (opts.repository && (opts.rpmUrl || opts.debUrl))
    throw new UserError('--repository conflicts with --rpm-url/--deb-url: give the repository by name or by its two URLs, not both');
  if ((opts.rpmUrl === undefined) !== (opts.debUrl === undefined)) throw new UserError('--rpm-url and --deb-url go together');
  if (opts.releaseManifest && /\.ya?ml$/i.test(opts.releaseManifest))
    throw new UserError(
      `--release-manifest ${opts.releaseManifest} looks like a release.yaml: give it as --manifest (--release-manifest takes the JSON a build wrote)`,
    );
  if (opts.manifest && /\.json$/i.test(opts.manifest))
    throw new UserError(`--manifest ${opts.manifest} looks like a build's release-manifest.json: give it as --release-manifest`);
  if (opts.local && !opts.repository) throw new UserError('--local needs --repository NAME (staging or production)');
  let repository: RepositorySource | undefined;
  if (opts.rpmUrl && opts.debUrl) repository = { kind: 'urls', rpm: opts.rpmUrl, deb: opts.debUrl };
  else if (opts.repository && opts.local)
    repository = {
      kind: 'local',
      repository: opts.repository,
      endpoint: opts.localEndpoint,
      buckets: { staging: LOCAL_BUCKETS.staging, production: LOCAL_BUCKETS.production },
    };
  else if (opts.repository) repository = { kind: 'stack', repository: opts.repository, stackName: opts.stackName, region: opts.region };
  let release: ReleaseSource;
  if (opts.releaseManifest) release = { kind: 'release-manifest', file: opts.releaseManifest };
  else if (opts.manifest) release = { kind: 'manifest', file: opts.manifest };
  // Without either: release.yaml here, else (a KET maintainer with only the URLs) the repository's newest release.
  else if (existsSync(DEFAULT_MANIFEST)) release = { kind: 'manifest', file: DEFAULT_MANIFEST };
  else if (!repository)
    throw new UserError(
      `no ${DEFAULT_MANIFEST} in ${process.cwd()}: give --manifest FILE (a release.yaml), --release-manifest FILE (a build's release-manifest.json), ` +
        `or the repositories (--rpm-url and --deb-url, or --repository NAME) to take their newest published release`,
    );
  else release = { kind: 'repository' };
  return { release, repository };
}

export function registerConsumeCommand(program: Command): void {
  program
    .command('consume')
    .description(
      'Move a KET checkout to a release: ansible/group_vars/all.yaml, the inspector rule sets, integration/prepare.go, docs/packages.md, ' +
        "docs/provision.md, README.md's component table and the Makefile's tool versions. Prints a unified diff; writes all files or none.",
    )
    .requiredOption('--ket <dir>', 'the KET checkout (apprenda/kismatic) to edit')
    .option(
      '--manifest <file>',
      `release manifest (default: ${DEFAULT_MANIFEST}, or with a repository and no ${DEFAULT_MANIFEST} here, its newest release)`,
    )
    .option('--release-manifest <file>', 'the build/release-manifest.json a build wrote (no build tools needed)')
    .option('--repository <name>', "take the repository URLs from the deployed stack's outputs (production, staging, …)")
    .option('--local', "with --repository: the embedded store of 'ket-packages local --serve' instead of the stack")
    .addOption(
      new Option('--local-endpoint <url>', 'endpoint of the embedded store')
        .default(`http://127.0.0.1:${DEFAULT_SERVE_PORT}`)
        .argParser(parseHttpUrl),
    )
    .addOption(
      new Option('--stack-name <name>', 'the repositories stack').env('KET_REPOSITORIES_STACK').default('KetPackages-Repositories'),
    )
    .addOption(new Option('--region <region>', 'AWS region of the stack').env('AWS_REGION'))
    .option('--rpm-url <url>', 'base URL of the yum repository (where kismatic.repo, public.key and release.json are)', parseHttpUrl)
    .option('--deb-url <url>', 'base URL of the apt repository (where dists/, public.key and release.json are)', parseHttpUrl)
    .option('--dry-run', 'print the diff, write nothing')
    .action(
      action(async (opts: ConsumeCliOptions) => {
        const { release, repository } = consumeSources(opts);
        const { consumeRelease } = await import('../consume');
        const result = await consumeRelease({ ketDir: opts.ket, release, repository, dryRun: opts.dryRun, logger: stderrLogger }).catch(
          (e: unknown) => {
            throw withFlagHints(e, repository);
          },
        );
        process.stdout.write(result.diff);
        for (const f of result.findings) stderrLogger.warn(f);
        if (!repository) stderrLogger.info('(give --repository NAME or --rpm-url/--deb-url to point KET at a repository)');
        const summary =
          result.changed.length === 0
            ? `${opts.ket} already matches ${result.release.manifest}: nothing to change`
            : `${result.written ? 'changed' : 'would change (dry run)'} ${result.changed.length} file(s): ${result.changed.join(', ')}`;
        stderrLogger.info(summary);
      }),
    );
}

/** Library errors name fields; here they gain the flags (and commands) that fix them. */
function withFlagHints(e: unknown, repository: RepositorySource | undefined): unknown {
  if (e instanceof StackRegionError)
    return new UserError(`${e.message}: give --region REGION or set AWS_REGION, or give --rpm-url and --deb-url`);
  if (repository?.kind === 'local' && e instanceof Error && /ECONNREFUSED|connection refused/i.test(e.message))
    return new UserError(
      `${e.message}\nnothing listens at ${repository.endpoint}: start the embedded store with \`ket-packages local --serve\` (or give --local-endpoint)`,
    );
  return e;
}
