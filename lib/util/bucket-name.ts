/**
 * S3 general purpose bucket naming rules (AWS S3 User Guide, "General purpose bucket naming
 * rules"): 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending
 * with a letter or digit, no two adjacent dots, no "xn--" prefix, no "-s3alias" suffix. As a
 * string for JSON schemas (lib/config/schema.ts) and as a RegExp for code.
 */
export const BUCKET_NAME_PATTERN = '^(?!xn--)(?!.*\\.\\.)(?!.*-s3alias$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$';

const BUCKET_NAME = new RegExp(BUCKET_NAME_PATTERN);

export function isBucketName(name: string): boolean {
  return BUCKET_NAME.test(name);
}
