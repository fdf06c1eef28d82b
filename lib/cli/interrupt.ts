import { INTERRUPTED_EXIT_CODE, UserError } from '../util/errors';

/**
 * Runs long work with an AbortSignal that Ctrl-C (SIGINT) or SIGTERM aborts: the library kills its
 * running tools and its `finally` blocks remove what the run created (partial output, the
 * temporary GnuPG home holding the imported key, the fixtures' folder) before the process exits.
 * A second signal exits at once. A failure after the abort is reported as 'interrupted' (exit 130).
 */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(INTERRUPTED_EXIT_CODE);
    process.stderr.write(`\n${name}: stopping and cleaning up (again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (e) {
    if (controller.signal.aborted) throw new UserError('interrupted', INTERRUPTED_EXIT_CODE);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Resolves when the signal aborts (Ctrl-C while serving). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
