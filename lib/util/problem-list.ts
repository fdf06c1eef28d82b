/**
 * Problems as the lines under a heading: BULLET PROBLEM each (default "  - "), a problem's further
 * lines (a YAML code frame, a tool's last output lines) indented to sit under its first line's
 * text, so the reader sees where one problem ends and the next begins.
 * @example problemList(['a', 'b\nframe']) === '  - a\n  - b\n    frame'
 */
export function problemList(problems: readonly string[], bullet = '  - '): string {
  const under = ' '.repeat(bullet.length);
  return problems.map((p) => bullet + p.replace(/\n(?=.)/g, `\n${under}`)).join('\n');
}
