import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Downloader, resolveCacheDir } from '../download/cache';
import { parseMirror } from '../download/mirror';
import { pinSources } from '../download/pin';
import { DEFAULT_MANIFEST, loadManifest } from '../manifest/load';
import { pinImages } from '../image-bundle/pin';
import { parseRegistryMirror } from '../image-bundle/reference';
import { stderrLogger } from '../util/log';
import { action } from './program';

export function registerPinCommand(program: Command): void {
  program
    .command('pin')
    .description(
      'Download every source marked `unpinned: true` and write its sha256 into the manifest in place ' +
        '(comments and order kept), and the current digest of every image marked `unpinned: true`. ' +
        'Run where the upstream (or --mirror / --registry-mirror) is reachable, then review the diff.',
    )
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .option('--mirror <url>', 'fetch every upstream URL from URL/HOST/PATH instead')
    .option('--registry-mirror <url>', 'look every container image up at URL/REGISTRY/REPOSITORY instead')
    .option('--cache-dir <dir>', 'download cache (default: $KET_CACHE_DIR or .cache/ket-packages/downloads)')
    .action(
      action(async (opts: { manifest: string; mirror?: string; registryMirror?: string; cacheDir?: string }) => {
        const manifest = loadManifest(opts.manifest);
        const registryMirror = opts.registryMirror !== undefined ? parseRegistryMirror(opts.registryMirror) : undefined;
        const scratch = await mkdtemp(path.join(os.tmpdir(), 'ket-pin-'));
        try {
          const downloader = new Downloader({
            cacheDir: resolveCacheDir(opts.cacheDir),
            mirror: opts.mirror !== undefined ? parseMirror(opts.mirror) : undefined,
            logger: stderrLogger,
            scratchDir: scratch,
          });
          const pins = await pinSources(manifest, opts.manifest, downloader, stderrLogger);
          if (pins.length > 0) process.stdout.write(`${opts.manifest}: pinned ${pins.length} source(s)\n`);
          const imagePins = await pinImages(manifest, opts.manifest, registryMirror, stderrLogger);
          if (imagePins.length > 0) process.stdout.write(`${opts.manifest}: pinned ${imagePins.length} image(s)\n`);
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
      }),
    );
}
