import { isBucketName } from '../util/bucket-name';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectCommandInput,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { UserError } from '../util/errors';

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

/** Parses s3://BUCKET/PREFIX into its parts; the prefix has no leading slash and ends with one if non-empty. */
export function parseS3Url(url: string, what: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m || !isBucketName(m[1])) throw new UserError(`${what}: '${url}' is not an s3://BUCKET/PREFIX URL`);
  const prefix = (m[2] ?? '').replace(/^\/+/, '').replace(/\/*$/, '');
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : '' };
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

/** Fails with a clear message when a bucket is missing or unreachable, before anything is written. */
export async function assertBucket(target: S3Target, bucket: string, role: string): Promise<void> {
  try {
    await target.client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (e) {
    if (isS3Error(e, 'NotFound', 'NoSuchBucket', '404')) {
      throw new UserError(
        `${role} bucket '${bucket}' does not exist${target.endpoint ? ` at ${target.endpoint}` : ''}; create it first (cdk deploy, or 'ket-packages local' for the embedded store)`,
      );
    }
    throw describeS3Error(e, target, `${role} bucket '${bucket}'`);
  }
}

export async function getObjectBytes(target: S3Target, bucket: string, key: string): Promise<{ body: Buffer; etag: string } | undefined> {
  try {
    const out = await target.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    return { body, etag: out.ETag ?? '' };
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return undefined;
    throw describeS3Error(e, target, `reading s3://${bucket}/${key}`);
  }
}

export async function headObject(
  target: S3Target,
  bucket: string,
  key: string,
): Promise<{ etag: string; size: number; metadata: Record<string, string> } | undefined> {
  try {
    const out = await target.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { etag: out.ETag ?? '', size: out.ContentLength ?? 0, metadata: out.Metadata ?? {} };
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return undefined;
    throw describeS3Error(e, target, `checking s3://${bucket}/${key}`);
  }
}

/** How long a CDN and clients may cache an object: packages and by-hash files never change. */
export const CACHE_IMMUTABLE = 'public, max-age=31536000, immutable';
export const CACHE_METADATA = 'public, max-age=60';

export interface PutOptions {
  readonly cacheControl: string;
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
  /** Create only: the store answers 412 if the key exists (AWS conditional write). */
  readonly ifNoneMatch?: '*';
  readonly ifMatch?: string;
}

export async function putObject(target: S3Target, bucket: string, key: string, body: Buffer | string, opts: PutOptions): Promise<string> {
  const input: PutObjectCommandInput = {
    Bucket: bucket,
    Key: key,
    Body: body,
    CacheControl: opts.cacheControl,
    ContentType: opts.contentType ?? contentTypeOf(key),
    Metadata: opts.metadata,
    IfNoneMatch: opts.ifNoneMatch,
    IfMatch: opts.ifMatch,
  };
  const out = await target.client.send(new PutObjectCommand(input));
  return out.ETag ?? '';
}

export async function putFile(target: S3Target, bucket: string, key: string, file: string, opts: PutOptions): Promise<void> {
  const { size } = await stat(file);
  await target.client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      // Small files go as a buffer: the SDK can retry them, and does not log a refused
      // conditional write of a stream as an error.
      Body: size < 64 * 1024 * 1024 ? await readFile(file) : createReadStream(file),
      ContentLength: size,
      CacheControl: opts.cacheControl,
      ContentType: opts.contentType ?? contentTypeOf(key),
      Metadata: opts.metadata,
      IfNoneMatch: opts.ifNoneMatch,
    }),
  );
}

export function contentTypeOf(key: string): string {
  if (key.endsWith('.rpm')) return 'application/x-rpm';
  if (key.endsWith('.deb')) return 'application/vnd.debian.binary-package';
  if (key.endsWith('.xml')) return 'application/xml';
  if (key.endsWith('.gz')) return 'application/gzip';
  if (key.endsWith('.bz2')) return 'application/x-bzip2';
  if (key.endsWith('.xz')) return 'application/x-xz';
  if (key.endsWith('.asc') || key.endsWith('.key') || key.endsWith('.gpg')) return 'application/pgp-signature';
  return 'text/plain';
}
