import { spawn, SpawnOptions } from 'node:child_process';
import { UserError } from './errors';

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string | Buffer;
  /** Describes the step in error messages, e.g. 'signing kubelet-1.7.4_1-1.x86_64.rpm'. */
  readonly what?: string;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a tool and returns its output; a non-zero exit becomes a UserError that names the step,
 * the command and the tool's own last words, which is what a release engineer needs to act.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] };
    const child = spawn(command, args as string[], spawnOptions);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new UserError(
          e.code === 'ENOENT' ? `${command} is not installed (needed for ${options.what ?? 'this step'})` : `${command}: ${e.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr });
      const tail = (stderr || stdout).trim().split('\n').slice(-8).join('\n');
      const status = signal ? `killed by ${signal}` : `exit ${code}`;
      reject(
        new UserError(
          `${options.what ? `${options.what}: ` : ''}${command} ${args.join(' ')} failed (${status})${tail ? `:\n${tail}` : ''}`,
        ),
      );
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input ?? undefined);
  });
}
