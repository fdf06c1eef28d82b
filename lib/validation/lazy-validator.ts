import type { ValidateFunction } from 'ajv';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { ValidatorName, VALIDATORS, ValidatorSpec } from './specs';

/**
 * Where `npm run build` (scripts/build-validators.js) writes each validator's standalone code:
 * dist/lib/validation/generated/NAME.js. From the TypeScript sources (ts-jest, tsx) this is
 * lib/validation/generated, which never exists.
 */
export const GENERATED_DIR = path.join(__dirname, 'generated');

/**
 * The validator named `name` in lib/validation/specs, loaded on its first use: a command that
 * never validates that document does not pay for it, and one that does pays while its first
 * requests and child processes are under way.
 *
 * It is always ajv's standalone validation code (https://ajv.js.org/standalone.html), so every
 * run and every test validates with the same code and gets the same ajv error objects. The build
 * writes that code ahead, so a run from dist/ neither loads ajv nor compiles a schema (tens of
 * milliseconds of CPU each). Where the build's file is missing or was made from another schema or
 * other options (the TypeScript sources under ts-jest or tsx; a dist/ `tsc` alone wrote), the same
 * code is generated here, at the cost the build saves: never a stale validator.
 *
 * @returns a function returning the one validator
 */
export function lazyValidator(name: ValidatorName): () => ValidateFunction {
  let validate: ValidateFunction | undefined;
  return () => (validate ??= loadValidator(name));
}

/** What a generated module records of the spec it was made from (module.exports.specHash). */
export function specHash(spec: ValidatorSpec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

/**
 * The validator `name`: DIR/NAME.js when the build wrote it from the current spec, else the same
 * standalone code generated now (loads ajv and compiles the schema).
 * @param dir where the build's modules are (a parameter for tests)
 */
export function loadValidator(name: ValidatorName, dir: string = GENERATED_DIR): ValidateFunction {
  const spec = VALIDATORS[name];
  const file = path.join(dir, `${name}.js`);
  if (existsSync(file)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, on first use
    const built = require(file) as ValidateFunction & { specHash?: string };
    if (built.specHash === specHash(spec)) return built;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loads ajv: only when the build's code is missing or stale
  const { standaloneModule } = require('./standalone') as typeof import('./standalone');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- with the code above
  const { AJV_RUNTIME } = require('./runtime') as typeof import('./runtime');
  const module = { exports: {} as unknown };
  // The generated CommonJS module, run as Node runs a file. Its require() calls get ajv's runtime
  // helpers from AJV_RUNTIME (inside a bundle there is no node_modules to resolve them from), and
  // anything else (ajv-formats' formats) from here.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the generated code's own requires
  const requireForCode = (id: string): unknown => (id in AJV_RUNTIME ? AJV_RUNTIME[id] : require(id));
  new Function('require', 'module', 'exports', standaloneModule(spec))(requireForCode, module, module.exports);
  return module.exports as ValidateFunction;
}
