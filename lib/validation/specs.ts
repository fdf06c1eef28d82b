import type { Options } from 'ajv';
import type { FormatName } from 'ajv-formats';
import { deploymentConfigSchema } from '../config/schema';
import { manifestSchema } from '../manifest/schema';
import { releaseManifestSchema } from '../release-manifest/schema';

/** One ajv validator: a schema and the ajv settings it is written for. */
export interface ValidatorSpec {
  /** JSON Schema (draft-07, ajv's default). */
  readonly schema: object;
  /** ajv options, as `new Ajv(options)`; `code` is the generator's (lib/validation/standalone). */
  readonly options: Omit<Options, 'code'>;
  /** ajv-formats formats the schema uses (its full, RFC-conforming mode). @default none */
  readonly formats?: readonly FormatName[];
}

/**
 * Every ajv validator the project runs, by name. `npm run build` writes each one's standalone
 * code to dist/lib/validation/generated/NAME.js; code asks for one with lazyValidator(NAME).
 */
export const VALIDATORS = {
  /** release.yaml (lib/manifest/load). */
  manifest: { schema: manifestSchema, options: { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true } },
  /** deploy.config.yaml (lib/config/load). */
  'deployment-config': {
    schema: deploymentConfigSchema,
    options: { allErrors: true, strict: true, strictRequired: false },
    formats: ['email'],
  },
  /** release-manifest.json and the entries of a repository's release.json (lib/release-manifest). */
  'release-manifest': { schema: releaseManifestSchema, options: { allErrors: true, strict: true, allowUnionTypes: true } },
} as const satisfies Record<string, ValidatorSpec>;

export type ValidatorName = keyof typeof VALIDATORS;
