import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Readable } from 'node:stream';
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
  modifyrepo_c: 30 * 60_000,
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
  /** Standard input: bytes, or a stream piped in as it arrives (a stream that fails kills the tool). */
  readonly input?: string | Buffer | Readable;
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

/** How a tool failed; every field but `what` describes the tool's own end. */
export interface ToolFailure {
  /** The step, as RunOptions.what. */
  readonly what?: string;
  /** The tool's exit status when it exited by itself (not the CLI's exit code). */
  readonly status?: number;
  /** The signal that ended it (SIGTERM after a timeout or an abort). */
  readonly signal?: NodeJS.Signals;
  readonly timedOut?: boolean;
  /** The timeout that applied, in milliseconds. */
  readonly timeoutMs?: number;
  /** Ended because the caller's AbortSignal aborted (Ctrl-C). */
  readonly aborted?: boolean;
  /** The program is not on PATH. */
  readonly notInstalled?: boolean;
  /** The tool's whole stderr (stdout when stderr was empty). */
  readonly stderr?: string;
}

/**
 * A tool that did not succeed: not installed, exited non-zero, killed by a signal, timed out or
 * aborted. A UserError (the CLI prints the message without a stack, exit 1); callers that react
 * to a particular failure look at these fields and the tool's own `stderr`, never at the message.
 */
export class ToolError extends UserError {
  readonly status?: number;
  readonly signal?: NodeJS.Signals;
  readonly timedOut: boolean;
  readonly aborted: boolean;
  readonly notInstalled: boolean;
  /** The tool's own output (stderr, or stdout when it wrote nothing there). */
  readonly stderr: string;

  constructor(
    /** The program as called, e.g. 'rpmbuild'. */
    readonly tool: string,
    readonly args: readonly string[],
    failure: ToolFailure,
  ) {
    super(describeFailure(tool, args, failure));
    this.name = 'ToolError';
    this.status = failure.status;
    this.signal = failure.signal;
    this.timedOut = failure.timedOut ?? false;
    this.aborted = failure.aborted ?? false;
    this.notInstalled = failure.notInstalled ?? false;
    this.stderr = failure.stderr ?? '';
  }

  /** The last lines of the tool's output. */
  get stderrTail(): string {
    return tail(this.stderr);
  }
}

function tail(text: string): string {
  return text.trim().split('\n').slice(-TAIL_LINES).join('\n');
}

function describeFailure(tool: string, args: readonly string[], f: ToolFailure): string {
  if (f.notInstalled) return `${tool} is not installed (needed for ${f.what ?? 'this step'})`;
  const how = f.timedOut
    ? `timed out after ${Math.round((f.timeoutMs ?? 0) / 1000)} s`
    : f.aborted
      ? 'aborted'
      : f.signal
        ? `killed by ${f.signal}`
        : `exit ${f.status}`;
  const last = tail(f.stderr ?? '');
  return `${f.what ? `${f.what}: ` : ''}${tool} ${args.join(' ')} failed (${how})${last ? `:\n${last}` : ''}`;
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
    const fail = (failure: Omit<ToolFailure, 'what'>) =>
      reject(new ToolError(command, args, { what: options.what, timeoutMs, ...failure }));
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
        status: code ?? undefined,
        signal: sig ?? undefined,
        timedOut: timeout.aborted,
        aborted: signal.aborted && !timeout.aborted,
        stderr: stderr.trim() ? stderr : stdout,
      });
    });
    child.stdin.on('error', () => undefined);
    const input = options.input;
    if (input instanceof Readable) {
      input.on('error', () => child.kill('SIGTERM'));
      input.pipe(child.stdin);
    } else child.stdin.end(input ?? undefined);
  });
}
