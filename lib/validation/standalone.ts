import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import standaloneCode from 'ajv/dist/standalone';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { GENERATED_DIR, specHash } from './lazy-validator';
import { VALIDATORS, ValidatorSpec } from './specs';

/**
 * ajv's standalone validation code for one spec (https://ajv.js.org/standalone.html): a CommonJS
 * module exporting the validate function, whose only requires are ajv's runtime helpers and, for
 * formats, ajv-formats' format functions (ajv-formats sets `code.formats` to import them). It
 * also exports `specHash`, so a loader can tell it was made from this schema and these options.
 * @returns the module's source text
 */
export function standaloneModule(spec: ValidatorSpec): string {
  const ajv = new Ajv({ ...spec.options, code: { source: true } });
  if (spec.formats) addFormats(ajv, [...spec.formats]);
  const code = standaloneCode(ajv, ajv.compile(spec.schema));
  return `${code}\nmodule.exports.specHash = ${JSON.stringify(specHash(spec))};\n`;
}

/**
 * Writes every validator of lib/validation/specs to GENERATED_DIR/NAME.js, replacing what was
 * there (scripts/build-validators.js calls it from dist/ after tsc).
 * @returns the files written
 */
export function writeStandaloneValidators(): string[] {
  rmSync(GENERATED_DIR, { recursive: true, force: true });
  mkdirSync(GENERATED_DIR, { recursive: true });
  return Object.entries(VALIDATORS).map(([name, spec]) => {
    const file = path.join(GENERATED_DIR, `${name}.js`);
    writeFileSync(file, standaloneModule(spec));
    return file;
  });
}
