import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { CACHE_IMMUTABLE, CACHE_METADATA } from './layout';
import { Bucket, describeS3Error, getObjectBytes, headObject, isS3Error } from './s3';

/**
 * Writes into a bucket: the one module both repositories (and the lock) write through.
 * Conditional writes are AWS S3's: `If-None-Match: *` creates only, `If-Match: ETAG` replaces only
 * that version; both answer 412 PreconditionFailed otherwise.
 */
export interface PutOptions {
  readonly cacheControl: string;
  readonly contentType?: string;
  readonly metadata?: Record<string, string>;
  /** Create only: the store answers 412 if the key exists. */
  readonly ifNoneMatch?: '*';
  readonly ifMatch?: string;
}

/** Writes a small in-memory object in one PutObject; returns its ETag. */
export async function putBytes(b: Bucket, key: string, body: Buffer | string, opts: PutOptions): Promise<string> {
  const out = await b.s3.client.send(
    new PutObjectCommand({
      Bucket: b.name,
      Key: key,
      Body: body,
      CacheControl: opts.cacheControl,
      ContentType: opts.contentType ?? contentTypeOf(key),
      Metadata: opts.metadata,
      IfNoneMatch: opts.ifNoneMatch,
      IfMatch: opts.ifMatch,
    }),
  );
  return out.ETag ?? '';
}

/**
 * Part size of multipart uploads (S3: 5 MiB to 5 GiB, at most 10,000 parts: 8 MiB covers 80 GiB).
 * lib-storage holds each part in flight in memory (queueSize of them per upload, and the RPM and
 * DEB of a bundle upload at once): 16 MiB parts took a publish with a 100 MiB package to 300 MiB
 * of RSS, 8 MiB parts to 195 MiB, at the same throughput (README, "Benchmark").
 */
export const PART_SIZE = 8 * 1024 * 1024;

/**
 * Uploads a file: up to PART_SIZE its bytes in one PutObject; above, a multipart upload with
 * @aws-sdk/lib-storage (the image bundle is GBs), with progress reported through the logger every
 * 10%. `ifNoneMatch: '*'` goes on the PutObject or on CompleteMultipartUpload, where AWS S3 checks
 * it (lib-storage passes the upload's parameters to the completion).
 */
export async function uploadFile(b: Bucket, key: string, file: string, opts: PutOptions & { readonly logger?: Logger }): Promise<void> {
  const { size } = await stat(file);
  // lib-storage would read the file's stream into one part and send the same single PutObject,
  // with ~20% more CPU per file on the publish's one JavaScript thread (24 files of 64 KiB: 54 ms
  // against 67-80 ms); a publish sends dozens of small files.
  if (size <= PART_SIZE) {
    await putBytes(b, key, await readFile(file), opts);
    return;
  }
  const upload = new Upload({
    client: b.s3.client,
    partSize: PART_SIZE,
    queueSize: 4,
    leavePartsOnError: false,
    params: {
      Bucket: b.name,
      Key: key,
      Body: createReadStream(file),
      ContentLength: size,
      CacheControl: opts.cacheControl,
      ContentType: opts.contentType ?? contentTypeOf(key),
      Metadata: opts.metadata,
      IfNoneMatch: opts.ifNoneMatch,
      IfMatch: opts.ifMatch,
    },
  });
  if (opts.logger && size > PART_SIZE) {
    let shown = 0;
    upload.on('httpUploadProgress', (p) => {
      const pct = Math.floor(((p.loaded ?? 0) * 100) / size);
      if (pct >= shown + 10) {
        shown = pct - (pct % 10);
        opts.logger!.info(`${b.label}: ${key}: ${shown}% of ${Math.round(size / 1048576)} MiB uploaded`);
      }
    });
  }
  await upload.done();
}

/**
 * Uploads a package create-only; if it is already there, it must carry the same sha256.
 * A file of more than one part is looked up first: after a crash, a re-run finds the packages that
 * were complete by their sha256 metadata and does not send their bytes again (create-only would
 * refuse them only after the last part).
 */
export async function putCreateOnly(b: Bucket, key: string, file: string, sha256: string, logger?: Logger): Promise<void> {
  if ((await stat(file)).size > PART_SIZE) {
    const head = await headObject(b, key);
    if (head) {
      if (head.metadata.sha256 !== sha256)
        throw new UserError(
          `${b.label}: ${key} is already published with different content (sha256 ${head.metadata.sha256 ?? 'unknown'}); not replaced`,
        );
      logger?.info(`${b.label}: ${key} is already complete in the bucket (same sha256); not sent again`);
      return;
    }
  }
  try {
    await uploadFile(b, key, file, { cacheControl: CACHE_IMMUTABLE, ifNoneMatch: '*', metadata: { sha256 }, logger });
  } catch (e) {
    if (!isS3Error(e, 'PreconditionFailed', '412')) throw describeS3Error(e, b.s3, `${b.label}: uploading ${key}`);
    const head = await headObject(b, key);
    if (head?.metadata.sha256 !== sha256) {
      throw new UserError(
        `${b.label}: ${key} appeared with different content (sha256 ${head?.metadata.sha256 ?? 'unknown'}) while publishing; not replaced`,
      );
    }
  }
}

/**
 * Uploads a hashed metadata file create-only: an existing one of that name has the same bytes.
 * @returns true when this call created it, false when it was there already
 */
export async function putHashed(b: Bucket, key: string, file: string): Promise<boolean> {
  try {
    await uploadFile(b, key, file, { cacheControl: CACHE_IMMUTABLE, ifNoneMatch: '*' });
    return true;
  } catch (e) {
    // Same hashed name = same bytes (written by an earlier, interrupted run).
    if (!isS3Error(e, 'PreconditionFailed', '412')) throw describeS3Error(e, b.s3, `${b.label}: uploading ${key}`);
    return false;
  }
}

/**
 * Writes a small object only when its content differs (a re-publish changes nothing).
 * @param known the object as already read under the publish's lock (undefined inside: absent);
 *   read here when not given
 */
export async function writeIfChanged(
  b: Bucket,
  key: string,
  content: string,
  cacheControl = CACHE_METADATA,
  known?: Promise<{ body: Buffer } | undefined>,
): Promise<boolean> {
  const current = await (known ?? getObjectBytes(b, key));
  if (current && current.body.toString('utf8') === content) return false;
  await putBytes(b, key, content, { cacheControl });
  return true;
}

export function contentTypeOf(key: string): string {
  if (key.endsWith('.rpm')) return 'application/x-rpm';
  if (key.endsWith('.deb')) return 'application/vnd.debian.binary-package';
  if (key.endsWith('.xml')) return 'application/xml';
  if (key.endsWith('.gz')) return 'application/gzip';
  if (key.endsWith('.bz2')) return 'application/x-bzip2';
  if (key.endsWith('.xz')) return 'application/x-xz';
  if (key.endsWith('.zst')) return 'application/zstd';
  if (key.endsWith('.asc') || key.endsWith('.key') || key.endsWith('.gpg')) return 'application/pgp-signature';
  return 'text/plain';
}
