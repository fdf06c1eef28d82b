import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { describeS3Error, isS3Error, S3Target } from '../publish/s3';
import { UserError } from '../util/errors';

/**
 * Server-side object operations of the clone: nothing is downloaded to copy it. S3 copies an
 * object of up to 5 GiB in one CopyObject; a larger one is copied in parts with UploadPartCopy
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/CopyingObjectsExamples.html).
 */
export const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
/** Part size of a multipart copy: 10,000 parts of 512 MiB reach 5 TiB, S3's largest object. */
export const DEFAULT_PART_BYTES = 512 * 1024 ** 2;

export interface ObjectHeaders {
  readonly size: number;
  readonly contentType?: string;
  readonly cacheControl?: string;
  readonly metadata: Record<string, string>;
}

/** HEAD of an object: undefined when it does not exist. @throws UserError on any other failure. */
export async function headObjectHeaders(target: S3Target, bucket: string, key: string): Promise<ObjectHeaders | undefined> {
  try {
    const out = await target.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: out.ContentLength ?? 0, contentType: out.ContentType, cacheControl: out.CacheControl, metadata: out.Metadata ?? {} };
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return undefined;
    throw describeS3Error(e, target, `checking s3://${bucket}/${key}`);
  }
}

/** S3 wants the copy source URL-encoded, '/' kept. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

export interface CopyRequest {
  readonly sourceBucket: string;
  readonly sourceKey: string;
  readonly bucket: string;
  readonly key: string;
  /** Size of the source object in bytes (from the signed metadata). */
  readonly size: number;
  /** Headers to set instead of keeping the source's (MetadataDirective REPLACE). */
  readonly headers?: { readonly contentType?: string; readonly cacheControl?: string; readonly metadata?: Record<string, string> };
}

export interface CopySettings {
  /** Objects above this many bytes are copied in parts. @default MAX_SINGLE_COPY_BYTES */
  readonly multipartThresholdBytes?: number;
  /** @default DEFAULT_PART_BYTES */
  readonly partBytes?: number;
}

/**
 * Copies one object server side, keeping its Content-Type, Cache-Control and user metadata
 * (sha256) unless `headers` replaces them.
 * @throws UserError naming both objects.
 */
export async function copyObject(target: S3Target, req: CopyRequest, settings: CopySettings = {}): Promise<void> {
  const what = `copying s3://${req.sourceBucket}/${req.sourceKey} to s3://${req.bucket}/${req.key}`;
  if (req.size > (settings.multipartThresholdBytes ?? MAX_SINGLE_COPY_BYTES)) return copyInParts(target, req, settings, what);
  try {
    await target.client.send(
      new CopyObjectCommand({
        Bucket: req.bucket,
        Key: req.key,
        CopySource: copySource(req.sourceBucket, req.sourceKey),
        ...(req.headers
          ? {
              MetadataDirective: 'REPLACE',
              ContentType: req.headers.contentType,
              CacheControl: req.headers.cacheControl,
              Metadata: req.headers.metadata,
            }
          : { MetadataDirective: 'COPY' }),
      }),
    );
  } catch (e) {
    throw describeS3Error(e, target, what);
  }
}

async function copyInParts(target: S3Target, req: CopyRequest, settings: CopySettings, what: string): Promise<void> {
  // A multipart upload starts with the headers: read the source's unless they are given.
  const source = await headObjectHeaders(target, req.sourceBucket, req.sourceKey);
  if (!source) throw new UserError(`${what}: the source object is missing`);
  const headers = req.headers ?? source;
  const partBytes = settings.partBytes ?? DEFAULT_PART_BYTES;
  let uploadId: string | undefined;
  try {
    uploadId = (
      await target.client.send(
        new CreateMultipartUploadCommand({
          Bucket: req.bucket,
          Key: req.key,
          ContentType: headers.contentType,
          CacheControl: headers.cacheControl,
          Metadata: headers.metadata ?? source.metadata,
        }),
      )
    ).UploadId;
    const parts: Array<{ ETag: string; PartNumber: number }> = [];
    for (let start = 0, n = 1; start < source.size; start += partBytes, n++) {
      const end = Math.min(start + partBytes, source.size) - 1;
      const out = await target.client.send(
        new UploadPartCopyCommand({
          Bucket: req.bucket,
          Key: req.key,
          UploadId: uploadId,
          PartNumber: n,
          CopySource: copySource(req.sourceBucket, req.sourceKey),
          CopySourceRange: `bytes=${start}-${end}`,
        }),
      );
      parts.push({ ETag: out.CopyPartResult?.ETag ?? '', PartNumber: n });
    }
    await target.client.send(
      new CompleteMultipartUploadCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
    );
  } catch (e) {
    if (uploadId)
      await target.client
        .send(new AbortMultipartUploadCommand({ Bucket: req.bucket, Key: req.key, UploadId: uploadId }))
        .catch(() => undefined);
    throw e instanceof UserError ? e : describeS3Error(e, target, `${what} (in parts)`);
  }
}

/** Objects up to this size are hashed by reading them when they carry no sha256 metadata. */
const HASH_BY_READING_MAX = 64 * 1024 * 1024;

/**
 * Whether an object holds exactly the content with this SHA-256: by its `sha256` metadata (what
 * publish and the clone record), else by reading and hashing it. ETags are never compared: a
 * multipart copy changes them.
 */
export async function holdsContent(target: S3Target, bucket: string, key: string, sha256: string, size: number): Promise<boolean> {
  const head = await headObjectHeaders(target, bucket, key);
  if (!head || head.size !== size) return false;
  if (head.metadata.sha256) return head.metadata.sha256 === sha256;
  if (size > HASH_BY_READING_MAX) return false;
  try {
    const out = await target.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const body = Buffer.from(await out.Body!.transformToByteArray());
    return createHash('sha256').update(body).digest('hex') === sha256;
  } catch (e) {
    if (isS3Error(e, 'NoSuchKey', 'NotFound', '404')) return false;
    throw describeS3Error(e, target, `reading s3://${bucket}/${key}`);
  }
}

/**
 * Deletes keys, 1,000 per request (S3's limit). On a versioned bucket this adds delete markers:
 * the removed versions stay recoverable until the bucket's noncurrent-version expiry.
 * @throws UserError listing the keys S3 refused.
 * @param onDeleted called with each batch once S3 confirmed its removal (to print it as it happens).
 */
export async function deleteKeys(
  target: S3Target,
  bucket: string,
  keys: readonly string[],
  onDeleted?: (batch: readonly string[]) => void,
): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const out = await target.client
      .send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }))
      .catch((e: unknown) => {
        throw describeS3Error(e, target, `removing ${batch.length} object(s) from s3://${bucket}`);
      });
    if (out.Errors?.length)
      throw new UserError(
        `removing objects from s3://${bucket}: ${out.Errors.length} refused: ${out.Errors.slice(0, 10)
          .map((e) => `${e.Key} (${e.Code})`)
          .join(', ')}`,
      );
    onDeleted?.(batch);
  }
}
