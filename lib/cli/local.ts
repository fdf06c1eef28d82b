import { Command, Option } from 'commander';
import type { RegistryMirror } from '../image-bundle/reference';
import { DEFAULT_MANIFEST } from '../manifest/defaults';
import type { LocalRelease } from '../release/local';
import { DEFAULT_SERVE_PORT, LOCAL_BUCKETS } from '../local/names';
import { untilAborted, withInterrupt } from './interrupt';
import { action } from './program';
import { parseMirrorUrl, parsePort, parseRegistryMirrorUrl } from './parsers';
import { addSigningOptions, signingOptions } from './signing';

interface LocalFlags {
  manifest: string;
  mirror?: string;
  registryMirror?: RegistryMirror;
  fixtures?: boolean;
  out?: string;
  rebuild?: boolean;
  allowUnpinned?: boolean;
  serve?: boolean;
  dataDir: string;
  port?: number;
}

/** The options of `local` besides signing: the same variables as build's (KET_MIRROR, KET_REGISTRY_MIRROR). */
export function addLocalOptions(command: Command): Command {
  return command
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .addOption(
      new Option('--mirror <url>', 'fetch every upstream URL from this mirror')
        .env('KET_MIRROR')
        .argParser(parseMirrorUrl)
        .conflicts('fixtures'),
    )
    .addOption(
      new Option('--registry-mirror <url>', 'fetch every container image from this registry mirror')
        .env('KET_REGISTRY_MIRROR')
        .argParser(parseRegistryMirrorUrl)
        .conflicts('fixtures'),
    )
    .option(
      '--fixtures',
      'no internet: serve local fixtures of every upstream source and image and use their manifest and mirrors (build output in .local/fixtures-build)',
    )
    .option('--out <dir>', 'build output folder (default: build, or .local/fixtures-build with --fixtures)')
    .option('--allow-unpinned', 'build sources without a pinned checksum and images without a pinned digest (not verified), as build')
    .option('--rebuild', 'build even if --out already holds every package of the manifest')
    .option('--serve', 'keep serving the repositories after verifying until Ctrl-C (the default in a terminal)')
    .option('--no-serve', 'stop the store after verifying, even in a terminal')
    .option('--data-dir <dir>', 'where the embedded store keeps its buckets', '.local/s3')
    .option('--port <n>', `port of the embedded store (default: ${DEFAULT_SERVE_PORT} when serving, any free port otherwise)`, parsePort);
}

export function registerLocalCommand(program: Command): void {
  const command = program
    .command('local')
    .description(
      'The whole job on this machine: start the embedded S3-compatible store (s3rver on 127.0.0.1, data under --data-dir), create the staging and production buckets, ' +
        'build (or reuse an up-to-date build/), publish to staging, verify with dnf and apt-get, and print the repository URLs and the yum/apt lines. ' +
        'In a terminal the store keeps serving until Ctrl-C; otherwise it stops at the end unless --serve.',
    );
  addLocalOptions(command);
  addSigningOptions(command);
  command.action(
    action(async (flags: LocalFlags, cmd: Command) => {
      const { clientInstructions, runLocal } = await import('../release/local');
      const serve = flags.serve ?? process.stdout.isTTY === true;
      const dataDir = await withInterrupt(async (signal) => {
        const release = await runLocal({
          manifestFile: flags.manifest,
          fixtures: flags.fixtures,
          mirror: flags.mirror,
          registryMirror: flags.registryMirror,
          outDir: flags.out,
          rebuild: flags.rebuild,
          allowUnpinned: flags.allowUnpinned,
          dataDir: flags.dataDir,
          port: flags.port ?? (serve ? DEFAULT_SERVE_PORT : 0),
          signing: signingOptions(cmd),
          signal,
        });
        try {
          process.stdout.write(clientInstructions(release.rpmUrl, release.debUrl));
          if (serve) {
            process.stdout.write(servingNotice(release));
            await untilAborted(signal);
          }
        } finally {
          await release.close();
        }
        return release.dataDir;
      });
      if (!serve)
        process.stdout.write(
          `\nThe store is stopped now, so the URLs above no longer answer. Run with --serve to keep it serving until Ctrl-C ` +
            `(the data stays in ${dataDir}; a second run publishes nothing new).\n`,
        );
    }),
  );
}

function servingNotice(release: LocalRelease): string {
  const { accessKeyId, secretAccessKey } = release.credentials;
  return [
    '',
    `Serving at ${release.endpoint} until Ctrl-C (production buckets: ${LOCAL_BUCKETS.production.rpm}, ${LOCAL_BUCKETS.production.deb}).`,
    'Installing needs no credentials. To write with an S3 client, any secret key works with access key id ' +
      `${accessKeyId}, e.g. AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secretAccessKey} AWS_ENDPOINT_URL_S3=${release.endpoint}`,
    '',
  ].join('\n');
}
