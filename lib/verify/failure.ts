import { ToolError } from '../util/exec';

/**
 * How verify reports a client (dnf, apt-get, curl, rpmkeys) that failed: one line naming the
 * repository and the client's own reason, then the client's last output lines indented below it.
 * The tool's command line (a dozen --setopt and --installroot options) is left out: it says
 * nothing a release engineer can act on, and the reason is what they search for.
 */

/** Lines of the client's output kept below the one-line reason. */
export const OUTPUT_TAIL_LINES = 8;

/**
 * `what: reason`, then for a ToolError that printed more than one line `    TOOL (exit N), last
 * lines:` and its last OUTPUT_TAIL_LINES lines indented by six spaces. `reason` picks the client's reason out of its
 * output (stderr, or stdout when stderr was empty); when it finds none, the last line is used.
 */
export function clientFailure(what: string, e: unknown, reason: (output: string) => string | undefined): string {
  if (!(e instanceof ToolError)) return `${what}: ${(e as Error).message}`;
  if (e.notInstalled) return `${what}: ${e.message}`;
  const how = e.timedOut ? 'timed out' : e.aborted ? 'aborted' : e.signal ? `killed by ${e.signal}` : `exit ${e.status}`;
  const lines = e.stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
  const because = reason(e.stderr) ?? lines[lines.length - 1]?.trim() ?? `${e.tool} ${how}`;
  // A single line of output is the reason itself: nothing to add below it.
  if (lines.length <= 1) return `${what}: ${because}`;
  const tail = lines.slice(-OUTPUT_TAIL_LINES).map((l) => `      ${l}`);
  return [`${what}: ${because}`, `    ${e.tool} (${how}), last lines:`, ...tail].join('\n');
}

/**
 * dnf's reason for a failure: its last `Error: ` line, without the throwaway repository id; or,
 * when that only says dnf gave up on every mirror, the first download error dnf listed (which
 * names the URL and the curl error or HTTP status).
 */
export function dnfReason(output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trimEnd());
  const error = lines
    .filter((l) => l.startsWith('Error: '))
    .pop()
    ?.slice('Error: '.length);
  const causes = lines.filter((l) => /^\s+- /.test(l)).map((l) => l.replace(/^\s+- /, ''));
  if (causes.length > 0 && (error === undefined || /All mirrors were tried/.test(error))) return causes[0];
  return error?.replace(/ for repo(sitory)? '[^']*'/, '');
}

/** apt-get's reason: its first error (`E: `), else its first warning (`W: `), without the prefix. */
export function aptReason(output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trim());
  const first = lines.find((l) => l.startsWith('E: ')) ?? lines.find((l) => l.startsWith('W: '));
  return first?.slice(3);
}

/** curl's reason: its `curl: (N) …` line. */
export function curlReason(output: string): string | undefined {
  return output
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('curl: '));
}
