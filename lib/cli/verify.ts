import { Command } from 'commander';
import { DEFAULT_MANIFEST } from '../manifest/defaults';
import { action } from './program';
import { parseHttpUrl } from './parsers';

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Check published repositories with real clients in throwaway roots: dnf (gpgcheck, repo_gpgcheck) and apt-get (signed-by). ' +
        'Every package of the manifest must be listed at its exact version, downloadable and correctly signed; exits non-zero naming what is missing or wrong.',
    )
    .requiredOption('--rpm-url <url>', 'base URL of the yum repository', parseHttpUrl)
    .requiredOption('--deb-url <url>', 'base URL of the apt repository', parseHttpUrl)
    .option('--manifest <file>', 'release manifest whose packages must be served', DEFAULT_MANIFEST)
    .action(
      action(async (flags: { rpmUrl: string; debUrl: string; manifest: string }) => {
        const { verifyRelease } = await import('../release/verify');
        await verifyRelease({ manifest: flags.manifest, rpmUrl: flags.rpmUrl, debUrl: flags.debUrl });
        process.stdout.write(`verified ${flags.rpmUrl} and ${flags.debUrl}\n`);
      }),
    );
}
