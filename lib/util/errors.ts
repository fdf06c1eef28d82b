/**
 * An error whose message is meant for the release engineer: the CLI prints it without a stack
 * trace and exits non-zero. Everything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Stops long work between steps once `signal` is aborted (Ctrl-C): the caller's `finally` blocks
 * then remove what the run created (partial output, the GnuPG home with the imported key).
 * @throws UserError 'interrupted' (exit 130)
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new UserError('interrupted', INTERRUPTED_EXIT_CODE);
}
