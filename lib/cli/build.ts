import { Command, Option } from 'commander';
import { DEFAULT_CACHE_DIR } from '../download/cache';
import { DEFAULT_MANIFEST } from '../manifest/defaults';
import type { RegistryMirror } from '../image-bundle/reference';
import { withInterrupt } from './interrupt';
import { action } from './program';
import { parseList, parseMirrorUrl, parseRegistryMirrorUrl, parseUnixTime } from './parsers';
import { addSigningOptions, signingOptions } from './signing';

interface BuildFlags {
  manifest: string;
  only?: string[];
  out: string;
  mirror?: string;
  registryMirror?: RegistryMirror;
  cacheDir: string;
  allowUnpinned?: boolean;
  sourceDateEpoch?: number;
}

/** Options `build` and `pin` share: the manifest, the mirrors and the download cache. */
export function addSourceOptions(command: Command): Command {
  return command
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .addOption(
      new Option('--mirror <url>', 'fetch every upstream URL from URL/HOST/PATH instead (air-gapped builds, tests)')
        .env('KET_MIRROR')
        .argParser(parseMirrorUrl),
    )
    .addOption(
      new Option(
        '--registry-mirror <url>',
        'fetch every container image from URL/REGISTRY/REPOSITORY instead (http:// = plain HTTP, e.g. a local registry)',
      )
        .env('KET_REGISTRY_MIRROR')
        .argParser(parseRegistryMirrorUrl),
    )
    .addOption(new Option('--cache-dir <dir>', 'download cache').env('KET_CACHE_DIR').default(DEFAULT_CACHE_DIR));
}

export function registerBuildCommand(program: Command): void {
  const command = program
    .command('build')
    .description(
      'Download every source (verified, cached by checksum), build build/rpms/*.rpm and build/debs/*.deb, ' +
        'and sign the RPMs with the key from --keys-path, --gnupg-home or --key-secret (or their variables).',
    )
    .option('--only <names>', 'comma-separated package names to build (default: all)', parseList)
    .option('--out <dir>', 'output folder (rpms/ and debs/ inside)', 'build')
    .option('--allow-unpinned', 'build sources without a pinned checksum and images without a pinned digest (not verified)')
    .addOption(
      new Option('--source-date-epoch <seconds>', 'mtime of every file and the RPM build time (default: the 1.7.4-1 release date)')
        .env('SOURCE_DATE_EPOCH')
        .argParser(parseUnixTime),
    );
  addSourceOptions(command);
  addSigningOptions(command);
  command.action(
    action(async (flags: BuildFlags, cmd: Command) => {
      const { buildRelease } = await import('../release/build');
      await withInterrupt((signal) =>
        buildRelease({
          manifestFile: flags.manifest,
          only: flags.only,
          outDir: flags.out,
          cacheDir: flags.cacheDir,
          mirror: flags.mirror,
          registryMirror: flags.registryMirror,
          allowUnpinned: flags.allowUnpinned,
          sourceDateEpoch: flags.sourceDateEpoch,
          signing: signingOptions(cmd),
          signal,
        }),
      );
    }),
  );
}
