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
