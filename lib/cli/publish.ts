import { Command, Option } from 'commander';
import { DEFAULT_MANIFEST } from '../manifest/defaults';
import { stderrLogger, timingStderrLogger } from '../util/log';
import { withInterrupt } from './interrupt';
import { parseHttpUrl, parseSecondsAsMs } from './parsers';
import { action } from './program';
import { addSigningOptions, signingOptions } from './signing';
import { optionLabel, optionLabels } from './labels';

interface PublishFlags {
  rpmRepo: string;
  debRepo: string;
  from: string;
  manifest: string;
  stateUrl: string;
  rpmBaseUrl?: string;
  debBaseUrl?: string;
  lockTtl: number;
  lockWait: number;
  allowKeyChange?: boolean;
  allowUnlistedPackages?: boolean;
  expectSha256?: string;
  timings?: boolean;
}

export function registerPublishCommand(program: Command): void {
  const command = program
    .command('publish')
    .description(
      'Publish build/rpms and build/debs into the S3-backed yum and apt repositories (never deletes a package; a re-publish of the same build changes nothing). ' +
        'Every check of both repositories runs before the first write. Endpoint and credentials come from the standard AWS configuration, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL included.',
    )
    .addOption(new Option('--rpm-repo <bucket>', 'bucket of the yum repository').env('RPM_REPO').makeOptionMandatory())
    .addOption(new Option('--deb-repo <bucket>', 'bucket of the apt repository').env('DEB_REPO').makeOptionMandatory())
    .option('--from <dir>', 'build output holding rpms/ and debs/', 'build')
    .option('--manifest <file>', 'release manifest: the build may hold only its packages at their exact versions', DEFAULT_MANIFEST)
    .addOption(
      new Option('--state-url <s3url>', 'private s3://BUCKET/PREFIX for the repository locks').env('KET_STATE_URL').makeOptionMandatory(),
    )
    .option('--rpm-base-url <url>', "public URL of the yum repository written into kismatic.repo (default: the bucket's URL)", parseHttpUrl)
    .option('--deb-base-url <url>', "public URL of the apt repository, printed in the apt line (default: the bucket's URL)", parseHttpUrl)
    .addOption(
      new Option(
        '--lock-ttl <seconds>',
        "how long a repository lock stays valid without renewal (a dead publisher's lock is taken over after it)",
      )
        .default(900_000, '900')
        .argParser(parseSecondsAsMs),
    )
    .addOption(
      new Option('--lock-wait <seconds>', "how long to wait for another publisher's lock")
        .default(1_200_000, '1200')
        .argParser(parseSecondsAsMs),
    )
    .option(
      '--allow-key-change',
      'rotate the signing key: re-sign all metadata with this key; public.key keeps the old key for the packages it signed',
    )
    .option(
      '--allow-unlisted-packages',
      'publish packages the manifest does not name, or names at another version (served forever; pipelines never pass this)',
    );
  command.addOption(
    new Option('--expect-sha256 <hex>', 'refuse a build output whose sha256 (ket-packages artifact-sha256) differs: the approved one').env(
      'KET_EXPECTED_SHA256',
    ),
  );
  command.addOption(
    new Option('--timings', 'print each timed step as a `timing {json}` line on stderr (bench:publish reads them)').env(
      'KET_PUBLISH_TIMINGS',
    ),
  );
  addSigningOptions(command);
  command.action(
    action(async (flags: PublishFlags, cmd: Command) => {
      const logger = flags.timings ? timingStderrLogger : stderrLogger;
      // SIGINT/SIGTERM: the publish removes its secrets at once and answers (lib/cli/interrupt: 130/143).
      await withInterrupt(async (signal) => {
        const [{ assertArtifactSha256 }, { publishRelease }] = await Promise.all([
          import('../release/artifact'),
          import('../release/publish'),
        ]);
        // Process start to here: Node itself and the modules this command loads.
        logger.phase?.({
          phase: 'startup',
          what: 'node and module loading',
          start: performance.timeOrigin,
          end: performance.timeOrigin + performance.now(),
        });
        if (flags.expectSha256 !== undefined) await assertArtifactSha256(flags.from, flags.expectSha256, optionLabel(cmd, 'expectSha256'));
        const summary = await publishRelease({
          manifest: flags.manifest,
          from: flags.from,
          rpmRepo: flags.rpmRepo,
          debRepo: flags.debRepo,
          stateUrl: flags.stateUrl,
          rpmBaseUrl: flags.rpmBaseUrl,
          debBaseUrl: flags.debBaseUrl,
          signingKey: signingOptions(cmd),
          awsEnv: process.env,
          lockTtlMs: flags.lockTtl,
          lockWaitMs: flags.lockWait,
          allowKeyChange: flags.allowKeyChange ?? false,
          allowStrays: flags.allowUnlistedPackages ?? false,
          signal,
          logger,
          labels: optionLabels(cmd, ['rpmRepo', 'debRepo', 'stateUrl']),
        });
        process.stdout.write(
          [
            `rpm: ${summary.rpmUrl} (${summary.rpm.added.length} added, ${summary.rpm.alreadyPresent.length} already present)`,
            `deb: ${summary.debUrl} (${summary.deb.added.length} added, ${summary.deb.alreadyPresent.length} already present)`,
            '',
          ].join('\n'),
        );
      });
    }),
  );
}
