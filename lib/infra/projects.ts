import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeWildcards, BUCKET_GRANT_ACTIONS, IntendedWildcards } from './nag';
import { PackageRepository } from './package-repository';

/** Buildspec files, relative to the source root; each only installs tools and calls ket-packages. */
export const BUILDSPECS = {
  build: 'buildspecs/build.yml',
  publish: 'buildspecs/publish.yml',
  verify: 'buildspecs/verify.yml',
} as const;

/**
 * The image every project runs on: Docker's official Node 22 image on Debian 12 (bookworm), the
 * OS CI tests (aptly 1.5, dpkg 1.21.22; CodeBuild's standard:7.0 is Ubuntu 22.04 with aptly 1.4
 * and dpkg 1.21.1, which lack -skip-bz2 and --threads-max), pulled from ECR Public's mirror of
 * Docker's official images (no anonymous pull limit). The tag follows Node 22's patch releases
 * and Debian 12's security updates; the major versions are what is pinned.
 */
export const BUILD_IMAGE = 'public.ecr.aws/docker/library/node:22-bookworm';

/** The variable the build exports (CodeBuild exported-variables) and the approval shows. */
export const ARTIFACT_SHA256_VARIABLE = 'KET_ARTIFACT_SHA256';

interface KetProjectProps {
  readonly description: string;
  readonly buildSpecFile: string;
  readonly environmentVariables: Record<string, string>;
  readonly computeType: codebuild.ComputeType;
  readonly timeout: Duration;
  /** The pipeline artifact bucket the project reads its inputs from (and writes its outputs to). */
  readonly artifactBucket: s3.IBucket;
  readonly cache?: { readonly bucket: s3.IBucket; readonly prefix: string };
  /** Wildcards beyond artifacts, logs and reports that this project's grants produce on purpose. */
  readonly wildcards?: readonly IntendedWildcards[];
}

/** A CodeBuild project fed by CodePipeline, on BUILD_IMAGE. */
function ketProject(scope: Construct, id: string, props: KetProjectProps): codebuild.PipelineProject {
  const project = new codebuild.PipelineProject(scope, id, {
    description: props.description,
    buildSpec: codebuild.BuildSpec.fromSourceFilename(props.buildSpecFile),
    environment: {
      buildImage: codebuild.LinuxBuildImage.fromDockerRegistry(BUILD_IMAGE),
      computeType: props.computeType,
      // No Docker daemon needed: images are pulled daemonless by skopeo.
      privileged: false,
    },
    environmentVariables: Object.fromEntries(Object.entries(props.environmentVariables).map(([k, value]) => [k, { value }])),
    timeout: props.timeout,
    cache: props.cache ? codebuild.Cache.bucket(props.cache.bucket, { prefix: props.cache.prefix }) : undefined,
  });
  acknowledge(project, [
    {
      id: 'AwsSolutions-CB4',
      reason:
        'Artifacts are packages published to public repositories; they are encrypted with the AWS-managed S3 key, and no customer KMS key is wanted (cost).',
    },
    {
      id: 'AwsSolutions-CB5',
      reason:
        "The projects must run on the OS CI tests, Debian 12 (aptly 1.5, dpkg 1.21.22); CodeBuild's curated Linux images are Ubuntu or Amazon Linux with an aptly and dpkg too old for the CLI. Docker's official Node image from ECR Public is used instead.",
    },
  ]);
  const stack = Stack.of(project);
  const logGroup = stack.formatArn({
    service: 'logs',
    resource: 'log-group',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    resourceName: `/aws/codebuild/${project.projectName}`,
  });
  acknowledgeWildcards(project.role!, [
    {
      resources: [
        `${logGroup}:*`,
        stack.formatArn({ service: 'codebuild', resource: 'report-group', resourceName: `${project.projectName}-*` }),
      ],
      reason: 'The log streams and report groups CodeBuild names after this project (its own grant).',
    },
    {
      resources: [props.artifactBucket.arnForObjects('*')],
      actions: BUCKET_GRANT_ACTIONS,
      reason: "Objects of this pipeline's own artifact bucket: CodePipeline's grant for the project's input and output artifacts.",
    },
    ...(props.cache
      ? [
          {
            // Cache.bucket grants read-write on the whole bucket, which only this project uses.
            resources: [props.cache.bucket.arnForObjects('*')],
            actions: BUCKET_GRANT_ACTIONS,
            reason: "Objects of this trust zone's own cache bucket (CodeBuild's S3 cache), used by this project alone.",
          },
        ]
      : []),
    ...(props.wildcards ?? []),
  ]);
  return project;
}

