import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Settings every bucket of this project shares: private, TLS only, encrypted, retained. */
export function privateBucketProps(): Pick<s3.BucketProps, 'blockPublicAccess' | 'enforceSSL' | 'encryption' | 'removalPolicy'> {
  return {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    // SSE-S3: CloudFront's origin access control reads it without a KMS key policy, and no key costs money.
    encryption: s3.BucketEncryption.S3_MANAGED,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}

export interface AccessLogBucketProps {
  /**
   * Days access logs are kept.
   * @default 365
   */
  readonly retentionDays?: number;
}

/**
 * Target of the S3 server access logs and CloudFront standard logs of one stack. CloudFront
 * delivers its logs with an ACL grant, so this bucket keeps object-writer ownership (ACLs on).
 */
export class AccessLogBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogBucketProps = {}) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...privateBucketProps(),
      objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(props.retentionDays ?? 365) }],
    });
  }
}
