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
