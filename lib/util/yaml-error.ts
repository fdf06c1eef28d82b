import type { YAMLError } from 'yaml';

/**
 * A YAML parse error taken apart. The yaml library (with its default `prettyErrors: true`) writes
 * one message: "REASON at line L, column C" and, when the line has text, ":\n\nLINE(S)\n   ^\n"
 * (the offending line, the one before it when the error points at a line's start, and a caret):
 * see prettifyError in yaml/dist/errors.js. Printing only the message's first line left a reader
 * with "… at line 3, column 6:" and nothing after the colon.
 */
export interface YamlErrorParts {
  /** The library's own reason, e.g. "Nested mappings are not allowed in compact mappings". */
  readonly reason: string;
  /** 1-based line and column of the error's start; undefined when the library gave no position. */
  readonly line?: number;
  readonly column?: number;
  /** The library's code frame (offending line(s) and a caret line), without trailing newline; '' when none. */
  readonly frame: string;
}

export function yamlErrorParts(error: YAMLError): YamlErrorParts {
  const start = error.linePos?.[0];
  if (!start) return { reason: error.message.trim(), frame: '' };
  const where = ` at line ${start.line}, column ${start.col}`;
  // The first occurrence: the reason comes before it, the code frame (source text) after.
  const at = error.message.indexOf(where);
  if (at < 0) return { reason: error.message.trim(), line: start.line, column: start.col, frame: '' };
  const rest = error.message.slice(at + where.length);
  return {
    reason: error.message.slice(0, at),
    line: start.line,
    column: start.col,
    frame: rest.startsWith(':\n\n') ? rest.slice(3).replace(/\n+$/, '') : '',
  };
}

/**
 * One YAML parse error for a person: "line L, column C: REASON", then the library's code frame
 * indented by two spaces on the following lines (absent when it gave none). `lineOffset` shifts
 * the line numbers for YAML that starts part-way into a file (the line number of its first line,
 * less one; the column is only shifted on that first line, by `columnOffset`).
 * @example "line 3, column 6: Nested mappings are not allowed in compact mappings\n    a: b: c\n       ^"
 */
export function describeYamlError(error: YAMLError, lineOffset = 0, columnOffset = 0): string {
  const { reason, line, column, frame } = yamlErrorParts(error);
  if (line === undefined || column === undefined) return reason;
  const place = `line ${line + lineOffset}, column ${line === 1 ? column + columnOffset : column}`;
  return `${place}: ${reason}${frame ? `\n${frame.replace(/^(?=.)/gm, '  ')}` : ''}`;
}
