import { GetObjectCommand, HeadBucketCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { UserError } from '../util/errors';

export { parseS3Url } from './s3-url';

/**
 * S3 access for publishing. The endpoint comes from the standard AWS configuration
 * (AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL) and is passed on explicitly, because the tools we
 * drive (aws CLI 2.9, aptly) do not read those variables themselves; a custom endpoint implies
 * path-style addressing (s3rver, MinIO and friends).
 */
export interface S3Target {
  readonly client: S3Client;
  /** Custom endpoint URL, or undefined for AWS itself. */
  readonly endpoint?: string;
  readonly region: string;
}

export function endpointFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
}

export function regionFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
}

export function s3TargetFromEnv(env: NodeJS.ProcessEnv = process.env): S3Target {
  const endpoint = endpointFromEnv(env);
  const region = regionFromEnv(env);
  const client = new S3Client({
    region,
    endpoint,
    forcePathStyle: endpoint !== undefined,
    // Keys in the given environment win; otherwise the SDK's default chain (profiles, roles).
    credentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            sessionToken: env.AWS_SESSION_TOKEN || undefined,
          }
        : undefined,
    // Fail fast against a wrong endpoint instead of retrying for a minute.
    maxAttempts: 3,
    // The SDK's default CRC32 checksums on every PUT are not understood by every S3-compatible
    // server; content integrity is carried by the repository metadata itself.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return { client, endpoint, region };
}

/** Public HTTP URL of a bucket: path style on a custom endpoint, virtual-host style on AWS. */
export function bucketHttpUrl(target: Pick<S3Target, 'endpoint' | 'region'>, bucket: string): string {
  if (target.endpoint) return `${target.endpoint.replace(/\/+$/, '')}/${bucket}`;
  return `https://${bucket}.s3.${target.region}.amazonaws.com`;
}

export function isS3Error(e: unknown, ...names: string[]): e is S3ServiceException {
  if (!(e instanceof S3ServiceException)) return false;
  const status = e.$metadata?.httpStatusCode;
  return names.some((n) => e.name === n || (n === '404' && status === 404) || (n === '412' && status === 412));
}

/** Describes an SDK failure the way a release engineer can act on it. */
export function describeS3Error(e: unknown, target: S3Target, what: string): UserError {
  const where = target.endpoint ? ` at ${target.endpoint}` : '';
  const err = e as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  if (
    err.code === 'ECONNREFUSED' ||
    err.code === 'ENOTFOUND' ||
    err.name === 'TimeoutError' ||
    /ECONNREFUSED|ENOTFOUND|getaddrinfo/.test(String(err.message))
  ) {
    return new UserError(
      `${what}: cannot reach the S3 endpoint${where} (${err.code ?? err.message}); check AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL`,
    );
  }
  if (err.name === 'NoSuchBucket') return new UserError(`${what}: the bucket does not exist${where}`);
  if (err.name === 'AccessDenied' || err.$metadata?.httpStatusCode === 403)
    return new UserError(`${what}: access denied${where}; check the AWS credentials and the bucket policy`);
  if (err.name === 'InvalidAccessKeyId' || err.name === 'CredentialsProviderError')
    return new UserError(`${what}: no valid AWS credentials (${err.message})`);
  return new UserError(`${what}: ${err.name}: ${err.message}${where}`);
}

/**
 * One bucket as the publisher uses it: the connection, the bucket's name, and what it is for
 * messages ("RPM repository s3://kismatic-rpm"). Every object operation takes one of these.
 */
export interface Bucket {
  readonly s3: S3Target;
  readonly name: string;
  /** e.g. "RPM repository s3://NAME": starts every message about this bucket. */
  readonly label: string;
}

export function bucketOf(s3: S3Target, name: string, role: string): Bucket {
  return { s3, name, label: `${role} s3://${name}` };
}

/** Fails with a clear message when a bucket is missing or unreachable, before anything is written. */
export async function assertBucket(b: Bucket): Promise<void> {
  try {
    await b.s3.client.send(new HeadBucketCommand({ Bucket: b.name }));
  } catch (e) {
    if (isS3Error(e, 'NotFound', 'NoSuchBucket', '404')) {
      throw new UserError(
        `${b.label}: the bucket does not exist${b.s3.endpoint ? ` at ${b.s3.endpoint}` : ''}; create it first (cdk deploy, or 'ket-packages local' for the embedded store)`,
      );
    }
    throw describeS3Error(e, b.s3, b.label);
  }
}

/** An object's bytes and ETag; undefined when the key does not exist. Errors name the bucket and key. */
export async function getObjectBytes(b: Bucket, key: string): Promise<{ body: Buffer; etag: string } | undefined> {
  try {
    const out = await b.s3.client.send(new GetObjectCommand({ Bucket: b.name, Key: key }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    return { body, etag: out.ETag ?? '' };
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return undefined;
    throw describeS3Error(e, b.s3, `${b.label}: reading ${key}`);
  }
}

/**
 * An object's body as a stream (for a consumer that works as the bytes arrive); undefined when the
 * key does not exist. The caller must read or destroy `body`.
 * @throws UserError naming the bucket and key for any other S3 error (before the body starts)
 */
export async function getObjectStream(b: Bucket, key: string): Promise<{ body: Readable; etag: string } | undefined> {
  try {
    const out = await b.s3.client.send(new GetObjectCommand({ Bucket: b.name, Key: key }));
    return { body: out.Body as Readable, etag: out.ETag ?? '' };
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return undefined;
    throw describeS3Error(e, b.s3, `${b.label}: reading ${key}`);
  }
}

export async function headObject(
  b: Bucket,
  key: string,
): Promise<{ etag: string; size: number; metadata: Record<string, string> } | undefined> {
  try {
    const out = await b.s3.client.send(new HeadObjectCommand({ Bucket: b.name, Key: key }));
    return { etag: out.ETag ?? '', size: out.ContentLength ?? 0, metadata: out.Metadata ?? {} };
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return undefined;
    throw describeS3Error(e, b.s3, `${b.label}: checking ${key}`);
  }
}
