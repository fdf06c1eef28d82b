import * as http from 'node:http';
import { listenOnLoopback } from '../../support/loopback';

/** One HTTP request a client sent to the S3 endpoint, and the status it got. */
export interface RecordedS3Request {
  readonly method: string;
  /** Path-style: /BUCKET or /BUCKET/KEY (decoded). */
  readonly bucket: string;
  readonly key?: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly status: number;
}

/** What IAM authorizes for one S3 request: an action on a resource, with the request's condition keys. */
export interface IamRequest {
  readonly action: string;
  readonly resource: string;
  readonly context: Record<string, string | string[]>;
  /** Where the request came from, for failure messages. */
  readonly why: string;
}

export interface S3Recorder {
  /** Give this to the client as its S3 endpoint (path-style). */
  readonly endpoint: string;
  readonly requests: RecordedS3Request[];
  close(): Promise<void>;
}

/**
 * A pass-through HTTP proxy in front of an S3 endpoint (the embedded store) that records every
 * request the client really sends: method, bucket, key, query and headers, and the response
 * status. Test support only; the store itself enforces S3's semantics.
 */
export async function startS3Recorder(target: string): Promise<S3Recorder> {
  const t = new URL(target);
  const requests: RecordedS3Request[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
    const up = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
      (upRes) => {
        requests.push({
          method: req.method ?? '',
          bucket: decodeURIComponent(bucket),
          key: key === '' ? undefined : key,
          query: url.searchParams,
          headers: req.headers,
          status: upRes.statusCode ?? 0,
        });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  return { ...(await listenOnLoopback(server)), requests };
}

/**
 * The IAM authorization each S3 request needs, after the S3 documentation's "Actions, resources
 * and condition keys for Amazon S3" and the API reference of each operation:
 *   - HeadBucket and ListObjects(V2) are s3:ListBucket on the bucket (ListObjects carries s3:prefix;
 *     HeadBucket carries none);
 *   - GetObject/HeadObject are s3:GetObject on the object (s3:GetObjectVersion with versionId); a
 *     missing key answers 404 only when the caller also has s3:ListBucket, 403 otherwise, so a
 *     404 the code relies on needs both;
 *   - PutObject, CreateMultipartUpload, UploadPart and CompleteMultipartUpload are s3:PutObject
 *     (x-amz-acl adds s3:PutObjectAcl); CopyObject/UploadPartCopy also read the source object;
 *   - AbortMultipartUpload, ListParts, ListMultipartUploads, GetBucketLocation, DeleteObject(s).
 * `bucketArn` maps the bucket name a test used to the deployed bucket's ARN.
 */
export function iamRequestsOf(r: RecordedS3Request, bucketArn: (bucket: string) => string): IamRequest[] {
  const bucket = bucketArn(r.bucket);
  const q = r.query;
  const why = `${r.method} /${r.bucket}${r.key ? `/${r.key}` : ''}${[...q.keys()].length ? `?${[...q.keys()].join('&')}` : ''} → ${r.status}`;
  const base = { 'aws:SecureTransport': 'true' };
  const req = (action: string, resource: string, context: Record<string, string | string[]> = {}): IamRequest => ({
    action,
    resource,
    context: { ...base, ...context },
    why,
  });
  if (r.key === undefined) {
    if (r.method === 'HEAD') return [req('s3:ListBucket', bucket)];
    if (r.method === 'GET' && q.has('location')) return [req('s3:GetBucketLocation', bucket)];
    if (r.method === 'GET' && q.has('uploads')) return [req('s3:ListBucketMultipartUploads', bucket)];
    if (r.method === 'GET') {
      const prefix = q.get('prefix');
      return [req('s3:ListBucket', bucket, prefix !== null ? { 's3:prefix': prefix } : {})];
    }
    if (r.method === 'POST' && q.has('delete')) return [req('s3:DeleteObject', `${bucket}/*`)];
    throw new Error(`unmapped bucket request ${why}`);
  }
  const object = `${bucket}/${r.key}`;
  const acl = r.headers['x-amz-acl'] ? [req('s3:PutObjectAcl', object)] : [];
  switch (r.method) {
    case 'GET':
    case 'HEAD': {
      if (q.has('uploadId')) return [req('s3:ListMultipartUploadParts', object)];
      const read = req(q.has('versionId') ? 's3:GetObjectVersion' : 's3:GetObject', object);
      return r.status === 404 ? [read, req('s3:ListBucket', bucket)] : [read];
    }
    case 'PUT': {
      const source = r.headers['x-amz-copy-source'];
      const copy: IamRequest[] = [];
      if (typeof source === 'string') {
        const [srcPath, srcQuery] = decodeURIComponent(source).replace(/^\//, '').split('?');
        const [srcBucket, ...srcKey] = srcPath.split('/');
        copy.push(
          req(srcQuery?.includes('versionId') ? 's3:GetObjectVersion' : 's3:GetObject', `${bucketArn(srcBucket)}/${srcKey.join('/')}`),
        );
      }
      return [req('s3:PutObject', object), ...acl, ...copy];
    }
    case 'POST':
      return [req('s3:PutObject', object), ...acl];
    case 'DELETE':
      return [req(q.has('uploadId') ? 's3:AbortMultipartUpload' : 's3:DeleteObject', object)];
  }
  throw new Error(`unmapped object request ${why}`);
}
