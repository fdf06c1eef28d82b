import { bucketNameProblem } from '../util/bucket-name';
import { UserError } from '../util/errors';

// Apart from lib/publish/s3 (which loads the AWS SDK): option checks need it before the SDK loads.

/**
 * Parses s3://BUCKET/PREFIX into its parts; the prefix has no leading slash and ends with one if
 * non-empty. `what` starts each message (a field name, or the flag or variable the user typed).
 * @throws UserError for a value of another form, or naming the S3 naming rule its bucket breaks
 */
export function parseS3Url(url: string, what: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new UserError(`${what}: '${url}' is not an s3://BUCKET/PREFIX URL`);
  const problem = bucketNameProblem(m[1]);
  if (problem) throw new UserError(`${what}: '${url}': ${problem}`);
  const prefix = (m[2] ?? '').replace(/^\/+/, '').replace(/\/*$/, '');
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : '' };
}
