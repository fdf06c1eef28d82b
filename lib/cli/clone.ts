import * as path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ensureDevelopmentKey } from '../local/dev-key';
import { progressReporter } from '../clone/progress';
import { cloneDeployedRepository, cloneOnAws, cloneRepository } from '../release/clone';
import { signingKeyOptionsFromEnv, SigningKeyOptions } from '../signing/keyring';
import { formatBytes, stderrLogger } from '../util/log';
import { action } from './program';

interface CloneCliOptions {
  from: string;
  to: string;
  local?: boolean;
  dataDir: string;
  port: number;
  keysPath?: string;
  concurrency: number;
  verify: boolean;
  deployment?: string;
  stack: string;
  region?: string;
}

function positiveInt(flag: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max)
      throw new InvalidArgumentError(`${flag}: '${value}' is not a whole number from 0 to ${max}`);
    return n;
  };
}

export function registerCloneCommand(program: Command): void {
  program
    .command('clone')
    .description(
      'Copy repository --from (any, production included) into repository --to (never production), server side: afterwards --to serves exactly what --from served at one moment, ' +
        "at its own URLs and signed with its own key. An existing --to is reset (its other objects are replaced or removed). With --local, against the embedded store of 'ket-packages local'.",
    )
    .requiredOption('--from <repository>', 'source repository name, e.g. production')
    .requiredOption('--to <repository>', 'destination repository name, e.g. staging (never production)')
    .option('--local', 'use the embedded store (.local/s3) instead of AWS; an unknown --to becomes a new local repository')
    .option('--data-dir <dir>', 'embedded store folder (with --local)', '.local/s3')
    .option('--port <n>', 'embedded store port (with --local; 0 = any free port)', positiveInt('--port', 65535), 0)
    .addOption(
      new Option('--keys-path <dir>', "destination's signing key folder (with --local; default: a development key in .local/keys)").env(
        'KEYS_PATH',
      ),
    )
    .option('--concurrency <n>', 'copies in flight at once', positiveInt('--concurrency', 256), 16)
    .option('--no-verify', 'skip the final read of the destination with dnf and apt-get')
    .addOption(
      new Option('--stack <name>', 'AWS: the stateless stack whose output names the clone-start function')
        .default('KetPackages-Pipelines')
        .env('KET_PIPELINES_STACK'),
    )
    .addOption(new Option('--region <region>', 'AWS region of the stack').env('AWS_REGION'))
    .addOption(
      new Option(
        '--deployment <file>',
        'inside the clone CodeBuild project: run the engine here against the repositories of this bundled deployment file',
      ).conflicts('local'),
    )
    .action(
      action(async (opts: CloneCliOptions) => {
        if (opts.deployment) return runDeployed(opts);
        if (!opts.local) {
          const { buildId } = await cloneOnAws({
            from: opts.from,
            to: opts.to,
            stackName: opts.stack,
            region: opts.region,
            logger: stderrLogger,
          });
          process.stdout.write(`cloned '${opts.from}' into '${opts.to}' (build ${buildId})\n`);
          return;
        }
        let signing: SigningKeyOptions = { ...signingKeySources(), ...(opts.keysPath ? { keysPath: opts.keysPath } : {}) };
        if (!signing.keysPath && !signing.gnupgHome && !signing.secretId)
          signing = { ...signing, keysPath: await ensureDevelopmentKey(path.resolve('.local/keys'), stderrLogger) };
        const progress = progressReporter(process.stderr);
        try {
          const result = await cloneRepository({
            from: opts.from,
            to: opts.to,
            dataDir: opts.dataDir,
            port: opts.port,
            signingKey: signing,
            logger: stderrLogger,
            onProgress: (p) => progress.update(p),
            concurrency: opts.concurrency || 1,
            verify: opts.verify,
          });
          progress.stop();
          process.stdout.write(
            [
              result.message,
              `copy ${(result.copyMs / 1000).toFixed(1)} s (${formatBytes(result.copiedBytes)}), final check ${(result.verifyMs / 1000).toFixed(1)} s`,
              `RPM repository: ${result.rpmUrl}`,
              `DEB repository: ${result.debUrl}`,
              '',
            ].join('\n'),
          );
        } finally {
          progress.stop();
        }
      }),
    );
}

function signingKeySources(): SigningKeyOptions {
  return signingKeyOptionsFromEnv(process.env);
}

async function runDeployed(opts: CloneCliOptions): Promise<void> {
  const progress = progressReporter(process.stderr);
  try {
    const result = await cloneDeployedRepository({
      from: opts.from,
      to: opts.to,
      deploymentFile: opts.deployment!,
      env: process.env,
      logger: stderrLogger,
      onProgress: (p) => progress.update(p),
      concurrency: opts.concurrency || 1,
    });
    progress.stop();
    process.stdout.write(
      `${result.message}\ncopy ${(result.copyMs / 1000).toFixed(1)} s, final check ${(result.verifyMs / 1000).toFixed(1)} s\n`,
    );
  } finally {
    progress.stop();
  }
}
