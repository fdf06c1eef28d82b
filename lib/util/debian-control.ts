import { UserError } from './errors';

/** One paragraph (stanza) of a Debian control file: [field, value] in file order. */
export type ControlParagraph = Array<[string, string]>;

/** Line terminators other than LF: a field line holding one is malformed (JavaScript's `.` excludes them). */
const OTHER_TERMINATORS = /[\r\u2028\u2029]/;

/**
 * Parses Debian control data (deb-control(5), deb822(5)): a DEBIAN/control file, a Packages
 * index, a Release file. Paragraphs are separated by blank lines; a line starting with a space
 * or tab continues the previous field and is appended to its value after a newline, as written.
 * A field line is `Field:` then the value, spaces and tabs around it dropped.
 * `what` names the text in errors, e.g. 'docker-engine.deb: DEBIAN/control'. With `fields`, only
 * those fields are kept (every line is still checked): a Packages index of 10,000 packages is
 * 120,000 lines parsed on every publish, of which a publish reads five fields per paragraph, so
 * no string is made for the others. Written without a regular expression or a string per line:
 * the field name is checked in place and the value trimmed by hand.
 * @returns the paragraphs, each [field, value] in file order (only `fields`, when given; a
 *   paragraph with none of them is empty)
 * @throws UserError for a continuation line before any field or a line that is not `Field: value`
 *   (no colon, an empty name or one with a space or a character outside printable ASCII, a name
 *   starting with '#' or '-', or a CR, U+2028 or U+2029 in the line).
 */
export function parseControlParagraphs(text: string, what = 'control data', fields?: ReadonlySet<string>): ControlParagraph[] {
  const wanted = fields ? [...fields] : undefined;
  const paragraphs: ControlParagraph[] = [];
  let current: ControlParagraph = [];
  // Field lines of the current paragraph, and whether the last one was kept (its continuation
  // lines belong to it).
  let fieldLines = 0;
  let lastKept = false;
  // Checked per line only in a text that holds such a character at all (almost never).
  const terminators = OTHER_TERMINATORS.test(text);
  for (let start = 0; start <= text.length;) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const lineStart = start;
    start = end + 1;
    const first = text.charCodeAt(lineStart);
    // Blank: nothing but whitespace (a line starting with printable ASCII is not).
    if (end === lineStart || (!(first > 0x20 && first < 0x7f) && text.slice(lineStart, end).trim() === '')) {
      if (fieldLines > 0) paragraphs.push(current);
      current = [];
      fieldLines = 0;
      continue;
    }
    if (first === 0x20 || first === 0x09) {
      if (fieldLines === 0) throw new UserError(`${what}: malformed control file: continuation line first: ${text.slice(lineStart, end)}`);
      if (lastKept) current[current.length - 1][1] += `\n${text.slice(lineStart, end)}`;
      continue;
    }
    const colon = text.indexOf(':', lineStart);
    let valid = colon > lineStart && colon < end && first !== 0x23 /* # */ && first !== 0x2d; /* - */
    for (let i = lineStart; valid && i < colon; i++) {
      const c = text.charCodeAt(i);
      valid = c > 0x20 && c < 0x7f; // (no ':' before the first colon)
    }
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && (text.charCodeAt(valueStart) === 0x20 || text.charCodeAt(valueStart) === 0x09)) valueStart++;
    while (valueEnd > valueStart && (text.charCodeAt(valueEnd - 1) === 0x20 || text.charCodeAt(valueEnd - 1) === 0x09)) valueEnd--;
    if (!valid || (terminators && OTHER_TERMINATORS.test(text.slice(valueStart, valueEnd))))
      throw new UserError(`${what}: malformed control file line: ${text.slice(lineStart, end)}`);
    fieldLines++;
    const name = wanted
      ? wanted.find((f) => colon - lineStart === f.length && text.startsWith(f, lineStart))
      : text.slice(lineStart, colon);
    lastKept = name !== undefined;
    if (name !== undefined) current.push([name, text.slice(valueStart, valueEnd)]);
  }
  if (fieldLines > 0) paragraphs.push(current);
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
