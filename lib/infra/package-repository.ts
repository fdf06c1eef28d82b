import { APT_REPOSITORY } from '../release/apt-layout';
import { SIGNED_ENTRY_FILES } from '../publish/layout';
import { CfnOutput, Duration, Fn, Stack } from 'aws-cdk-lib';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { privateBucketProps } from './buckets';

export interface PackageRepositoryProps {
  /** Repository name (lowercase); part of default bucket names, output names and the state prefix. */
  readonly repositoryName: string;
  /** Bucket that receives the S3 server access logs and CloudFront logs. */
  readonly accessLogsBucket: s3.IBucket;
  /**
   * First part of the default bucket names.
   * @default 'kismatic-packages'
   */
  readonly bucketNamePrefix?: string;
  /**
   * RPM (yum/dnf) bucket name.
   * @default - `${bucketNamePrefix}-${repositoryName}-rpm-${account}-${region}`
   */
  readonly rpmBucketName?: string;
  /**
   * DEB (apt) bucket name.
   * @default - `${bucketNamePrefix}-${repositoryName}-deb-${account}-${region}`
   */
  readonly debBucketName?: string;
  /**
   * Private bucket for the publisher's state (the repositories' lock objects); never served.
   * @default - `${bucketNamePrefix}-${repositoryName}-state-${account}-${region}`
   */
  readonly stateBucketName?: string;
  /**
   * How long a replaced object version (old metadata, mostly) is kept before it expires.
   * @default Duration.days(90)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * Default CloudFront TTL of repository metadata (repodata/*, dists/*, *.repo, public.key):
   * short, so a publish is visible to clients within it.
   * @default Duration.minutes(1)
   */
  readonly metadataTtl?: Duration;
  /**
   * Default CloudFront TTL of everything else (packages: a file name never changes content).
   * @default Duration.days(30)
   */
  readonly packageTtl?: Duration;
  /**
   * apt distribution and component the DEB repository publishes, for the apt line output.
   * @default { distribution: 'kismatic-xenial', component: 'main' }
   */
  readonly apt?: { readonly distribution: string; readonly component: string };
  /**
   * ARN of the one role that may delete and replace objects in the package buckets: the clone of
   * this (non-production) repository's trust zone, for a reset. Never set on production.
   * @default - nobody may delete
   */
  readonly resetRoleArn?: string;
}

/**
 * Path patterns of the rest of the repository metadata, which changes on every publish but is
 * not a signed entry file (those are SIGNED_ENTRY_PATHS, never cached): a short cache.
 */
export const METADATA_PATHS = {
  rpm: ['repodata/*', '*.repo'],
  deb: ['dists/*'],
} as const;

/**
 * Path patterns of the signed entry files (lib/publish/layout SIGNED_ENTRY_FILES: repomd.xml and
 * its .asc, InRelease, Release and Release.gpg, public.key, release.json and its .asc), of any
 * suite. A file and its signature are two objects: cached independently, a client could get the
 * new one with the old other half ("Bad GPG signature") for a whole TTL. These are never cached,
 * so the only window left is the milliseconds between the two origin writes. They come before
 * METADATA_PATHS: CloudFront takes the first behaviour whose pattern matches.
 */
