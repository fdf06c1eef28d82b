import { INTERRUPTED_EXIT_CODE, UserError } from '../util/errors';

/**
 * Runs long work with an AbortSignal that Ctrl-C (SIGINT) or SIGTERM aborts: the library kills its
 * running tools and its `finally` blocks remove what the run created (partial output, the
 * temporary GnuPG home holding the imported key, the fixtures' folder) before the process exits.
 * A second signal exits at once. A failure after the abort is reported as 'interrupted' (or the
 * library's own message when its UserError carries INTERRUPTED_EXIT_CODE, e.g. publish's "publish interrupted (SIGTERM);
 * secrets … removed") with the shells' status for the signal: 130 for SIGINT, 143 for SIGTERM.
 * The signal's name is the abort reason.
 */
export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(signalExitCode(name));
    process.stderr.write(`\n${name}: stopping and cleaning up (again to quit at once)\n`);
    controller.abort(name);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (e) {
    if (controller.signal.aborted) {
      // A library error with the interrupted status describes the interruption itself (publish's).
      const message = e instanceof UserError && e.exitCode === INTERRUPTED_EXIT_CODE ? e.message : 'interrupted';
      throw new UserError(message, signalExitCode(controller.signal.reason as NodeJS.Signals));
    }
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** 128 + the signal number, as shells report a process the signal ended: 130 SIGINT, 143 SIGTERM. */
export function signalExitCode(name: NodeJS.Signals): number {
  return name === 'SIGTERM' ? 143 : INTERRUPTED_EXIT_CODE;
}

/** Resolves when the signal aborts (Ctrl-C while serving). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
