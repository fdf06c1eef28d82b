import { runCli } from '../support/cli';

/**
 * `ket-packages publish` refuses bad repository options before it touches S3 or a key, and its
 * message names what the user typed (the flag, or the environment variable), not the library's
 * field (lib/cli/labels). Run through the real CLI with a clean environment.
 */
describe('publish names the flag or variable the user typed (CLI)', () => {
  const good = { RPM_REPO: 'ket-rpm', DEB_REPO: 'ket-deb', KET_STATE_URL: 's3://ket-state/p' };

  test.each([
    [
      'a --state-url whose bucket is too short blames the bucket name',
      ['--state-url', 's3://st/p'],
      {},
      "error: --state-url: 's3://st/p': bucket name 'st' is 2 characters long; S3 bucket names are 3 to 63 characters",
    ],
    [
      'the same in KET_STATE_URL',
      [],
      { KET_STATE_URL: 's3://st/p' },
      "error: KET_STATE_URL: 's3://st/p': bucket name 'st' is 2 characters long; S3 bucket names are 3 to 63 characters",
    ],
    [
      'a --state-url that is no s3:// URL',
      ['--state-url', 'ket-state/p'],
      {},
      "error: --state-url: 'ket-state/p' is not an s3://BUCKET/PREFIX URL",
    ],
    ['an empty KET_STATE_URL', [], { KET_STATE_URL: '' }, 'error: KET_STATE_URL: s3://BUCKET/PREFIX is required'],
    [
      'a bad --rpm-repo bucket name',
      ['--rpm-repo', 'Ket_RPM'],
      {},
      "error: --rpm-repo: bucket name 'Ket_RPM' contains 'K', '_', 'R', 'P', 'M'; S3 bucket names hold only lowercase letters, digits, dots and hyphens",
    ],
    [
      'the same in RPM_REPO',
      [],
      { RPM_REPO: 'Ket_RPM' },
      "error: RPM_REPO: bucket name 'Ket_RPM' contains 'K', '_', 'R', 'P', 'M'; S3 bucket names hold only lowercase letters, digits, dots and hyphens",
    ],
    [
      'a state bucket that is a repository bucket',
      ['--deb-repo', 'ket-state'],
      {},
      "error: KET_STATE_URL must not be a repository bucket (it is private; 'ket-state' is served to clients)",
    ],
    [
      'a malformed KET_EXPECTED_SHA256',
      [],
      { KET_EXPECTED_SHA256: 'abc' },
      "error: KET_EXPECTED_SHA256: 'abc' is not a sha256 (64 hex digits)",
    ],
  ] as const)(
    '%s',
    async (_case, args, env, message) => {
      const res = await runCli(['publish', ...args], { cleanEnv: true, env: { ...good, ...env } });
      expect(res.stderr).toContain(message);
      expect(res.stderr).not.toMatch(/rpmRepo|debRepo|stateUrl/);
      expect(res.code).toBe(1);
    },
    60_000,
  );
});
