import type Ajv from 'ajv';
import type { Options, ValidateFunction } from 'ajv';

/**
 * An ajv validator compiled on its first use. Compiling a schema costs tens of milliseconds of
 * CPU; a command that never validates that document (most commands read one or two of the
 * project's schemas) should not pay it while it starts, and one that does pays it while its
 * first network requests and child processes are already under way. The same holds for loading
 * ajv itself.
 *
 * @param schema JSON Schema (draft-07, ajv's default)
 * @param options ajv options, as `new Ajv(options)`
 * @param setup called once with the instance before compiling (e.g. ajv-formats)
 * @returns a function returning the one compiled validator
 */
export function lazyValidator(schema: object, options: Options, setup?: (ajv: Ajv) => void): () => ValidateFunction {
  let compiled: ValidateFunction | undefined;
  return () => {
    if (!compiled) {
      // ajv itself loads here too (~50 ms of module loading at a command's start otherwise).
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous, on first use
      const { default: AjvClass } = require('ajv') as typeof import('ajv');
      const ajv = new AjvClass(options);
      setup?.(ajv);
      compiled = ajv.compile(schema);
    }
    return compiled;
  };
}
