import { Command, InvalidArgumentError, Option } from 'commander';
import type { CloneResult } from '../clone';
import { DEFAULT_SERVE_PORT } from '../local/names';
import { UserError } from '../util/errors';
import { formatBytes, stderrLogger } from '../util/log';
import { withInterrupt } from './interrupt';
import { action } from './program';
import { parsePort } from './parsers';
import { addSigningOptions, signingOptions } from './signing';

interface CloneFlags {
  from: string;
  to: string;
  local?: boolean;
  dataDir: string;
  port: number;
  concurrency: number;
  verify: boolean;
  deployment?: string;
  stack: string;
  region?: string;
}

/** Copies in flight: 1-256. */
function parseConcurrency(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 256) throw new InvalidArgumentError('not a whole number from 1 to 256');
  return n;
}

export function registerCloneCommand(program: Command): void {
  const command = program
    .command('clone')
    .description(
      'Copy repository --from (any, production included) into repository --to (never production), server side: afterwards --to serves exactly what --from served at one moment, ' +
        'at its own URLs and signed with its own key. An existing --to is reset (objects --from does not serve are replaced or removed, and listed). ' +
        'On AWS this starts the clone build through the clone-start function and follows it (Ctrl-C stops following, not the build, and prints how to stop it); ' +
        '--local works on the embedded store of `ket-packages local`.',
    )
    .requiredOption('--from <repository>', 'source repository name, e.g. production')
    .requiredOption('--to <repository>', 'destination repository name, e.g. staging (never production)')
    .addOption(
      new Option('--local', 'use the embedded store (--data-dir) instead of AWS; an unknown --to becomes a new local repository').conflicts(
        'deployment',
      ),
    )
    .option('--data-dir <dir>', 'embedded store folder (with --local)', '.local/s3')
    .option(
      '--port <n>',
      'with --local: the port `ket-packages local --serve` serves the store at; the clone runs the store there and writes those URLs into the destination',
      parsePort,
      DEFAULT_SERVE_PORT,
    )
    .option('--concurrency <n>', 'copies in flight at once', parseConcurrency, 16)
    .option('--no-verify', 'with --local: skip the final read of the destination with dnf and apt-get')
    .addOption(
      new Option('--stack <name>', 'AWS: the stack whose output CloneStartFunctionName names clone-start')
        .default('KetPackages-Pipelines')
        .env('KET_PIPELINES_STACK'),
    )
    .addOption(new Option('--region <region>', 'AWS region of the stack').env('AWS_REGION'))
    .addOption(
      new Option(
        '--deployment <file>',
        'inside the clone CodeBuild project: run the engine here against the repositories of this bundled deployment file',
      ).hideHelp(),
    );
  addSigningOptions(command);
  command.action(
    action(async (flags: CloneFlags, cmd: Command) => {
      if (!flags.local && !flags.deployment) {
        // Loaded here: the local clone and every other command do without these AWS SDK clients.
        const { cloneOnAws, CloneRegionError } = await import('../release/clone-aws');
        const { buildId, logsUrl } = await withInterrupt((signal) =>
          cloneOnAws({ from: flags.from, to: flags.to, stackName: flags.stack, region: flags.region, logger: stderrLogger, signal }),
        ).catch((e: unknown) => {
          // Library errors name fields; here they gain the flag and variable that fix them.
          if (e instanceof CloneRegionError) throw new UserError(`${e.message}: give --region REGION or set AWS_REGION`);
          throw e;
        });
        process.stdout.write(`cloned '${flags.from}' into '${flags.to}' (build ${buildId}, log ${logsUrl})\n`);
        return;
      }
      const [{ cloneDeployedRepository, cloneRepository }, { progressReporter }] = await Promise.all([
        import('../release/clone'),
        import('../clone/progress'),
      ]);
      const progress = progressReporter(process.stderr);
      try {
        await withInterrupt(async (signal) => {
          const common = {
            from: flags.from,
            to: flags.to,
            logger: stderrLogger,
            onProgress: progress.update,
            concurrency: flags.concurrency,
            signal,
          };
          const result = flags.deployment
            ? await cloneDeployedRepository({ ...common, deploymentFile: flags.deployment, env: process.env })
            : await cloneRepository({
                ...common,
                dataDir: flags.dataDir,
                port: flags.port,
                labels: { dataDir: '--data-dir', port: '--port' },
                signingKey: signingOptions(cmd),
                verify: flags.verify,
              });
          progress.stop();
          process.stdout.write(summary(result));
          if (!flags.deployment)
            process.stdout.write(
              // `local` serves only after its own build and publish, so the hint is the run that filled the store, with --serve.
              `the store stopped with this command; to serve it at these URLs, run the \`ket-packages local\` that filled ${flags.dataDir} again with --serve ` +
                `(it publishes nothing new), e.g. ket-packages local --fixtures --serve --data-dir ${flags.dataDir}` +
                (flags.port === DEFAULT_SERVE_PORT ? '' : ` --port ${flags.port}`) +
                '\n',
            );
        });
      } finally {
        progress.stop();
      }
    }),
  );
}

function summary(r: CloneResult): string {
  return [
    r.message,
    `copy ${(r.copyMs / 1000).toFixed(1)} s (${formatBytes(r.copiedBytes)}), final check ${(r.verifyMs / 1000).toFixed(1)} s`,
    `RPM repository: ${r.rpmUrl}`,
    `DEB repository: ${r.debUrl}`,
    '',
  ].join('\n');
}
