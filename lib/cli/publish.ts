import { Command, Option } from 'commander';
import { publishRepositories } from '../publish';
import { assertArtifactSha256 } from '../release/artifact';
import { signingKeyOptionsFromEnv } from '../signing/keyring';
import { UserError } from '../util/errors';
import { stderrLogger } from '../util/log';
import { action } from './program';

interface PublishCliOptions {
  rpmRepo?: string;
  debRepo?: string;
  from: string;
  stateUrl?: string;
  rpmBaseUrl?: string;
  debBaseUrl?: string;
  keysPath?: string;
  lockTtl: string;
  lockWait: string;
  allowKeyChange?: boolean;
  expectSha256?: string;
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`${flag}: '${value}' is not a positive number of seconds`);
  return n * 1000;
}

export function registerPublishCommand(program: Command): void {
  program
    .command('publish')
    .description(
      'Publish build/rpms and build/debs into the S3-backed yum and apt repositories (never deletes a package; a re-publish of the same build changes nothing). ' +
        'Endpoint and credentials come from the standard AWS configuration, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL included.',
    )
    .option('--rpm-repo <bucket>', 'bucket of the yum repository (env RPM_REPO)')
    .option('--deb-repo <bucket>', 'bucket of the apt repository (env DEB_REPO)')
    .option('--from <dir>', 'build output holding rpms/ and debs/', 'build')
    .option('--state-url <s3url>', "private s3://BUCKET/PREFIX for aptly's database and the repository locks (env KET_STATE_URL)")
    .option('--rpm-base-url <url>', "public URL of the yum repository written into kismatic.repo (default: the bucket's endpoint URL)")
    .option('--deb-base-url <url>', "public URL of the apt repository, printed in the apt line (default: the bucket's endpoint URL)")
    .option('--keys-path <dir>', 'folder with private.key and public.key (env KEYS_PATH; or GNUPGHOME, KET_GPG_KEY_SECRET)')
    .option(
      '--lock-ttl <seconds>',
      "how long a repository lock stays valid without renewal (a dead publisher's lock is taken over after it)",
      '900',
    )
    .option('--allow-key-change', "publish although the repositories' public.key is another key (a deliberate key rotation)")
    .option('--lock-wait <seconds>', "how long to wait for another publisher's lock", '1200')
    .addOption(
      new Option(
        '--expect-sha256 <hex>',
        'refuse a build output whose sha256 (ket-packages artifact-sha256) differs: the approved one',
      ).env('KET_EXPECTED_SHA256'),
    )
    .action(
      action(async (opts: PublishCliOptions) => {
        const env = process.env;
        if (opts.expectSha256 !== undefined) await assertArtifactSha256(opts.from, opts.expectSha256, '--expect-sha256');
        const summary = await publishRepositories({
          rpmRepo: opts.rpmRepo ?? env.RPM_REPO ?? '',
          debRepo: opts.debRepo ?? env.DEB_REPO ?? '',
          from: opts.from,
          stateUrl: opts.stateUrl ?? env.KET_STATE_URL ?? '',
          rpmBaseUrl: opts.rpmBaseUrl,
          signingKey: { ...signingKeyOptionsFromEnv(env), ...(opts.keysPath ? { keysPath: opts.keysPath } : {}) },
          logger: stderrLogger,
          lockTtlMs: seconds(opts.lockTtl, '--lock-ttl'),
          lockWaitMs: seconds(opts.lockWait, '--lock-wait'),
          allowKeyChange: opts.allowKeyChange ?? false,
        });
        const debUrl = opts.debBaseUrl ?? summary.debUrl;
        process.stdout.write(
          [
            `rpm: ${summary.rpmUrl} (${summary.rpm.added.length} added, ${summary.rpm.alreadyPresent.length} already present)`,
            `deb: ${debUrl} (${summary.deb.added.length} added, ${summary.deb.alreadyPresent.length} already present)`,
            '',
          ].join('\n'),
        );
      }),
    );
}
