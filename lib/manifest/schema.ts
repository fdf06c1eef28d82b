/**
 * JSON Schema of release.yaml. Structural rules live here; rules that span entries (unique names,
 * references between packages and sources, template variables) live in validate.ts.
 */
const name = { type: 'string', pattern: '^[a-z0-9][a-z0-9+.-]*$' };
const version = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)*$' };
const sha256 = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const sha512 = { type: 'string', pattern: '^[0-9a-f]{128}$' };
const digest = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' };
const debianRevision = { type: 'string', pattern: '^[0-9A-Za-z.+~-]+$' };
const rpmRelease = { type: 'string', pattern: '^[0-9A-Za-z._+~]+$' };
const absolutePath = { type: 'string', pattern: '^/[^\\s]*[^/\\s]$' };
const dependencyList = { type: 'array', items: { type: 'string', minLength: 1 } };

// KET mapping: NAME → template; names as KET spells them (all.yaml variables are snake_case,
// Makefile variables upper case, README/provision labels free text).
const templates = (names: object) => ({ type: 'object', propertyNames: names, additionalProperties: { type: 'string', minLength: 1 } });
const ket = {
  type: 'object',
  additionalProperties: false,
  properties: {
    variables: templates({ pattern: '^[a-z_][a-z0-9_]*$' }),
    make: templates({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }),
    readme: templates({ minLength: 1 }),
    provision: templates({ minLength: 1 }),
  },
};

const source = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'url'],
  properties: {
    id: name,
    url: { type: 'string', pattern: '^https?://' },
    sha256,
    sha512,
    unpinned: { const: true },
    format: { enum: ['rpm', 'deb'] },
  },
  // Exactly one way of pinning, or an explicit `unpinned: true`.
  oneOf: [{ required: ['sha256'] }, { required: ['sha512'] }, { required: ['unpinned'] }],
};

const file = {
  type: 'object',
  additionalProperties: false,
  required: ['from', 'path', 'mode'],
  properties: {
    from: name,
    member: { type: 'string', minLength: 1 },
    path: absolutePath,
    mode: { type: 'string', pattern: '^0?[0-7]{3,4}$' },
  },
};

const image = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'repository', 'tag'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_.-]*$' },
    repository: { type: 'string', pattern: '^[a-z0-9][a-z0-9._/:-]*[a-z0-9]$' },
    tag: { type: 'string', pattern: '^[A-Za-z0-9_{}][A-Za-z0-9_.{}-]*$' },
    digest,
    unpinned: { const: true },
    ket,
  },
  oneOf: [{ required: ['digest'] }, { required: ['unpinned'] }],
};

const pkg = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'description', 'versioning'],
  properties: {
    name,
    description: { type: 'string', minLength: 1 },
    versioning: { enum: ['kismatic', 'upstream', 'repackaged'] },
    version,
    versionFrom: name,
    iteration: { type: 'integer', minimum: 1 },
    rpmRelease,
    debRevision: debianRevision,
    sources: { type: 'array', items: source },
    files: { type: 'array', items: file },
    depends: {
      type: 'object',
      additionalProperties: false,
      properties: { rpm: dependencyList, deb: dependencyList },
    },
    images: { type: 'array', items: image },
    ket,
  },
  oneOf: [{ required: ['version'] }, { required: ['versionFrom'] }],
};

export const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['metadata', 'packages'],
  properties: {
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['maintainer', 'vendor', 'license', 'homepage', 'arch'],
      properties: {
        maintainer: { type: 'string', minLength: 1 },
        vendor: { type: 'string', minLength: 1 },
        license: { type: 'string', minLength: 1 },
        homepage: { type: 'string', pattern: '^https?://' },
        arch: {
          type: 'object',
          additionalProperties: false,
          required: ['rpm', 'deb'],
          properties: { rpm: { type: 'string', minLength: 1 }, deb: { type: 'string', minLength: 1 } },
        },
      },
    },
    packages: { type: 'array', minItems: 1, items: pkg },
  },
} as const;
