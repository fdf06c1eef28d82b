import { parseDocument } from 'yaml';
import { problemList } from '../../lib/util/problem-list';
import { describeYamlError, yamlErrorParts } from '../../lib/util/yaml-error';

const firstError = (text: string, prettyErrors = true) => parseDocument(text, { prettyErrors }).errors[0];

describe('YAML parse errors for a person (lib/util/yaml-error)', () => {
  test('the reason, the position and the code frame are taken apart, none of them lost', () => {
    expect(yamlErrorParts(firstError('a:\n  b: c: d\n'))).toEqual({
      reason: 'Nested mappings are not allowed in compact mappings',
      line: 2,
      column: 6,
      frame: '  b: c: d\n     ^',
    });
  });

  test('a frame holding the position text itself does not cut the reason short', () => {
    const text = 'x: " at line 2, column 1\n';
    expect(yamlErrorParts(firstError(text))).toEqual({
      reason: 'Missing closing "quote',
      line: 2,
      column: 1,
      frame: 'x: " at line 2, column 1\n\n^',
    });
  });

  test('without a position (prettyErrors off) the message is the reason, whole', () => {
    const e = firstError('a: b: c\n', false);
    expect(yamlErrorParts(e)).toEqual({ reason: 'Nested mappings are not allowed in compact mappings', frame: '' });
    expect(describeYamlError(e)).toBe('Nested mappings are not allowed in compact mappings');
  });

  test('an offset moves the line, and the column of the first line only', () => {
    expect(describeYamlError(firstError('a: b: c\n'), 10, 5)).toBe(
      'line 11, column 9: Nested mappings are not allowed in compact mappings\n  a: b: c\n     ^',
    );
    expect(describeYamlError(firstError('x: 1\na: b: c\n'), 10, 5)).toMatch(/^line 12, column 4: /);
  });
});

describe('problemList', () => {
  test('one bullet per problem, further lines indented under its text, empty lines kept empty', () => {
    expect(problemList(['a', 'b\n  frame\n\n  ^'])).toBe('  - a\n  - b\n      frame\n\n      ^');
    expect(problemList(['x\ny'], '- ')).toBe('- x\n  y');
  });
});
