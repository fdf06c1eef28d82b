import { Command } from 'commander';
import { DEFAULT_MANIFEST, loadManifest } from '../manifest/load';
import { UserError } from '../util/errors';
import { stderrLogger } from '../util/log';
import { releaseContents, verifyRepositories } from '../verify';
import { action } from './program';

/** The packages a release must serve (lib/verify's releaseContents). */
export const expectedPackages = releaseContents;

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description(
      'Check published repositories with real clients in throwaway roots: dnf (gpgcheck, repo_gpgcheck) and apt-get (signed-by). ' +
        'Every package of the manifest must be listed at its exact version, downloadable and correctly signed; exits non-zero naming what is missing or wrong.',
    )
    .option('--rpm-url <url>', 'base URL of the yum repository')
    .option('--deb-url <url>', 'base URL of the apt repository')
    .option('--manifest <file>', 'release manifest whose packages must be served', DEFAULT_MANIFEST)
    .action(
      action(async (opts: { rpmUrl?: string; debUrl?: string; manifest: string }) => {
        if (!opts.rpmUrl) throw new UserError('verify needs --rpm-url (the yum repository base URL)');
        if (!opts.debUrl) throw new UserError('verify needs --deb-url (the apt repository base URL)');
        const expected = expectedPackages(loadManifest(opts.manifest));
        await verifyRepositories({ rpmUrl: opts.rpmUrl, debUrl: opts.debUrl, ...expected, logger: stderrLogger });
        process.stdout.write(`verified ${opts.rpmUrl} and ${opts.debUrl}\n`);
      }),
    );
}
