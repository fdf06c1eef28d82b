/**
 * The deployment configuration (deploy.config.yaml): everything about the AWS side that differs
 * between installations. Loaded and validated by ./load.ts; the CDK app reads nothing else.
 */

export type SourceType = 'github' | 'codecommit' | 's3';

/** Where the pipelines get the code from, as written in the file (one type's fields only). */
export interface SourceConfigFile {
  readonly type: SourceType;
  /** github: repository owner (user or organisation). */
  readonly owner?: string;
  /** github: repository name; codecommit: repository name. */
  readonly repository?: string;
  /** github: ARN of an existing, authorised CodeConnections (CodeStar) connection. */
  readonly connectionArn?: string;
  /** s3: bucket holding the source zips. */
  readonly bucket?: string;
  /** s3: key prefix; the pipeline of branch B reads PREFIX + B + ".zip". */
  readonly prefix?: string;
}

export interface GitHubSource {
  readonly type: 'github';
  readonly owner: string;
  readonly repository: string;
  readonly connectionArn: string;
}

export interface CodeCommitSource {
  readonly type: 'codecommit';
  readonly repository: string;
}

export interface S3Source {
  readonly type: 's3';
  readonly bucket: string;
  readonly prefix: string;
}

export type SourceConfig = GitHubSource | CodeCommitSource | S3Source;

export interface RepositoryConfigFile {
  readonly name: string;
  readonly noncurrentVersionRetentionDays?: number;
  readonly buckets?: { readonly rpm?: string; readonly deb?: string; readonly state?: string };
  readonly cloneFrom?: string;
  readonly cloneGeneration?: number;
  readonly signingKeySecretName?: string;
}

export interface RepositoryConfig {
  /** Lowercase name, unique; used in construct ids, bucket names and output names. */
  readonly name: string;
  /** Days a replaced or overwritten object version is kept before S3 expires it. */
  readonly noncurrentVersionRetentionDays: number;
  /** Explicit bucket names; absent means the globally-unique default derived from account and region. */
  readonly rpmBucketName?: string;
  readonly debBucketName?: string;
  readonly stateBucketName?: string;
  /** Repository whose contents this one is cloned from when it is created (lib/infra/clone.ts). */
  readonly cloneFrom?: string;
  /** Bumping it clones again from the same cloneFrom (a deliberate reset). @default 1 */
  readonly cloneGeneration: number;
  /**
   * Secrets Manager secret holding the GPG key that signs this repository's packages and
   * metadata; each repository has its own, so the staging pipeline never holds production's key.
   * Defaults: the top-level `signingKeySecretName` for the production pipeline's repository (the
   * secret earlier versions created), `${signingKeySecretName}/${name}` for every other.
   */
  readonly signingKeySecretName: string;
}

export interface PipelineConfig {
  /** Git branch (or S3 key stem) the pipeline follows. */
  readonly branch: string;
  /** Name of the repository (from `repositories`) the pipeline publishes to. */
  readonly repository: string;
}

export interface DeploymentConfigFile {
  readonly account?: string;
  readonly region?: string;
  readonly stackPrefix?: string;
  readonly bucketNamePrefix?: string;
  readonly source: SourceConfigFile;
  readonly pipelines?: { readonly staging?: Partial<PipelineConfig>; readonly production?: Partial<PipelineConfig> };
  readonly repositories: readonly RepositoryConfigFile[];
  readonly notificationEmails?: readonly string[];
  readonly signingKeySecretName?: string;
}

/** The validated configuration with every default filled in. */
export interface DeploymentConfig {
  /** Where the file was read from, for messages. */
  readonly file: string;
  readonly account?: string;
  readonly region?: string;
  /** Prefix of the stack names: PREFIX-Repositories and PREFIX-Pipelines. */
  readonly stackPrefix: string;
  /** First part of the default bucket names. */
  readonly bucketNamePrefix: string;
  readonly source: SourceConfig;
  /** `staging` publishes without a human; `production` waits for a manual approval. */
  readonly pipelines: { readonly staging: PipelineConfig; readonly production: PipelineConfig };
  readonly repositories: readonly RepositoryConfig[];
  /** Who receives approval requests and failure notifications. */
  readonly notificationEmails: readonly string[];
  /** Name of the production repository's signing-key secret, and the stem of the others' (see RepositoryConfig). */
  readonly signingKeySecretName: string;
}
