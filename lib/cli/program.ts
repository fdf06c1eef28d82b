import { Command } from 'commander';
import { UserError } from '../util/errors';
import { registerVersionsCommand } from './versions';
import { registerBuildCommand } from './build';
import { registerPinCommand } from './pin';
import { registerKeysCommand } from './keys';
import { registerPublishCommand } from './publish';
import { registerVerifyCommand } from './verify';
import { registerLocalCommand } from './local';
import { registerCloneCommand } from './clone';
import { registerConsumeCommand } from './consume';
import { registerArtifactCommand } from './artifact';

/**
 * Each subcommand lives in its own module under lib/cli and registers itself here; the module
 * parses options and calls library code, nothing more.
 */
export function buildProgram(): Command {
  const program = new Command('ket-packages')
    .description('Build, sign, publish and verify the KET package repositories from release.yaml.')
    .showHelpAfterError('(run the command with --help for its options)')
    .configureHelp({ sortSubcommands: false });
  registerVersionsCommand(program);
  registerBuildCommand(program);
  registerPinCommand(program);
  registerKeysCommand(program);
  registerPublishCommand(program);
  registerVerifyCommand(program);
  registerLocalCommand(program);
  registerCloneCommand(program);
  registerConsumeCommand(program);
  registerArtifactCommand(program);
  return program;
}

/** Wraps an action so a UserError prints as one clean message and a non-zero exit. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (e instanceof UserError) {
        process.stderr.write(`error: ${e.message}\n`);
        process.exitCode = e.exitCode;
        return;
      }
      throw e;
    }
  };
}

export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync(argv as string[]);
}
