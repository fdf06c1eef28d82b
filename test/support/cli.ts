import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * The one way tests launch `ket-packages`: the TypeScript entry point run by tsx, so a test
 * always runs the source it sits next to (no stale dist/ after an edit; `npm test` builds dist/
 * anyway and the Makefile test runs that).
 */
export const ROOT = path.resolve(__dirname, '..', '..');
export const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
export const CLI_ENTRY = path.join(ROOT, 'bin', 'ket-packages.ts');

export interface CliResult {
  /** Exit status, or -1 when killed by a signal. */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** @default ROOT */
  readonly cwd?: string;
  /** Added to (or, with `cleanEnv`, instead of) the test's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Start from PATH and HOME only, so nothing of the caller's environment (KEYS_PATH, AWS_*)
   * leaks into the case.
   * @default false
   */
  readonly cleanEnv?: boolean;
  /** Called with the child once started (to kill it at a chosen moment). */
  readonly onSpawn?: (child: ChildProcess) => void;
}

/** Runs `ket-packages ARGS…` to its end and returns its status and output. */
export function runCli(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const base = opts.cleanEnv ? { PATH: process.env.PATH, HOME: process.env.HOME } : process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [CLI_ENTRY, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...base, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
    opts.onSpawn?.(child);
  });
}
