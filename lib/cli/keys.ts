import { Command } from 'commander';
import { DEFAULT_DEPLOYMENT_CONFIG } from '../config/defaults';
import { action } from './program';

interface ImportKeyCliOptions {
  readonly from: string;
  readonly repository?: string;
  readonly passphraseFile?: string;
  readonly secret?: string;
  readonly config: string;
  readonly region?: string;
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('Manage the GPG signing keys used by the AWS pipelines.');
  keys
    .command('import')
    .description(
      "Put KEYS_PATH/private.key (and its passphrase, if any) into one repository's Secrets Manager secret, which its pipeline reads; the key is checked with a test signature first.",
    )
    .requiredOption('--from <dir>', "folder with private.key (and public.key), as the old process's KEYS_PATH")
    .option(
      '--repository <name>',
      'repository (trust zone) the key signs: staging or production; its secret comes from the deployment configuration',
    )
    .option('--passphrase-file <file>', "file holding the key's passphrase (default: <dir>/passphrase if present)")
    .option('--secret <name-or-arn>', 'secret to write instead of the repository’s configured one')
    .option('--config <file>', 'deployment configuration', DEFAULT_DEPLOYMENT_CONFIG)
    .option('--region <region>', "AWS region (default: the configuration's region, else the SDK default)")
    .action(
      action(async (opts: ImportKeyCliOptions) => {
        const { importSigningKey } = await import('../release/keys');
        const result = await importSigningKey({
          keysPath: opts.from,
          repository: opts.repository,
          passphraseFile: opts.passphraseFile,
          secretId: opts.secret,
          configFile: opts.config,
          region: opts.region,
        });
        process.stderr.write(
          `stored key ${result.fingerprint} (${result.uid}) in secret ${result.secretId}${result.versionId ? `, version ${result.versionId}` : ''}\n`,
        );
      }),
    );
}
