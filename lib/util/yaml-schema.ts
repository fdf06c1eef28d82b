import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { UserError } from './errors';
import { describeYamlError } from './yaml-error';

/**
 * The one path from a YAML file to validated data, shared by release.yaml (lib/manifest/load.ts)
 * and deploy.config.yaml (lib/config/load.ts): parse with duplicate keys refused, validate with an
 * ajv schema, and turn every schema error into one line naming the field and the value found.
 */
export interface SchemaMessages {
  /** Message for a `pattern` failure, by the failing field's own name (e.g. sha256). */
  readonly patterns: Readonly<Record<string, string>>;
  /**
   * Splits an instance path into a prefix naming the owning entry and the field path within it,
   * e.g. /packages/2/sources/0/sha256 → 'package "etcd": ' and 'sources[0].sha256'.
   * @default no prefix, the whole path as the field
   */
  readonly locate?: (data: unknown, segments: readonly string[]) => { prefix: string; field: string };
  /** A message for errors the generic wording does not fit (e.g. oneOf); undefined to use it. */
  readonly describe?: (e: ErrorObject, where: SchemaErrorPlace) => string | undefined;
  /** Drops errors that only echo another one (e.g. the branches of a failed oneOf). */
  readonly ignore?: (e: ErrorObject) => boolean;
}

export interface SchemaErrorPlace {
  readonly data: unknown;
  readonly segments: readonly string[];
  readonly prefix: string;
  readonly field: string;
}

/**
 * Reads a file for `parseYamlWithSchema`; `what` names it in the error ('release manifest').
 * `name`, for messages, is relative to the current folder when inside it, else absolute: a
 * throwaway path such as ../ket-fixtures-XXXX/release.yaml says nothing to the reader.
 */
export function readYamlFile(file: string, what: string): { text: string; name: string } {
  try {
    const relative = path.relative(process.cwd(), file);
    const inside = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
    return { text: readFileSync(file, 'utf8'), name: inside ? relative : path.resolve(file) };
  } catch (e) {
    throw new UserError(`${file}: cannot read the ${what}: ${(e as Error).message}`);
  }
}

/**
 * Parses YAML text and validates it. Returns the data when valid, else every problem found (one
 * edit-run cycle fixes them all); a YAML syntax error is reported alone, as its first error is
 * the real one and the rest are usually echoes: "YAML syntax error at line L, column C: REASON"
 * with the yaml library's code frame on the lines below (lib/util/yaml-error). An alias without
 * its anchor is one too ("YAML error at line L, column C: Unresolved alias …").
 */
export function parseYamlWithSchema(
  text: string,
  validate: ValidateFunction,
  messages: SchemaMessages,
): { data: unknown; problems: readonly string[] } {
  // yaml loads on first use (a command that reads no YAML file does without it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, on first use
  const { LineCounter, parseDocument, visit } = require('yaml') as typeof import('yaml');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, lineCounter });
  if (doc.errors.length > 0) return { data: undefined, problems: [`YAML syntax error at ${describeYamlError(doc.errors[0])}`] };
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // Aliases are resolved here, not by the parser: an unresolved one (or too many, the
    // library's guard against alias bombs) is a ReferenceError with no position of its own.
    if (!(e instanceof ReferenceError)) throw e;
    let offset: number | undefined;
    visit(doc, {
      Alias: (_key, node) => {
        if (node.resolve(doc) !== undefined || !node.range) return undefined;
        offset = node.range[0];
        return visit.BREAK;
      },
    });
    const at = offset === undefined ? undefined : lineCounter.linePos(offset);
    return { data: undefined, problems: [`YAML error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${e.message}`] };
  }
  if (validate(data)) return { data, problems: [] };
  const errors = (validate.errors ?? []).filter((e) => !messages.ignore?.(e));
  return { data, problems: [...new Set(errors.map((e) => describeSchemaError(data, e, messages)))] };
}

function describeSchemaError(data: unknown, e: ErrorObject, messages: SchemaMessages): string {
  const segments = e.instancePath.split('/').slice(1);
  const { prefix, field } = messages.locate?.(data, segments) ?? { prefix: '', field: fieldPath(segments) };
  const custom = messages.describe?.(e, { data, segments, prefix, field });
  if (custom !== undefined) return custom;
  const last = segments[segments.length - 1];
  const got = JSON.stringify(valueAt(data, segments));
  const named = `${prefix}field "${field || '(top level)'}"`;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${prefix}unknown key "${joinField(field, String(e.params.additionalProperty))}"`;
    case 'required':
      return `${prefix}missing field "${joinField(field, String(e.params.missingProperty))}"`;
    case 'pattern':
      return `${named} ${messages.patterns[last] ?? `must match ${e.params.pattern}`}, got ${got}`;
    case 'format':
      return `${named} must be ${e.params.format === 'email' ? 'an email address' : `a valid ${e.params.format}`}, got ${got}`;
    case 'enum':
      return `${named} must be one of ${(e.params.allowedValues as unknown[]).join(', ')}, got ${got}`;
    case 'const':
      return `${named} must be ${JSON.stringify(e.params.allowedValue)}`;
    case 'minItems':
      return `${named} needs at least ${e.params.limit} entries`;
    case 'type': {
      const t = e.params.type as string;
      return `${named} must be ${t === 'object' ? 'a mapping' : t === 'array' ? 'a list' : `a ${t}`}, got ${got}`;
    }
    default:
      return `${named} ${e.message ?? e.keyword}, got ${got}`;
  }
}

/** ['sources', '0', 'sha256'] → 'sources[0].sha256'. */
export function fieldPath(segments: readonly string[]): string {
  return segments.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}

export function joinField(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

/** The value at an instance path, or undefined. */
export function valueAt(data: unknown, segments: readonly string[]): unknown {
  return segments.reduce<unknown>((v, s) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[s] : undefined), data);
}
