/* eslint-disable @typescript-eslint/no-require-imports -- literal requires, so that bundlers see them */

/**
 * ajv's runtime helpers (all but re2, which only ajv's `code.regExp` option uses), the only modules ajv's standalone code requires besides ajv-formats'
 * formats (ajv/dist/compile/codegen names them by these paths). Required here by literal path so
 * that a bundle of the CLI (esbuild: the clone engine CodeBuild runs, lib/infra/clone.ts) carries
 * them: code generated at run time inside a bundle cannot reach a node_modules folder.
 */
export const AJV_RUNTIME: Readonly<Record<string, unknown>> = {
  'ajv/dist/runtime/equal': require('ajv/dist/runtime/equal'),
  'ajv/dist/runtime/parseJson': require('ajv/dist/runtime/parseJson'),
  'ajv/dist/runtime/quote': require('ajv/dist/runtime/quote'),
  'ajv/dist/runtime/timestamp': require('ajv/dist/runtime/timestamp'),
  'ajv/dist/runtime/ucs2length': require('ajv/dist/runtime/ucs2length'),
  'ajv/dist/runtime/uri': require('ajv/dist/runtime/uri'),
  'ajv/dist/runtime/validation_error': require('ajv/dist/runtime/validation_error'),
};
