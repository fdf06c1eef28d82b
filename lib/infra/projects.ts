import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge, acknowledgeExpectedWildcards } from './nag';
import { PackageRepository } from './package-repository';

/** Buildspec files, relative to the source root; each only installs tools and calls ket-packages. */
export const BUILDSPECS = {
  build: 'buildspecs/build.yml',
  publish: 'buildspecs/publish.yml',
  verify: 'buildspecs/verify.yml',
} as const;

interface KetProjectProps {
  readonly description: string;
  readonly buildSpecFile: string;
  readonly environmentVariables: Record<string, string>;
  readonly computeType: codebuild.ComputeType;
  readonly timeout: Duration;
  readonly cache?: codebuild.Cache;
}

/** A CodeBuild project fed by CodePipeline on the standard:7.0 (Ubuntu 22.04) image. */
function ketProject(scope: Construct, id: string, props: KetProjectProps): codebuild.PipelineProject {
  const project = new codebuild.PipelineProject(scope, id, {
    description: props.description,
    buildSpec: codebuild.BuildSpec.fromSourceFilename(props.buildSpecFile),
    environment: {
      buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
      computeType: props.computeType,
      // No Docker daemon needed: images are pulled daemonless by skopeo.
      privileged: false,
    },
    environmentVariables: Object.fromEntries(Object.entries(props.environmentVariables).map(([k, value]) => [k, { value }])),
    timeout: props.timeout,
    cache: props.cache,
  });
  acknowledge(project, [
    {
      id: 'AwsSolutions-CB4',
      reason:
        'Artifacts are packages published to public repositories; they are encrypted with the AWS-managed S3 key, and no customer KMS key is wanted (cost).',
    },
  ]);
  acknowledgeExpectedWildcards(
    project,
    "Object keys inside named buckets (pipeline artifacts, the download cache, the repository buckets, this repository's state prefix), the log group and report groups CodeBuild names after the project, and the action families of the artifact/cache grants; each role's exact actions and resources are asserted in test/infra.",
  );
  return project;
}

export interface BuildProjectProps {
  /** Secret holding the GPG key; the project reads it to sign the RPMs. */
  readonly signingKey: secretsmanager.ISecret;
  /** Bucket for CodeBuild's S3 cache of upstream downloads (.cache/ket-packages). */
  readonly cacheBucket: s3.IBucket;
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
 * Runs buildspecs/build.yml: builds and signs every package of release.yaml. It can read the
 * signing key and its download cache, and is granted nothing on any package repository.
 */
export class BuildProject extends Construct {
  readonly project: codebuild.PipelineProject;

  constructor(scope: Construct, id: string, props: BuildProjectProps) {
    super(scope, id);
    this.project = ketProject(this, 'Project', {
      description: 'KET packages: build and sign the RPM and DEB packages of release.yaml',
      buildSpecFile: BUILDSPECS.build,
      environmentVariables: { KET_GPG_KEY_SECRET: props.signingKey.secretArn },
      computeType: props.computeType ?? codebuild.ComputeType.MEDIUM,
      timeout: props.timeout ?? Duration.hours(2),
      cache: codebuild.Cache.bucket(props.cacheBucket, { prefix: 'build' }),
    });
    props.signingKey.grantRead(this.project);
  }
}

export interface PublishProjectProps {
  /** The one repository this project may write. */
  readonly repository: PackageRepository;
  /** Secret holding the GPG key; the project signs the apt and yum metadata with it. */
  readonly signingKey: secretsmanager.ISecret;
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
    });
    r.grantPublish(this.project);
    props.signingKey.grantRead(this.project);
  }
}

export interface VerifyProjectProps {
  /** The repository to check, read over HTTPS through CloudFront like any client. */
  readonly repository: PackageRepository;
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
    });
  }
}
