import { parse } from 'yaml';

/** One line of a file: its text without the line ending, and the ending itself ('\r\n', '\n' or '' at the end). */
export interface Line {
  readonly text: string;
  readonly eol: string;
}

/** Splits text into lines keeping each line's own ending, so mixed \r\n / \n files survive an edit. */
export function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  const re = /([^\n]*?)(\r?\n|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') break;
    lines.push({ text: m[1], eol: m[2] });
  }
  return lines;
}

export function joinLines(lines: readonly Line[]): string {
  return lines.map((l) => l.text + l.eol).join('');
}

/** Maps each line's text; lines whose text is unchanged keep their bytes. */
export function mapLines(text: string, fn: (line: string, index: number) => string): string {
  return joinLines(splitLines(text).map((l, i) => ({ text: fn(l.text, i), eol: l.eol })));
}

/** A replacement of text[start, end) in one file. */
export interface Splice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** Applies non-overlapping splices (any order). */
export function applySplices(text: string, splices: readonly Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}

export type ScalarStyle = 'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE';

/**
 * Writes `value` as a YAML scalar in the style the old value had, so "1.14.4" stays quoted and
 * v1.7.3 stays plain. A plain value YAML 1.1 would read as something else (3.0 is a number, yes a
 * boolean) is double-quoted instead, because KET must receive a string.
 */
export function encodeScalar(value: string, style: string | undefined): string {
  if (style === 'QUOTE_SINGLE') return `'${value.replace(/'/g, "''")}'`;
  if (style === 'PLAIN' && isPlainSafe(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function isPlainSafe(value: string): boolean {
  if (value === '' || /[\r\n\t]|^\s|\s$| #|: |^[-?:,[\]{}#&*!|>'"%@`]/.test(value)) return false;
  try {
    // YAML 1.1, as Ansible (PyYAML) and KET's Go YAML read it: yes/on are booleans there.
    return parse(value, { version: '1.1' }) === value;
  } catch {
    return false;
  }
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
