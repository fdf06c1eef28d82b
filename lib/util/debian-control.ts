import { UserError } from './errors';

/** One paragraph (stanza) of a Debian control file: [field, value] in file order. */
export type ControlParagraph = Array<[string, string]>;

/**
 * Parses Debian control data (deb-control(5), deb822(5)): a DEBIAN/control file, a Packages
 * index, a Release file. Paragraphs are separated by blank lines; a line starting with a space
 * or tab continues the previous field and is appended to its value after a newline, as written.
 * `what` names the text in errors, e.g. 'docker-engine.deb: DEBIAN/control'.
 * @throws UserError for a continuation line before any field or a line that is not `Field: value`.
 */
export function parseControlParagraphs(text: string, what = 'control data'): ControlParagraph[] {
  const paragraphs: ControlParagraph[] = [];
  let current: ControlParagraph = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current.length > 0) paragraphs.push(current);
      current = [];
      continue;
    }
    if (/^[ \t]/.test(line)) {
      if (current.length === 0) throw new UserError(`${what}: malformed control file: continuation line first: ${line}`);
      current[current.length - 1][1] += `\n${line}`;
      continue;
    }
    const m = /^([!-9;-~][!-9;-~]*):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (!m || m[1].startsWith('#') || m[1].startsWith('-')) throw new UserError(`${what}: malformed control file line: ${line}`);
    current.push([m[1], m[2]]);
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
