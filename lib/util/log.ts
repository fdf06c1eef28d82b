/**
 * Progress goes to stderr so stdout stays machine-readable (versions, URLs). CodeBuild and CI logs
 * are not terminals, so progress is plain lines, never carriage-return redraws.
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Optional: one timed step of long work (publish's phase breakdown, bench:publish); absent = not recorded. */
  phase?(event: PhaseEvent): void;
}

/** A timed step: which phase it belongs to, what it was, and when it ran (ms since the Unix epoch). */
export interface PhaseEvent {
  readonly phase: string;
  readonly what: string;
  readonly start: number;
  readonly end: number;
}

/** Runs `fn` and reports its wall time as one step of `phase` through `logger.phase` (if the logger records phases). */
export async function timed<T>(logger: Logger, phase: string, what: string, fn: () => Promise<T>): Promise<T> {
  if (!logger.phase) return fn();
  const start = performance.timeOrigin + performance.now();
  try {
    return await fn();
  } finally {
    logger.phase({ phase, what, start, end: performance.timeOrigin + performance.now() });
  }
}

/** stderrLogger that also prints each timed step as one `timing {json}` line (publish --timings). */
export const timingStderrLogger: Logger = {
  info: (message) => process.stderr.write(`${message}\n`),
  warn: (message) => process.stderr.write(`warning: ${message}\n`),
  phase: (event) => process.stderr.write(`timing ${JSON.stringify(event)}\n`),
};

export const stderrLogger: Logger = {
  info: (message) => process.stderr.write(`${message}\n`),
  warn: (message) => process.stderr.write(`warning: ${message}\n`),
};

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
