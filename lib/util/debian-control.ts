import { UserError } from './errors';

/** One paragraph (stanza) of a Debian control file: [field, value] in file order. */
export type ControlParagraph = Array<[string, string]>;

/** Line terminators other than LF: a field line holding one is malformed (JavaScript's `.` excludes them). */
const OTHER_TERMINATORS = /[\r\u2028\u2029]/;
/** A field name: printable ASCII but space and colon (deb822(5)); '#' and '-' may not start it. */
const FIELD_NAME = /^[!-9;-~]+$/;

/**
 * Parses Debian control data (deb-control(5), deb822(5)): a DEBIAN/control file, a Packages
 * index, a Release file. Paragraphs are separated by blank lines; a line starting with a space
 * or tab continues the previous field and is appended to its value after a newline, as written.
 * A field line is `Field:` then the value, spaces and tabs around it dropped.
 * `what` names the text in errors, e.g. 'docker-engine.deb: DEBIAN/control'.
 * Written without a regular expression per line (a Packages index of 10,000 packages is 120,000
 * lines, parsed on every publish): the field name is checked alone and the value trimmed by hand.
 * @throws UserError for a continuation line before any field or a line that is not `Field: value`
 *   (no colon, an empty name or one with a space or a character outside printable ASCII, a name
 *   starting with '#' or '-', or a CR, U+2028 or U+2029 in the line).
 */
export function parseControlParagraphs(text: string, what = 'control data'): ControlParagraph[] {
  const paragraphs: ControlParagraph[] = [];
  let current: ControlParagraph = [];
  // Checked per line only in a text that holds such a character at all (almost never).
  const terminators = OTHER_TERMINATORS.test(text);
  for (const line of text.split('\n')) {
    const first = line.charCodeAt(0);
    // Blank: nothing but whitespace (a line starting with printable ASCII is not).
    if (line.length === 0 || (!(first > 0x20 && first < 0x7f) && line.trim() === '')) {
      if (current.length > 0) paragraphs.push(current);
      current = [];
      continue;
    }
    if (first === 0x20 || first === 0x09) {
      if (current.length === 0) throw new UserError(`${what}: malformed control file: continuation line first: ${line}`);
      current[current.length - 1][1] += `\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    let start = colon + 1;
    let end = line.length;
    while (start < end && (line.charCodeAt(start) === 0x20 || line.charCodeAt(start) === 0x09)) start++;
    while (end > start && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
    const value = line.slice(start, end);
    if (!FIELD_NAME.test(name) || first === 0x23 /* # */ || first === 0x2d /* - */ || (terminators && OTHER_TERMINATORS.test(value)))
      throw new UserError(`${what}: malformed control file line: ${line}`);
    current.push([name, value]);
  }
  if (current.length > 0) paragraphs.push(current);
  return paragraphs;
}

/** A field's value (field names are case-insensitive in control files), or undefined. */
export function controlField(paragraph: ControlParagraph, name: string): string | undefined {
  const lower = name.toLowerCase();
  return paragraph.find(([f]) => f.toLowerCase() === lower)?.[1];
}

/** A multi-line value folded to one line (relation fields such as Depends may span lines). */
export function foldControlValue(value: string): string {
  return value
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}
