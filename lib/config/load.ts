import { UserError } from '../util/errors';
import { problemList } from '../util/problem-list';
import type { ErrorObject } from 'ajv';
import { bucketNameProblem, BUCKET_NAME_PATTERN } from '../util/bucket-name';
import { lazyValidator } from '../validation/lazy-validator';
import { parseYamlWithSchema, readYamlFile, SchemaErrorPlace, valueAt } from '../util/yaml-schema';
import { DEFAULT_DEPLOYMENT_CONFIG, DEFAULTS } from './defaults';
import { DeploymentConfig, DeploymentConfigFile, PipelineConfig, RepositoryConfig, SourceConfig, SourceConfigFile } from './types';

/**
 * Longest account-plus-region suffix a default bucket name can get ("-123456789012-ap-southeast-4"):
 * the default names are only known at deploy time, so their length is checked against this.
 */
const DEFAULT_NAME_SUFFIX = 28;

/** Every problem found in the file, reported together so one edit fixes them all. */
export class DeploymentConfigError extends UserError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid deployment configuration:\n${problemList(problems)}`);
  }
}

export function loadDeploymentConfig(file: string = DEFAULT_DEPLOYMENT_CONFIG): DeploymentConfig {
  const { text, name } = readYamlFile(file, 'deployment configuration');
  return parseDeploymentConfig(text, name);
}

export function parseDeploymentConfig(text: string, file: string): DeploymentConfig {
  const { data, problems: structural } = parseYamlWithSchema(text, configValidator(), {
    patterns: patternMessages,
    describe: bucketNameRule,
  });
  if (structural.length > 0) throw new DeploymentConfigError(file, structural);
  const problems: string[] = [];
  const config = resolve(data as DeploymentConfigFile, file, problems);
  if (problems.length > 0) throw new DeploymentConfigError(file, problems);
  return config;
}

const configValidator = lazyValidator('deployment-config');

const patternMessages: Record<string, string> = {
  account: 'must be a 12-digit AWS account id in quotes, such as "123456789012"',
  region: 'must be an AWS region such as us-east-1',
  stackPrefix: 'must be letters, digits and - starting with a letter (at most 41)',
  bucketNamePrefix: 'must be 3-32 lowercase letters, digits and -',
  owner: 'must be a GitHub user or organisation name',
  repository: 'must be a repository name (letters, digits, . _ -)',
  connectionArn: 'must be a CodeConnections connection ARN such as arn:aws:codeconnections:us-east-1:123456789012:connection/abcd-…',
  prefix: "must be an S3 key prefix (letters, digits, / and !_.*'()-)",
  branch: 'must be a git branch name',
  name: 'must be 1-20 lowercase letters, digits and - starting with a letter',
  cloneFrom: 'must be a repository name',
  signingKeySecretName: 'must be a Secrets Manager secret name (letters, digits and /_+=.@-)',
};

/** A bucket name's pattern failure says which S3 naming rule the value breaks (lib/util/bucket-name). */
function bucketNameRule(e: ErrorObject, where: SchemaErrorPlace): string | undefined {
  if (e.keyword !== 'pattern' || e.params.pattern !== BUCKET_NAME_PATTERN) return undefined;
  const value = valueAt(where.data, where.segments);
  const problem = typeof value === 'string' ? bucketNameProblem(value) : undefined;
  return `${where.prefix}field "${where.field}" must be a valid S3 bucket name: ${problem ?? 'see the S3 naming rules'}`;
}

function resolve(f: DeploymentConfigFile, file: string, problems: string[]): DeploymentConfig {
  const source = resolveSource(f.source, problems);
  const repositories = resolveRepositories(f, problems);
  const pipelines = {
    staging: { ...DEFAULTS.pipelines.staging, ...f.pipelines?.staging } as PipelineConfig,
    production: { ...DEFAULTS.pipelines.production, ...f.pipelines?.production } as PipelineConfig,
  };
  const names = new Set(repositories.map((r) => r.name));
  for (const stage of ['staging', 'production'] as const) {
    if (!names.has(pipelines[stage].repository)) {
      problems.push(
        `field "pipelines.${stage}.repository" names no repository: "${pipelines[stage].repository}" (declared: ${[...names].join(', ')})`,
      );
    }
  }
  if (pipelines.staging.repository === pipelines.production.repository) {
    problems.push(
      `fields "pipelines.staging.repository" and "pipelines.production.repository" must differ: staging must never publish into production ("${pipelines.staging.repository}")`,
    );
  }
  if (pipelines.staging.branch === pipelines.production.branch) {
    problems.push(
      `fields "pipelines.staging.branch" and "pipelines.production.branch" must differ, both are "${pipelines.staging.branch}"`,
    );
  }
  // Each repository its own key: the staging pipeline must never hold production's.
  const secretStem = f.signingKeySecretName ?? DEFAULTS.signingKeySecretName;
  const withSecrets = repositories.map((r) => ({
    ...r,
    signingKeySecretName:
      f.repositories.find((x) => x.name === r.name)?.signingKeySecretName ??
      (r.name === pipelines.production.repository ? secretStem : `${secretStem}/${r.name}`),
  }));
  const secretOwners = new Map<string, string>();
  for (const r of withSecrets) {
    const other = secretOwners.get(r.signingKeySecretName);
    if (other !== undefined)
      problems.push(
        `repository "${r.name}": field "signingKeySecretName" uses secret "${r.signingKeySecretName}" of repository "${other}" again; each repository needs its own key`,
      );
    else secretOwners.set(r.signingKeySecretName, r.name);
  }
  const production = repositories.find((r) => r.name === pipelines.production.repository);
  if (production?.cloneFrom !== undefined) {
    problems.push(
      `repository "${production.name}": field "cloneFrom" would overwrite the production repository with "${production.cloneFrom}"; clone into another repository`,
    );
  }
  const emails = f.notificationEmails ?? [];
  emails.forEach((e, i) => {
    if (emails.indexOf(e) !== i) problems.push(`field "notificationEmails[${i}]" repeats "${e}"`);
  });
  return {
    file,
    account: f.account,
    region: f.region,
    stackPrefix: f.stackPrefix ?? DEFAULTS.stackPrefix,
    bucketNamePrefix: f.bucketNamePrefix ?? DEFAULTS.bucketNamePrefix,
    source,
    pipelines,
    repositories: withSecrets,
    notificationEmails: emails,
    signingKeySecretName: f.signingKeySecretName ?? DEFAULTS.signingKeySecretName,
  };
}

const SOURCE_FIELDS: Record<SourceConfigFile['type'], ReadonlyArray<keyof SourceConfigFile>> = {
  github: ['owner', 'repository', 'connectionArn'],
  codecommit: ['repository'],
  s3: ['bucket', 'prefix'],
};

function resolveSource(s: SourceConfigFile, problems: string[]): SourceConfig {
  const wanted = SOURCE_FIELDS[s.type];
  for (const k of Object.keys(s) as Array<keyof SourceConfigFile>) {
    if (k !== 'type' && !wanted.includes(k))
      problems.push(`field "source.${k}" is not used by source type ${s.type} (it takes ${wanted.join(', ')})`);
  }
  const required = s.type === 's3' ? ['bucket'] : wanted;
  for (const k of required as Array<keyof SourceConfigFile>) {
    if (s[k] === undefined) {
      const hint =
        k === 'connectionArn'
          ? ': create a connection to GitHub in the console (Developer Tools > Settings > Connections), authorise it, and paste its ARN'
          : '';
      problems.push(`missing field "source.${k}" (required by source type ${s.type})${hint}`);
    }
  }
  switch (s.type) {
    case 'github':
      return { type: 'github', owner: s.owner ?? '', repository: s.repository ?? '', connectionArn: s.connectionArn ?? '' };
    case 'codecommit':
      return { type: 'codecommit', repository: s.repository ?? '' };
    case 's3':
      return { type: 's3', bucket: s.bucket ?? '', prefix: s.prefix ?? '' };
  }
}

function resolveRepositories(f: DeploymentConfigFile, problems: string[]): RepositoryConfig[] {
  const prefix = f.bucketNamePrefix ?? DEFAULTS.bucketNamePrefix;
  const seen = new Map<string, number>();
  const buckets = new Map<string, string>();
  const repos = f.repositories.map((r, i): RepositoryConfig => {
    const where = `repository "${r.name}"`;
    const previous = seen.get(r.name);
    if (previous !== undefined) problems.push(`${where}: field "repositories[${i}].name" duplicates repositories[${previous}]`);
    else seen.set(r.name, i);
    for (const kind of ['rpm', 'deb', 'state'] as const) {
      const explicit = r.buckets?.[kind];
      if (explicit === undefined) {
        const length = `${prefix}-${r.name}-${kind}`.length + DEFAULT_NAME_SUFFIX;
        if (length > 63)
          problems.push(
            `${where}: the default ${kind} bucket name "${prefix}-${r.name}-${kind}-ACCOUNT-REGION" can reach ${length} characters, S3 allows 63: shorten "bucketNamePrefix" or the name, or set "buckets.${kind}"`,
          );
        continue;
      }
      const other = buckets.get(explicit);
      if (other !== undefined) problems.push(`${where}: field "buckets.${kind}" uses bucket "${explicit}" again (already ${other})`);
      else buckets.set(explicit, `${r.name}.buckets.${kind}`);
    }
    return {
      name: r.name,
      noncurrentVersionRetentionDays: r.noncurrentVersionRetentionDays ?? DEFAULTS.noncurrentVersionRetentionDays,
      rpmBucketName: r.buckets?.rpm,
      debBucketName: r.buckets?.deb,
      stateBucketName: r.buckets?.state,
      cloneFrom: r.cloneFrom,
      cloneGeneration: r.cloneGeneration ?? 1,
      signingKeySecretName: '', // filled in by resolve(), which knows the production repository
    };
  });
  for (const r of repos) {
    if (r.cloneFrom === undefined) continue;
    if (r.cloneFrom === r.name) problems.push(`repository "${r.name}": field "cloneFrom" names the repository itself`);
    else if (!seen.has(r.cloneFrom))
      problems.push(
        `repository "${r.name}": field "cloneFrom" names no repository: "${r.cloneFrom}" (declared: ${[...seen.keys()].join(', ')})`,
      );
  }
  return repos;
}
