import { Command } from 'commander';
import { action } from './program';

export function registerArtifactCommand(program: Command): void {
  program
    .command('artifact-sha256')
    .description(
      'Print the sha256 of a build output folder (over its files, as publish --expect-sha256 checks it); the pipeline shows it in the approval.',
    )
    .argument('[dir]', 'build output folder', 'build')
    .action(
      action(async (dir: string) => {
        const { artifactSha256 } = await import('../release/artifact');
        process.stdout.write(`${await artifactSha256(dir)}\n`);
      }),
    );
}
