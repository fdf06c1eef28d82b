import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Downloader, resolveCacheDir } from '../download/cache';
import { parseMirror } from '../download/mirror';
import { pinSources } from '../download/pin';
import { DEFAULT_MANIFEST, loadManifest } from '../manifest/load';
import { stderrLogger } from '../util/log';
import { action } from './program';

export function registerPinCommand(program: Command): void {
  program
    .command('pin')
    .description(
      'Download every source marked `unpinned: true` and write its sha256 into the manifest in place ' +
        '(comments and order kept). Run where the upstream (or --mirror) is reachable, then review the diff. ' +
        'Container images are not pinned here.',
    )
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .option('--mirror <url>', 'fetch every upstream URL from URL/HOST/PATH instead')
    .option('--cache-dir <dir>', 'download cache (default: $KET_CACHE_DIR or .cache/ket-packages/downloads)')
    .action(action(async (opts: { manifest: string; mirror?: string; cacheDir?: string }) => {
      const manifest = loadManifest(opts.manifest);
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
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    }));
}
