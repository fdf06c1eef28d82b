import { Command } from 'commander';
import type { RegistryMirror } from '../image-bundle/reference';
import { addSourceOptions } from './build';
import { withInterrupt } from './interrupt';
import { action } from './program';

export function registerPinCommand(program: Command): void {
  const command = program
    .command('pin')
    .description(
      'Download every source marked `unpinned: true` and write its sha256 into the manifest in place ' +
        '(comments and order kept), and the current digest of every image marked `unpinned: true`. ' +
        'Run where the upstream (or --mirror / --registry-mirror) is reachable, then review the diff.',
    );
  addSourceOptions(command).action(
    action(async (flags: { manifest: string; mirror?: string; registryMirror?: RegistryMirror; cacheDir: string }) => {
      const { pinRelease } = await import('../release/pin');
      const pinned = await withInterrupt((signal) => pinRelease({ manifestFile: flags.manifest, ...flags, signal }));
      if (pinned.sources > 0) process.stdout.write(`${flags.manifest}: pinned ${pinned.sources} source(s)\n`);
      if (pinned.images > 0) process.stdout.write(`${flags.manifest}: pinned ${pinned.images} image(s)\n`);
    }),
  );
}
