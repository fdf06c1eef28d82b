// `npm run build`, after tsc: writes ajv's standalone validation code for every schema of
// lib/validation/specs.ts into dist/lib/validation/generated/, from the schemas tsc just compiled,
// so the sources stay the one truth and a run from dist/ compiles no schema
// (lib/validation/lazy-validator.ts says how the TypeScript sources get the same code).
const { writeStandaloneValidators } = require('../dist/lib/validation/standalone');

writeStandaloneValidators();
