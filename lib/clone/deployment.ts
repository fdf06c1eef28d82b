import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors';
import { CloneRepository } from './types';

/**
 * What a clone CodeBuild project was deployed with: written at synth into its bundled asset
 * (lib/infra/clone.ts), never taken from an environment variable, so overriding a build's
 * variables cannot point it at other buckets (and its IAM role could not write them anyway).
 * Default bucket names contain the account and region, which the build reads from
 * CODEBUILD_BUILD_ARN (CodeBuild refuses overrides of CODEBUILD_ variables).
 */
export interface CloneDeploymentFile {
  /** The trust zone this project writes (`staging`). */
  readonly zone: string;
  readonly repositories: ReadonlyArray<{
    readonly name: string;
    readonly zone: string;
    readonly production: boolean;
    readonly bucketNamePrefix: string;
    readonly rpmBucketName?: string;
    readonly debBucketName?: string;
    readonly stateBucketName?: string;
  }>;
}

/** Public URLs and CloudFront distributions of the zone's repositories (project environment). */
export type CloneEndpoints = Readonly<
  Record<
    string,
    {
      readonly rpmBaseUrl: string;
      readonly debBaseUrl: string;
      readonly rpmDistributionId: string;
      readonly debDistributionId: string;
      /** The repository's own signing key: a clone into it signs with this one. */
      readonly signingKeySecretArn: string;
    }
  >
>;

/** `PREFIX-NAME-KIND-ACCOUNT-REGION`: the default bucket name PackageRepository gives (lib/infra/package-repository.ts). */
export function defaultBucketName(prefix: string, name: string, kind: 'rpm' | 'deb' | 'state', account: string, region: string): string {
  return [prefix, name, kind, account, region].join('-');
}

/** Account and region of a CodeBuild build ARN (arn:aws:codebuild:REGION:ACCOUNT:build/…). */
export function accountAndRegion(buildArn: string | undefined): { account: string; region: string } {
  const m = /^arn:aws[a-z-]*:codebuild:([a-z0-9-]+):([0-9]{12}):build\//.exec(buildArn ?? '');
  if (!m)
    throw new UserError(`CODEBUILD_BUILD_ARN: '${buildArn ?? ''}' is not a CodeBuild build ARN; the clone project runs inside CodeBuild`);
  return { region: m[1], account: m[2] };
}

export function readDeploymentFile(file: string): CloneDeploymentFile {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CloneDeploymentFile;
  } catch (e) {
    throw new UserError(`${file}: cannot read the clone deployment file: ${(e as Error).message}`);
  }
}

/**
 * The repositories of a deployment as the engine sees them. Only the project's own zone carries
 * URLs (its destinations); a repository of another zone is never written, so it needs none.
 */
export function deploymentRepositories(
  d: CloneDeploymentFile,
  where: { account: string; region: string },
  endpoints: CloneEndpoints = {},
): CloneRepository[] {
  return d.repositories.map((r) => {
    const name = (kind: 'rpm' | 'deb' | 'state', explicit?: string) =>
      explicit ?? defaultBucketName(r.bucketNamePrefix, r.name, kind, where.account, where.region);
    const urls = r.zone === d.zone ? endpoints[r.name] : undefined;
    return {
      name: r.name,
      rpmBucket: name('rpm', r.rpmBucketName),
      debBucket: name('deb', r.debBucketName),
      state: { bucket: name('state', r.stateBucketName), prefix: `${r.name}/` },
      // A repository of another zone is never a destination of this project.
      production: r.production || r.zone !== d.zone,
      rpmBaseUrl: urls?.rpmBaseUrl,
      debBaseUrl: urls?.debBaseUrl,
    };
  });
}
