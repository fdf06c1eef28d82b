/**
 * S3 general purpose bucket naming rules, as AWS states them in the S3 User Guide, "General
 * purpose bucket naming rules" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
 * 3-63 characters; only lowercase letters, digits, dots and hyphens; beginning and ending with a
 * letter or digit; no two adjacent dots; not formatted as an IP address; not starting with the
 * reserved prefixes xn--, sthree- or amzn-s3-demo-; not ending with the reserved suffixes
 * -s3alias, --ol-s3, .mrap, --x-s3 or --table-s3.
 *
 * Each rule is checked on its own so a refusal can say which one was broken (bucketNameProblem);
 * BUCKET_NAME_PATTERN states the same rules as one pattern for JSON schemas (lib/config/schema.ts),
 * and a unit test keeps the two in agreement.
 */
export const BUCKET_NAME_PATTERN =
  '^(?!xn--|sthree-|amzn-s3-demo-)(?!.*\\.\\.)(?!\\d+\\.\\d+\\.\\d+\\.\\d+$)(?!.*(?:-s3alias|--ol-s3|\\.mrap|--x-s3|--table-s3)$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';

const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'] as const;
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'] as const;

/**
 * The first S3 naming rule `name` breaks, as a sentence stating the rule and what in the name
 * breaks it (e.g. "bucket name 'st' is 2 characters long; S3 bucket names are 3 to 63
 * characters"), or undefined for a valid name. The caller puts the field or flag in front.
 */
export function bucketNameProblem(name: string): string | undefined {
  const q = `bucket name '${name}'`;
  if (name.length < 3 || name.length > 63)
    return `${q} is ${name.length} character${name.length === 1 ? '' : 's'} long; S3 bucket names are 3 to 63 characters`;
  const bad = [...new Set(name.replace(/[a-z0-9.-]/g, ''))];
  if (bad.length)
    return `${q} contains ${bad.map((c) => `'${c}'`).join(', ')}; S3 bucket names hold only lowercase letters, digits, dots and hyphens`;
  const ends = 'S3 bucket names begin and end with a letter or digit';
  if (!/^[a-z0-9]/.test(name)) return `${q} begins with '${name[0]}'; ${ends}`;
  if (!/[a-z0-9]$/.test(name)) return `${q} ends with '${name.slice(-1)}'; ${ends}`;
  if (name.includes('..')) return `${q} has two adjacent dots; S3 bucket names must not contain '..'`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `${q} is formatted as an IP address; S3 bucket names must not look like one`;
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `${q} starts with '${prefix}'; S3 reserves that prefix, bucket names must not start with it`;
  const suffix = RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix) return `${q} ends with '${suffix}'; S3 reserves that suffix, bucket names must not end with it`;
  return undefined;
}

/** True when `name` keeps every S3 general purpose bucket naming rule (see bucketNameProblem). */
export function isBucketName(name: string): boolean {
  return bucketNameProblem(name) === undefined;
}