export interface BuildProjectProps {
  /** The trust zone's signing-key secret; the build signs the RPMs with it. */
  readonly signingKey: secretsmanager.ISecret;
  /** The trust zone's bucket for CodeBuild's S3 cache of upstream downloads (.cache/ket-packages). */
  readonly cacheBucket: s3.IBucket;
  /** The pipeline's artifact bucket. */
  readonly artifactBucket: s3.IBucket;
  /** What it builds for, in the description (staging, production). */
  readonly zone: string;
  /**
   * Compute size; the offline image bundle needs memory and disk.
   * @default ComputeType.MEDIUM
   */
  readonly computeType?: codebuild.ComputeType;
  /**
   * @default Duration.hours(2)
   */
  readonly timeout?: Duration;
}

/**
 * Runs buildspecs/build.yml for one trust zone: builds and signs every package of release.yaml and
 * exports the artifact's sha256. It can read its zone's signing key and cache, and is granted
 * nothing on any package repository.
 */
export class BuildProject extends Construct {
  readonly project: codebuild.PipelineProject;

  constructor(scope: Construct, id: string, props: BuildProjectProps) {
    super(scope, id);
    this.project = ketProject(this, 'Project', {
      description: `KET packages (${props.zone}): build and sign the RPM and DEB packages of release.yaml`,
      buildSpecFile: BUILDSPECS.build,
      environmentVariables: { KET_GPG_KEY_SECRET: props.signingKey.secretArn },
      computeType: props.computeType ?? codebuild.ComputeType.MEDIUM,
      timeout: props.timeout ?? Duration.hours(2),
      artifactBucket: props.artifactBucket,
      cache: { bucket: props.cacheBucket, prefix: 'build' },
    });
    props.signingKey.grantRead(this.project);
  }
}

export interface PublishProjectProps {
  /** The one repository this project may write. */
  readonly repository: PackageRepository;
  /** The repository's signing-key secret; the project signs the apt and yum metadata with it. */
  readonly signingKey: secretsmanager.ISecret;
  /** The pipeline's artifact bucket. */
  readonly artifactBucket: s3.IBucket;
  /** @default Duration.hours(1) */
  readonly timeout?: Duration;
}

/**
 * Runs buildspecs/publish.yml: adds the built packages to one repository. Its role can write
 * that repository's buckets (no deletes) and nothing else.
 */
export class PublishProject extends Construct {
  readonly project: codebuild.PipelineProject;

  constructor(scope: Construct, id: string, props: PublishProjectProps) {
    super(scope, id);
    const r = props.repository;
    this.project = ketProject(this, 'Project', {
      description: `KET packages: publish into the ${r.repositoryName} repository`,
      buildSpecFile: BUILDSPECS.publish,
      environmentVariables: {
        RPM_REPO: r.rpmBucket.bucketName,
        DEB_REPO: r.debBucket.bucketName,
        KET_STATE_URL: r.stateUrl,
        RPM_BASE_URL: r.rpmBaseUrl,
        DEB_BASE_URL: r.debBaseUrl,
        KET_GPG_KEY_SECRET: props.signingKey.secretArn,
      },
      computeType: codebuild.ComputeType.SMALL,
      timeout: props.timeout ?? Duration.hours(1),
      artifactBucket: props.artifactBucket,
      wildcards: [
        {
          resources: [
            r.rpmBucket.arnForObjects('*'),
            r.debBucket.arnForObjects('*'),
            r.stateBucket.arnForObjects(`${r.statePrefix}/locks/*`),
          ],
          reason: `Objects of the ${r.repositoryName} repository's own buckets and its lock objects in the state bucket: a publisher writes new package and metadata keys (deletes are denied by the bucket policy) and one lock object per bucket.`,
        },
      ],
    });
    r.grantPublish(this.project);
    props.signingKey.grantRead(this.project);
  }
}

export interface VerifyProjectProps {
  /** The repository to check, read over HTTPS through CloudFront like any client. */
  readonly repository: PackageRepository;
  /** The pipeline's artifact bucket. */
  readonly artifactBucket: s3.IBucket;
  /** @default Duration.minutes(30) */
  readonly timeout?: Duration;
}

/**
 * Runs buildspecs/verify.yml: installs the release's packages with real dnf and apt-get from the
 * repository's public URLs. It needs no S3 permission and no key.
 */
export class VerifyProject extends Construct {
  readonly project: codebuild.PipelineProject;

  constructor(scope: Construct, id: string, props: VerifyProjectProps) {
    super(scope, id);
    const r = props.repository;
    this.project = ketProject(this, 'Project', {
      description: `KET packages: verify the ${r.repositoryName} repository with dnf and apt-get`,
      buildSpecFile: BUILDSPECS.verify,
      environmentVariables: { RPM_URL: r.rpmBaseUrl, DEB_URL: r.debBaseUrl },
      computeType: codebuild.ComputeType.SMALL,
      timeout: props.timeout ?? Duration.minutes(30),
      artifactBucket: props.artifactBucket,
    });
  }
}
