import { BUCKET_NAME_PATTERN, bucketNameProblem, isBucketName } from '../../lib/util/bucket-name';
import { parseS3Url } from '../../lib/publish/s3';
import { optionProblems } from '../../lib/publish';

/** One name breaking each S3 general purpose bucket naming rule, and the rule's wording. */
const BROKEN: readonly (readonly [string, string, RegExp])[] = [
  ['too short', 'st', /bucket name 'st' is 2 characters long; S3 bucket names are 3 to 63 characters/],
  ['too long', 'a'.repeat(64), /is 64 characters long; S3 bucket names are 3 to 63 characters/],
  ['an uppercase letter', 'Kismatic', /contains 'K'; S3 bucket names hold only lowercase letters, digits, dots and hyphens/],
  ['an underscore and a slash', 'ket_state/x', /contains '_', '\/'; S3 bucket names hold only lowercase letters, digits, dots and hyphens/],
  ['a leading hyphen', '-ket', /begins with '-'; S3 bucket names begin and end with a letter or digit/],
  ['a trailing dot', 'ket.', /ends with '\.'; S3 bucket names begin and end with a letter or digit/],
  ['two adjacent dots', 'ket..state', /has two adjacent dots; S3 bucket names must not contain '\.\.'/],
  ['an IP address', '192.168.5.4', /is formatted as an IP address; S3 bucket names must not look like one/],
  ['the xn-- prefix', 'xn--ket', /starts with 'xn--'; S3 reserves that prefix/],
  ['the sthree- prefix', 'sthree-ket', /starts with 'sthree-'; S3 reserves that prefix/],
  ['the amzn-s3-demo- prefix', 'amzn-s3-demo-ket', /starts with 'amzn-s3-demo-'; S3 reserves that prefix/],
  ['the -s3alias suffix', 'ket-s3alias', /ends with '-s3alias'; S3 reserves that suffix/],
  ['the --ol-s3 suffix', 'ket--ol-s3', /ends with '--ol-s3'; S3 reserves that suffix/],
  ['the .mrap suffix', 'ket.mrap', /ends with '\.mrap'; S3 reserves that suffix/],
  ['the --x-s3 suffix', 'ket--usw2-az1--x-s3', /ends with '--x-s3'; S3 reserves that suffix/],
  ['the --table-s3 suffix', 'ket--table-s3', /ends with '--table-s3'; S3 reserves that suffix/],
];

const VALID = [
  'ket',
  'a'.repeat(63),
  'kismatic-packages-production-rpm',
  'ket.state.1',
  '1ket',
  'ket9',
  '192.168.5.4x',
  'xn-ket',
  'my-s3alias-x',
];

describe('S3 bucket names', () => {
  test.each(BROKEN)('%s (%s) is refused, naming the rule', (_rule, name, message) => {
    expect(bucketNameProblem(name)).toMatch(message);
    expect(isBucketName(name)).toBe(false);
  });

  test('valid names pass', () => {
    for (const name of VALID) expect([name, bucketNameProblem(name)]).toEqual([name, undefined]);
  });

  test("the JSON schema's pattern states the same rules", () => {
    const pattern = new RegExp(BUCKET_NAME_PATTERN);
    for (const [, name] of BROKEN) expect([name, pattern.test(name)]).toEqual([name, false]);
    for (const name of VALID) expect([name, pattern.test(name)]).toEqual([name, true]);
  });

  test("an s3:// URL whose bucket breaks a rule blames the bucket name, not the URL's form", () => {
    expect(() => parseS3Url('s3://st/p', '--state-url')).toThrow(
      "--state-url: 's3://st/p': bucket name 'st' is 2 characters long; S3 bucket names are 3 to 63 characters",
    );
    expect(() => parseS3Url('https://ket-state/p', 'stateUrl')).toThrow("stateUrl: 'https://ket-state/p' is not an s3://BUCKET/PREFIX URL");
    expect(() => parseS3Url('s3:///p', 'stateUrl')).toThrow("stateUrl: 's3:///p' is not an s3://BUCKET/PREFIX URL");
  });
});

describe("publish's option problems", () => {
  const good = { rpmRepo: 'ket-rpm', debRepo: 'ket-deb', stateUrl: 's3://ket-state/p' };

  test('name the fields for a library caller', () => {
    expect(optionProblems(good)).toEqual([]);
    expect(optionProblems({ ...good, rpmRepo: 'Ket_RPM', stateUrl: 's3://st/p' })).toEqual([
      "rpmRepo: bucket name 'Ket_RPM' contains 'K', '_', 'R', 'P', 'M'; S3 bucket names hold only lowercase letters, digits, dots and hyphens",
      "stateUrl: 's3://st/p': bucket name 'st' is 2 characters long; S3 bucket names are 3 to 63 characters",
    ]);
    expect(optionProblems({ ...good, debRepo: 'ket-rpm', stateUrl: '' })).toEqual([
      "rpmRepo and debRepo must be different buckets (both are 'ket-rpm')",
      'stateUrl: s3://BUCKET/PREFIX is required: a private place for the repository locks, never served publicly',
    ]);
  });

  test('name what the user typed when given labels', () => {
    const labels = { rpmRepo: '--rpm-repo', debRepo: 'DEB_REPO', stateUrl: 'KET_STATE_URL' };
    expect(optionProblems({ ...good, rpmRepo: 'ab', stateUrl: 'ket-state/p', labels })).toEqual([
      "--rpm-repo: bucket name 'ab' is 2 characters long; S3 bucket names are 3 to 63 characters",
      "KET_STATE_URL: 'ket-state/p' is not an s3://BUCKET/PREFIX URL",
    ]);
    expect(optionProblems({ ...good, debRepo: 'ket-rpm', stateUrl: 's3://ket-rpm/p', labels })).toEqual([
      "--rpm-repo and DEB_REPO must be different buckets (both are 'ket-rpm')",
      "KET_STATE_URL must not be a repository bucket (it is private; 'ket-rpm' is served to clients)",
    ]);
  });
});
