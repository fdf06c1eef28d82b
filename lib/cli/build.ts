import { Command, Option } from 'commander';
import { buildPackages, selectPackages } from '../packaging/orchestrate';
import { resolveCacheDir } from '../download/cache';
import { parseMirror } from '../download/mirror';
import { DEFAULT_MANIFEST, loadManifest } from '../manifest/load';
import { offlineImageBundles } from '../image-bundle/hook';
import { checkImagesPinned } from '../image-bundle/images';
import { parseRegistryMirror } from '../image-bundle/reference';
import { signingKeyOptionsFromEnv } from '../signing/keyring';
import { UserError } from '../util/errors';
import { action } from './program';

interface BuildCliOptions {
  manifest: string;
  only?: string;
  out: string;
  mirror?: string;
  registryMirror?: string;
  cacheDir?: string;
  allowUnpinned?: boolean;
  keysPath?: string;
}

export function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description(
      'Download every source (verified, cached by checksum), build build/rpms/*.rpm and build/debs/*.deb, ' +
        'and sign the RPMs. The signing key comes from --keys-path / KEYS_PATH (private.key, public.key), ' +
        'GNUPGHOME or KET_GPG_KEY_SECRET; a passphrase from KET_GPG_PASSPHRASE or KET_GPG_PASSPHRASE_FILE.',
    )
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .option('--only <names>', 'comma-separated package names to build (default: all)')
    .option('--out <dir>', 'output folder (rpms/ and debs/ inside)', 'build')
    .addOption(
      new Option('--mirror <url>', 'fetch every upstream URL from URL/HOST/PATH instead (air-gapped builds, tests)').env('KET_MIRROR'),
    )
    .addOption(
      new Option(
        '--registry-mirror <url>',
        'fetch every container image from URL/REGISTRY/REPOSITORY instead (http:// = plain HTTP, e.g. a local registry)',
      ).env('KET_REGISTRY_MIRROR'),
    )
    .option('--cache-dir <dir>', 'download cache (default: $KET_CACHE_DIR or .cache/ket-packages/downloads)')
    .option('--allow-unpinned', 'build sources without a pinned checksum and images without a pinned digest (not verified)')
    .option('--keys-path <dir>', 'folder with private.key and public.key (overrides KEYS_PATH)')
    .action(
      action(async (opts: BuildCliOptions) => {
        const manifest = loadManifest(opts.manifest);
        const only = opts.only
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        if (opts.only !== undefined && (!only || only.length === 0)) throw new UserError('--only needs at least one package name');
        const sde = process.env.SOURCE_DATE_EPOCH;
        if (sde !== undefined && !/^\d+$/.test(sde))
          throw new UserError(`SOURCE_DATE_EPOCH must be a Unix time in seconds, got ${JSON.stringify(sde)}`);
        const registryMirror = opts.registryMirror !== undefined ? parseRegistryMirror(opts.registryMirror) : undefined;
        // Unpinned images are refused before any download, like unpinned sources.
        for (const p of selectPackages(manifest, only)) checkImagesPinned(p, opts.allowUnpinned ?? false);
        await buildPackages({
          manifest,
          only,
          outDir: opts.out,
          cacheDir: resolveCacheDir(opts.cacheDir),
          mirror: opts.mirror !== undefined ? parseMirror(opts.mirror) : undefined,
          allowUnpinned: opts.allowUnpinned ?? false,
          signing: { ...signingKeyOptionsFromEnv(), ...(opts.keysPath ? { keysPath: opts.keysPath } : {}) },
          sourceDateEpoch: sde !== undefined ? Number(sde) : undefined,
          imageBundles: offlineImageBundles({ mirror: registryMirror }),
        });
      }),
    );
}
