import { BUCKET_NAME_PATTERN } from '../util/bucket-name';

/** JSON schema of deploy.config.yaml (structure only; cross-field rules live in load.ts). */
export const BUCKET_NAME = BUCKET_NAME_PATTERN;
export const REPOSITORY_NAME = '^[a-z][a-z0-9-]{0,19}$';
export const SECRET_NAME = '^[A-Za-z0-9/_+=.@-]{1,500}$';

const bucketName = { type: 'string', pattern: BUCKET_NAME };

export const deploymentConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'repositories', 'notificationEmails'],
  properties: {
    account: { type: 'string', pattern: '^[0-9]{12}$' },
    region: { type: 'string', pattern: '^[a-z]{2}(-[a-z]+)+-[0-9]+$' },
    stackPrefix: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9-]{0,40}$' },
    bucketNamePrefix: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$' },
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { enum: ['github', 'codecommit', 's3'] },
        owner: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,38}$' },
        repository: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,100}$' },
        connectionArn: {
          type: 'string',
          pattern: '^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[A-Za-z0-9-]+$',
        },
        bucket: bucketName,
        prefix: { type: 'string', pattern: "^[A-Za-z0-9!_.*'()/-]*$" },
      },
    },
    pipelines: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        ['staging', 'production'].map((k) => [
          k,
          {
            type: 'object',
            additionalProperties: false,
            properties: {
              branch: { type: 'string', pattern: '^[A-Za-z0-9._/-]{1,100}$' },
              repository: { type: 'string', pattern: REPOSITORY_NAME },
            },
          },
        ]),
      ),
    },
    repositories: {
      type: 'array',
      minItems: 2,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: REPOSITORY_NAME },
          noncurrentVersionRetentionDays: { type: 'integer', minimum: 1, maximum: 3650 },
          buckets: {
            type: 'object',
            additionalProperties: false,
            properties: { rpm: bucketName, deb: bucketName, state: bucketName },
          },
          cloneFrom: { type: 'string', pattern: REPOSITORY_NAME },
          cloneGeneration: { type: 'integer', minimum: 1 },
          signingKeySecretName: { type: 'string', pattern: SECRET_NAME },
        },
      },
    },
    notificationEmails: { type: 'array', minItems: 1, items: { type: 'string', format: 'email' } },
    signingKeySecretName: { type: 'string', pattern: SECRET_NAME },
  },
} as const;