export const SIGNED_ENTRY_PATHS = {
  rpm: [...SIGNED_ENTRY_FILES.rpm],
  deb: [...new Set(SIGNED_ENTRY_FILES.deb.map((p) => p.replace(/^dists\/[^/]+\//, 'dists/*/')))],
} as const;

/**
 * One package repository: a yum (RPM) and an apt (DEB) bucket, each private and served over
 * HTTPS by its own CloudFront distribution through origin access control, and a private state
 * bucket for the publisher. Buckets are versioned and retained when the stack is deleted.
 */
export class PackageRepository extends Construct {
  readonly repositoryName: string;
  readonly rpmBucket: s3.Bucket;
  readonly debBucket: s3.Bucket;
  readonly stateBucket: s3.Bucket;
  readonly rpmDistribution: cloudfront.Distribution;
  readonly debDistribution: cloudfront.Distribution;
  /** https://RPM-DISTRIBUTION (no trailing slash): the yum baseurl. */
  readonly rpmBaseUrl: string;
  /** https://DEB-DISTRIBUTION (no trailing slash): the apt URL. */
  readonly debBaseUrl: string;
  /** s3://STATE-BUCKET/REPOSITORY: where `ket-packages publish --state-url` keeps its state. */
  readonly stateUrl: string;
  /** Key prefix of the publisher state inside the state bucket. */
  readonly statePrefix: string;

  constructor(scope: Construct, id: string, props: PackageRepositoryProps) {
    super(scope, id);
    this.repositoryName = props.repositoryName;
    const prefix = props.bucketNamePrefix ?? 'kismatic-packages';
    // Tokens, so the names are globally unique without knowing the account at synth time.
    const defaultName = (kind: string) => Fn.join('-', [prefix, props.repositoryName, kind, Stack.of(this).account, Stack.of(this).region]);
    const expiry = props.noncurrentVersionExpiration ?? Duration.days(90);
    const bucket = (kind: 'rpm' | 'deb' | 'state', name: string | undefined) =>
      new s3.Bucket(this, `${kind[0].toUpperCase()}${kind.slice(1)}Bucket`, {
        ...privateBucketProps(),
        bucketName: name ?? defaultName(kind),
        versioned: true,
        serverAccessLogsBucket: props.accessLogsBucket,
        serverAccessLogsPrefix: `s3/${props.repositoryName}-${kind}/`,
        lifecycleRules: [
          { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: expiry, abortIncompleteMultipartUploadAfter: Duration.days(7) },
        ],
      });
    this.rpmBucket = bucket('rpm', props.rpmBucketName);
    this.debBucket = bucket('deb', props.debBucketName);
    this.stateBucket = bucket('state', props.stateBucketName);
    // Publishing never removes a package: no principal may delete from the package buckets, whatever
    // its IAM policy says (noncurrent versions still expire through the lifecycle rule).
    for (const b of [this.rpmBucket, this.debBucket]) {
      b.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'DenyDeletingPackages',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
          resources: [b.arnForObjects('*')],
          // The clone's reset removes current objects (delete markers, recoverable); versions never.
          ...(props.resetRoleArn ? { conditions: { ArnNotEquals: { 'aws:PrincipalArn': props.resetRoleArn } } } : {}),
        }),
      );
    }
    if (props.resetRoleArn) {
      for (const b of [this.rpmBucket, this.debBucket]) {
        b.addToResourcePolicy(
          new iam.PolicyStatement({
            sid: 'DenyDeletingVersions',
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['s3:DeleteObjectVersion'],
            resources: [b.arnForObjects('*')],
          }),
        );
      }
    }
    this.statePrefix = props.repositoryName;

    const metadataPolicy = new cloudfront.CachePolicy(this, 'MetadataCachePolicy', {
      comment: `KET ${props.repositoryName} repository metadata: short cache`,
      defaultTtl: props.metadataTtl ?? Duration.minutes(1),
      minTtl: Duration.seconds(0),
      maxTtl: Duration.minutes(5),
      enableAcceptEncodingGzip: true,
      enableAcceptEncodingBrotli: true,
    });
    const packagePolicy = new cloudfront.CachePolicy(this, 'PackageCachePolicy', {
      comment: `KET ${props.repositoryName} packages: long cache`,
      defaultTtl: props.packageTtl ?? Duration.days(30),
      minTtl: Duration.days(1),
      maxTtl: Duration.days(365),
    });
    const distribution = (kind: 'rpm' | 'deb', origin: s3.Bucket) => {
      const s3Origin = origins.S3BucketOrigin.withOriginAccessControl(origin);
      const behaviour = (cachePolicy: cloudfront.ICachePolicy): cloudfront.BehaviorOptions => ({
        origin: s3Origin,
        cachePolicy,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        compress: true,
      });
      const d = new cloudfront.Distribution(this, `${kind === 'rpm' ? 'Rpm' : 'Deb'}Distribution`, {
        comment: `KET packages: ${props.repositoryName} ${kind === 'rpm' ? 'yum' : 'apt'} repository`,
        defaultBehavior: behaviour(packagePolicy),
        additionalBehaviors: Object.fromEntries([
          ...SIGNED_ENTRY_PATHS[kind].map((p) => [p, behaviour(cloudfront.CachePolicy.CACHING_DISABLED)] as const),
          ...METADATA_PATHS[kind].map((p) => [p, behaviour(metadataPolicy)] as const),
        ]),
        httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
        priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
        enableLogging: true,
        logBucket: props.accessLogsBucket,
        logFilePrefix: `cloudfront/${props.repositoryName}-${kind}/`,
      });
      acknowledge(d, [
        {
          id: 'AwsSolutions-CFR1',
          reason: 'Package repositories are meant to be reachable from anywhere KET clusters run; no geo restriction.',
        },
        {
          id: 'AwsSolutions-CFR2',
          reason:
            'Static, read-only package files behind origin access control; a WAF web ACL would add cost without protecting anything writable.',
        },
        {
          id: 'AwsSolutions-CFR4',
          reason:
            'The distribution uses the default *.cloudfront.net certificate, whose TLS policy CloudFront fixes; a custom domain with its own certificate and TLSv1.2_2021 is outside this deployment.',
        },
      ]);
      return d;
    };
    this.rpmDistribution = distribution('rpm', this.rpmBucket);
    this.debDistribution = distribution('deb', this.debBucket);
    this.rpmBaseUrl = `https://${this.rpmDistribution.distributionDomainName}`;
    this.debBaseUrl = `https://${this.debDistribution.distributionDomainName}`;
    this.stateUrl = `s3://${this.stateBucket.bucketName}/${this.statePrefix}`;

    const apt = props.apt ?? APT_REPOSITORY;
    const outputs: Record<string, [string, string]> = {
      RpmBaseUrl: [this.rpmBaseUrl, 'yum/dnf baseurl'],
      YumRepoFileUrl: [`${this.rpmBaseUrl}/kismatic.repo`, 'ready-made yum/dnf client file (curl -o /etc/yum.repos.d/kismatic.repo URL)'],
      RpmPublicKeyUrl: [`${this.rpmBaseUrl}/public.key`, 'GPG key that signs the RPMs and repomd.xml'],
      DebBaseUrl: [this.debBaseUrl, 'apt repository URL'],
      AptSourceLine: [`deb ${this.debBaseUrl} ${apt.distribution} ${apt.component}`, 'line for /etc/apt/sources.list.d/kismatic.list'],
      DebPublicKeyUrl: [`${this.debBaseUrl}/public.key`, 'GPG key that signs the apt Release files'],
      StateUrl: [this.stateUrl, 'private publisher state (not served)'],
    };
    const outputPrefix = props.repositoryName.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());
    for (const [name, [value, description]] of Object.entries(outputs)) {
      // Stable, readable output names (ProductionYumRepoFileUrl) instead of hashed construct paths.
      new CfnOutput(this, name, { value, description: `${props.repositoryName}: ${description}` }).overrideLogicalId(
        `${outputPrefix}${name}`,
      );
    }
  }

  /**
   * Lets a publisher add packages and metadata: read, write and list the RPM and DEB buckets
   * (never delete: publishing must not lose a package), read and write the lock objects under
   * this repository's prefix of the state bucket (`PREFIX/locks/*`: a lock is taken with a
   * conditional PUT and released by overwriting it, never by a delete; nothing else of the state
   * place is read or written since aptly keeps no database there), and list the state bucket
   * without a prefix condition: HeadBucket (the bucket check before any write) and a GET of a key
   * that does not exist yet (the first publish has no lock object) carry no prefix, and S3 answers
   * them 403 instead of 200/404 without s3:ListBucket on the bucket. Listing shows key names of
   * this one private bucket, which holds nothing but publisher state.
   */
  grantPublish(grantee: iam.IGrantable): iam.Grant {
    const repoGrant = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resourceArns: [this.rpmBucket.arnForObjects('*'), this.debBucket.arnForObjects('*')],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket', 's3:GetBucketLocation', 's3:ListBucketMultipartUploads'],
      resourceArns: [this.rpmBucket.bucketArn, this.debBucket.bucketArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject', 's3:PutObject'],
      resourceArns: [this.stateBucket.arnForObjects(`${this.statePrefix}/locks/*`)],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resourceArns: [this.stateBucket.bucketArn],
    });
    return repoGrant;
  }

  /** Lets a reader (a clone source, for example) get and list the RPM and DEB buckets. */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    const objects = iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.rpmBucket.arnForObjects('*'), this.debBucket.arnForObjects('*')],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket', 's3:GetBucketLocation'],
      resourceArns: [this.rpmBucket.bucketArn, this.debBucket.bucketArn],
    });
    return objects;
  }
}
