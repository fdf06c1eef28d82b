import { UserError } from '../util/errors';

/** A KET file that is missing or does not look like KET's: consume stops before writing anything. */
export class KetFileError extends UserError {
  constructor(
    readonly file: string,
    readonly expected: string,
  ) {
    super(`${file}: ${expected}`);
  }
}

/** The stack's region is unknown (none given, none configured): the caller says how to give one. */
export class StackRegionError extends UserError {
  constructor(
    readonly stackName: string,
    detail: string,
  ) {
    super(`cannot read stack ${stackName}: no AWS region (${detail}); give the stack's region, or the repository URLs instead`);
  }
}
