/**
 * What AWS S3 refuses among the requests this project and the AWS CLI send, checked before a
 * request reaches s3rver (which accepts some of them, and dies on others), and answered with S3's
 * own error code and status. Sources: Amazon S3 API Reference, "Error responses" (list of error
 * codes), "Bucket naming rules", "Naming Amazon S3 objects" (1,024-byte keys), "UploadPart"
 * (part numbers 1 to 10,000), "PutObject" (2 KB of user-defined metadata, Content-Length).
 */
export interface S3Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

export interface RequestFacts {
  readonly method: string;
  /** Raw request URL: path-style /BUCKET/KEY?QUERY. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** S3's bucket naming rules (general purpose buckets). */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'The bucket name must be between 3 and 63 characters long';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name))
    return 'Bucket names can contain only lowercase letters, numbers, dots and hyphens, and begin and end with a letter or number';
  if (name.includes('..')) return 'Bucket names must not contain two adjacent periods';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'Bucket names must not be formatted as an IP address';
  return undefined;
}

export const MAX_KEY_BYTES = 1024;
export const MAX_METADATA_BYTES = 2048;
/** The store keeps each key as a file path: one path segment is at most 255 bytes on its disk. */
export const MAX_SEGMENT_BYTES = 255;

/** Splits a path-style URL into bucket and key; undefined parts when absent or undecodable. */
export function splitPath(url: string): { bucket?: string; key?: string; query: URLSearchParams; undecodable?: boolean } {
  const u = new URL(url, 'http://x');
  const raw = u.pathname.slice(1);
  const i = raw.indexOf('/');
  try {
    const bucket = decodeURIComponent(i < 0 ? raw : raw.slice(0, i)) || undefined;
    const key = i < 0 ? undefined : decodeURIComponent(raw.slice(i + 1)) || undefined;
    return { bucket, key, query: u.searchParams };
  } catch {
    return { query: u.searchParams, undecodable: true };
  }
}

/** S3's refusal of a request, or undefined when S3 would take it. */
export function refusalOf(req: RequestFacts): S3Refusal | undefined {
  const { bucket, key, query, undecodable } = splitPath(req.url);
  if (undecodable) return { status: 400, code: 'InvalidURI', message: "Couldn't parse the specified URI." };
  if (!bucket) return undefined; // ListBuckets
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) return { status: 400, code: 'InvalidBucketName', message: `The specified bucket is not valid. ${bucketProblem}.` };
  if (key !== undefined) {
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) return { status: 400, code: 'KeyTooLongError', message: 'Your key is too long' };
    const segments = key.split('/');
    if (segments.some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES))
      return {
        status: 400,
        code: 'KeyTooLongError',
        message: `Your key is too long for the embedded store: each '/'-separated part is at most ${MAX_SEGMENT_BYTES} bytes here (S3 itself allows ${MAX_KEY_BYTES})`,
      };
    if (segments.some((s) => s === '.' || s === '..'))
      return { status: 400, code: 'InvalidArgument', message: "The embedded store does not hold keys with '.' or '..' path segments" };
  }
  const header = (n: string) => {
    const v = req.headers[n];
    return Array.isArray(v) ? v.join(',') : v;
  };
  if (key !== undefined && (req.method === 'PUT' || req.method === 'POST')) {
    const metadata = Object.entries(req.headers)
      .filter(([n]) => n.startsWith('x-amz-meta-'))
      .reduce((n, [name, v]) => n + Buffer.byteLength(name.slice('x-amz-meta-'.length)) + Buffer.byteLength(String(v ?? '')), 0);
    if (metadata > MAX_METADATA_BYTES)
      return {
        status: 400,
        code: 'MetadataTooLarge',
        message: `Your metadata headers exceed the maximum allowed metadata size (${MAX_METADATA_BYTES} bytes)`,
      };
  }
  if (req.method === 'PUT' && key !== undefined) {
    if (query.has('partNumber')) {
      const n = query.get('partNumber')!;
      if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > 10000)
        return { status: 400, code: 'InvalidArgument', message: 'Part number must be an integer between 1 and 10000, inclusive' };
      if (!query.get('uploadId')) return { status: 400, code: 'InvalidRequest', message: 'A part upload needs an uploadId' };
    }
    const copy = header('x-amz-copy-source') !== undefined;
    const chunked = /chunked/i.test(header('transfer-encoding') ?? '') && header('x-amz-decoded-content-length') === undefined;
    if (!copy && (header('content-length') === undefined || chunked))
      return { status: 411, code: 'MissingContentLength', message: 'You must provide the Content-Length HTTP header.' };
  }
  return undefined;
}
