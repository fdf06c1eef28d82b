import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { UserError } from './errors';

/**
 * How long each tool may run before it is killed, in milliseconds. A hung gpg (a pinentry it
 * should never open), aptly (a lock), dnf/apt-get (an unreachable mirror) or skopeo (a stalled
 * registry) must not hold a pipeline for CodeBuild's 8 hours. The long ones are bounded by what
 * they process: rpmbuild/dpkg-deb/rpmsign/tar on the multi-GB image bundle take minutes per GB on
 * 2 cores with xz (README, "The kismatic-offline image bundle").
 */
export const TOOL_TIMEOUTS_MS: Readonly<Record<string, number>> = {
  gpg: 2 * 60_000,
  gpgconf: 30_000,
  rpmkeys: 2 * 60_000,
  rpm: 5 * 60_000,
  mkdir: 30_000,
  rpmsign: 60 * 60_000,
  rpmbuild: 3 * 60 * 60_000,
  'dpkg-deb': 3 * 60 * 60_000,
  rpm2archive: 60 * 60_000,
  tar: 60 * 60_000,
  skopeo: 60 * 60_000,
  createrepo_c: 30 * 60_000,
  aptly: 30 * 60_000,
  dnf: 30 * 60_000,
  'apt-get': 30 * 60_000,
  'apt-cache': 10 * 60_000,
};

/** For a tool not in TOOL_TIMEOUTS_MS. */
export const DEFAULT_TOOL_TIMEOUT_MS = 30 * 60_000;

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string | Buffer;
  /** Describes the step in error messages, e.g. 'signing kubelet-1.7.4_1-1.x86_64.rpm'. */
  readonly what?: string;
  /** Kill the tool after this many milliseconds; default TOOL_TIMEOUTS_MS[tool] or DEFAULT_TOOL_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Kills the tool (SIGTERM) when aborted, e.g. on Ctrl-C or when a sibling step failed. */
  readonly signal?: AbortSignal;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Lines of the tool's output kept in a ToolError's message. */
const TAIL_LINES = 8;

/**
 * A tool that did not succeed: not installed, exited non-zero, killed by a signal, timed out or
 * aborted. A UserError (the CLI prints the message without a stack); callers that react to a
 * particular failure look at the fields and the tool's own `stderr`, never at this message.
 */
export class ToolError extends UserError {
  constructor(
    /** The program as called, e.g. 'rpmbuild'. */
    readonly tool: string,
    readonly args: readonly string[],
    readonly detail: {
      /** The step, as RunOptions.what. */
      readonly what?: string;
      /** Exit status when the tool exited by itself. */
      readonly exitCode?: number;
      /** The signal that ended it (SIGTERM after a timeout or an abort). */
      readonly signal?: NodeJS.Signals;
      readonly timedOut?: boolean;
      readonly timeoutMs?: number;
      readonly aborted?: boolean;
      readonly notInstalled?: boolean;
      /** The tool's whole stderr (stdout when stderr was empty). */
      readonly stderr?: string;
    },
  ) {
    super(ToolError.describe(tool, args, detail));
    this.name = 'ToolError';
  }

  get timedOut(): boolean {
    return this.detail.timedOut ?? false;
  }
  get notInstalled(): boolean {
    return this.detail.notInstalled ?? false;
  }
  /** The tool's own output (stderr, or stdout when it wrote nothing there). */
  get stderr(): string {
    return this.detail.stderr ?? '';
  }
  /** The last lines of the tool's output. */
  get stderrTail(): string {
    return this.stderr.trim().split('\n').slice(-TAIL_LINES).join('\n');
  }

  private static describe(tool: string, args: readonly string[], d: ToolError['detail']): string {
    const step = d.what ? `${d.what}: ` : '';
    if (d.notInstalled) return `${tool} is not installed (needed for ${d.what ?? 'this step'})`;
    const status = d.timedOut
      ? `timed out after ${Math.round((d.timeoutMs ?? 0) / 1000)} s`
      : d.aborted
        ? 'aborted'
        : d.signal
          ? `killed by ${d.signal}`
          : `exit ${d.exitCode}`;
    const tail = (d.stderr ?? '').trim().split('\n').slice(-TAIL_LINES).join('\n');
    return `${step}${tool} ${args.join(' ')} failed (${status})${tail ? `:\n${tail}` : ''}`;
  }
}

/** The timeout `run` applies to a tool when the caller gives none. */
export function toolTimeoutMs(command: string): number {
  return TOOL_TIMEOUTS_MS[path.basename(command)] ?? DEFAULT_TOOL_TIMEOUT_MS;
}

/**
 * Runs a tool to completion and returns its output. Every failure is a ToolError naming the step,
 * the command and the tool's last words, which is what a release engineer needs to act. The tool
 * is killed (SIGTERM) after its timeout or when `signal` aborts.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? toolTimeoutMs(command);
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  return new Promise((resolve, reject) => {
    const fail = (detail: Omit<ToolError['detail'], 'what'>) =>
      reject(new ToolError(command, args, { what: options.what, timeoutMs, ...detail }));
    if (signal.aborted) return fail({ timedOut: timeout.aborted, aborted: !timeout.aborted });
    const child = spawn(command, args as string[], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      signal,
      killSignal: 'SIGTERM',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let spawnError: NodeJS.ErrnoException | undefined;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) => {
      // An abort also arrives here (AbortError), before 'close'; 'close' reports it.
      if (e.name === 'AbortError') return;
      spawnError = e;
      if (e.code === 'ENOENT') fail({ notInstalled: true });
      else fail({ stderr: e.message });
    });
    child.on('close', (code, sig) => {
      if (spawnError) return;
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) return resolve({ stdout, stderr });
      fail({
        exitCode: code ?? undefined,
        signal: sig ?? undefined,
        timedOut: timeout.aborted,
        aborted: signal.aborted && !timeout.aborted,
        stderr: stderr.trim() ? stderr : stdout,
      });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? undefined);
  });
}
