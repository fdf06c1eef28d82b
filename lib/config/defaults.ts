/** What deploy.config.yaml may leave out (kept apart from the loader so the CLI can name them without loading ajv). */
/** The deployment configuration read by `cdk` and `ket-packages keys import` unless told otherwise. */
export const DEFAULT_DEPLOYMENT_CONFIG = 'deploy.config.yaml';

export const DEFAULTS = {
  stackPrefix: 'KetPackages',
  bucketNamePrefix: 'kismatic-packages',
  noncurrentVersionRetentionDays: 90,
  signingKeySecretName: 'ket-packages/gpg-signing-key',
  pipelines: {
    staging: { branch: 'dev', repository: 'staging' },
    production: { branch: 'master', repository: 'production' },
  },
} as const;
