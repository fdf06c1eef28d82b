import * as http from 'node:http';
import { s3ErrorXml } from './conditional';

/**
 * UploadPartCopy (PUT ?partNumber&uploadId with x-amz-copy-source), which s3rver 3.7.1 answers
 * NotImplemented: the proxy reads the source range from s3rver and uploads it as the part, so the
 * clone's copy of objects over 5 GiB (lib/clone/objects.ts) runs against the embedded store as
 * against S3 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_UploadPartCopy.html).
 */
export function isUploadPartCopy(req: http.IncomingMessage): boolean {
  if (req.method !== 'PUT' || req.headers['x-amz-copy-source'] === undefined) return false;
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  return q.has('partNumber') && q.has('uploadId');
}

function backend(port: number, method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers }, (resp) => {
      const chunks: Buffer[] = [];
      resp.on('data', (d: Buffer) => chunks.push(d));
      resp.on('end', () => resolve({ status: resp.statusCode ?? 502, headers: resp.headers, body: Buffer.concat(chunks) }));
      resp.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

export async function uploadPartCopy(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  backendPort: number,
  counted: { read(n: number): void },
): Promise<void> {
  req.resume();
  const source = String(req.headers['x-amz-copy-source']).replace(/^\//, '');
  const [bucket, ...key] = source.split('/');
  const sourcePath = `/${bucket}/${key.map((k) => encodeURIComponent(decodeURIComponent(k))).join('/')}`;
  const range = req.headers['x-amz-copy-source-range'] as string | undefined;
  const got = await backend(backendPort, 'GET', sourcePath, range ? { range } : {});
  if (got.status !== 200 && got.status !== 206) {
    res.writeHead(got.status, { 'content-type': 'application/xml' });
    res.end(got.body.length ? got.body : s3ErrorXml('NoSuchKey', `copy source ${source}: ${got.status}`));
    return;
  }
  const put = await backend(backendPort, 'PUT', req.url ?? '/', { 'content-length': got.body.length }, got.body);
  if (put.status !== 200) {
    res.writeHead(put.status, { 'content-type': 'application/xml' });
    res.end(put.body);
    return;
  }
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<CopyPartResult><LastModified>${new Date().toISOString()}</LastModified><ETag>${String(put.headers.etag ?? '')}</ETag></CopyPartResult>`;
  counted.read(Buffer.byteLength(body));
  res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
