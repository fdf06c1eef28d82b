// Apart from index.ts so lib/validation/specs can list it without loading the release manifest's file handling.

const ketSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(
    ['variables', 'make', 'readme', 'provision'].map((k) => [k, { type: 'object', additionalProperties: { type: 'string' } }]),
  ),
};
const sha256 = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const fileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'fileName'],
  properties: { version: { type: 'string', minLength: 1 }, fileName: { type: 'string', minLength: 1 }, sha256 },
};
/** JSON schema of a release manifest (also the entries of a repository's release.json). */
export const releaseManifestSchema = {
  type: 'object',
  required: ['schemaVersion', 'manifest', 'packages'],
  properties: {
    schemaVersion: { const: 1 },
    manifest: { type: 'string' },
    // release.json entries carry when they were published.
    publishedAt: { type: 'string' },
    packages: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'version', 'rpm', 'deb'],
        properties: {
          name: { type: 'string', minLength: 1 },
          version: { type: 'string', minLength: 1 },
          rpm: fileSchema,
          deb: fileSchema,
          ket: ketSchema,
          images: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'repository', 'tag'],
              properties: {
                name: { type: 'string' },
                repository: { type: 'string' },
                tag: { type: 'string' },
                digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
                ket: ketSchema,
              },
            },
          },
        },
      },
    },
  },
  additionalProperties: false,
} as const;
