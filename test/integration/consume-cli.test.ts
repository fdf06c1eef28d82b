import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliResult, runCli } from '../support/cli';
import { fixtureRelease, ketFixtureFiles, RELEASE_A, RELEASE_B, snapshot, writeKetFixture } from '../support/ket-fixture';

function cli(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, { cwd, env: { AWS_REGION: 'us-east-1' } });
}

// Each case starts the CLI through tsx (seconds per start on a busy machine).
jest.setTimeout(60_000);

describe('ket-packages consume (CLI)', () => {
  let dir: string;
  let ket: string;
  let releaseFile: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-consume-cli-'));
    ket = path.join(dir, 'ket');
    await writeKetFixture(ket, ketFixtureFiles(RELEASE_A));
    releaseFile = path.join(dir, 'release-manifest.json');
    await writeFile(releaseFile, JSON.stringify(fixtureRelease(RELEASE_B)));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--dry-run prints the unified diff on stdout, findings and a summary on stderr, writes nothing', async () => {
    const before = await snapshot(ket);
    const r = await cli(['consume', '--ket', ket, '--release-manifest', releaseFile, '--dry-run'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^--- a\/ansible\/group_vars\/all\.yaml\n\+\+\+ b\/ansible\/group_vars\/all\.yaml\n@@ /m);
    expect(r.stdout).toMatch(/^-KUBECTL_VERSION = v1\.7\.3$/m);
    expect(r.stdout).toMatch(/^\+KUBECTL_VERSION = v1\.7\.4$/m);
    expect(r.stdout).not.toMatch(/^===/m);
    expect(r.stderr).toMatch(/warning: no repository given: the repository URL lines are left as they are/);
    expect(r.stderr).toMatch(/would change \(dry run\) 7 file\(s\)/);
    expect(await snapshot(ket)).toEqual(before);
  });

  test('applies the diff, then finds nothing to change', async () => {
    const first = await cli(['consume', '--ket', ket, '--release-manifest', releaseFile], dir);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/changed 7 file\(s\)/);
    expect(await readFile(path.join(ket, 'Makefile'), 'utf8')).toBe(ketFixtureFiles(RELEASE_B).Makefile);
    const second = await cli(['consume', '--ket', ket, '--release-manifest', releaseFile], dir);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/already matches .*: nothing to change/);
  });

  test.each([
    [['--rpm-url', 'https://rpm.example.invalid'], /--rpm-url and --deb-url go together/],
    [['--local'], /--local needs --repository NAME/],
    [['--manifest', 'a.yaml', '--release-manifest', 'b.json'], /give --manifest or --release-manifest, not both/],
    [['--release-manifest', 'missing.json'], /missing\.json: cannot read the release manifest/],
    [
      ['--repository', 'qa', '--local', '--local-endpoint', 'http://127.0.0.1:9'],
      /repository "qa": the embedded store has staging and production repositories only/,
    ],
    [['--repository', 'production', '--rpm-url', 'https://rpm.example.invalid'], /--repository conflicts with --rpm-url\/--deb-url/],
    [['--release-manifest', 'release.yaml'], /--release-manifest release\.yaml looks like a release\.yaml: give it as --manifest/],
    [[], /no release\.yaml in .*: give --manifest FILE .*--release-manifest FILE .*--rpm-url and --deb-url, or --repository NAME/],
    [
      ['--repository', 'staging', '--local', '--local-endpoint', 'http://127.0.0.1:9'],
      /connection refused[\s\S]*start the embedded store with `ket-packages local --serve`/,
    ],
  ])('bad input %j: a clear message and a non-zero exit', async (args, message) => {
    const r = await cli(['consume', '--ket', ket, ...(args as string[])], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });

  test('--repository without a region: says how to give one, or the URLs', async () => {
    const r = await runCli(['consume', '--ket', ket, '--repository', 'production', '--release-manifest', releaseFile], {
      cwd: dir,
      cleanEnv: true,
      env: {
        AWS_CONFIG_FILE: path.join(dir, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'none'),
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot read stack KetPackages-Repositories: no AWS region .*give --region REGION or set AWS_REGION, or give --rpm-url and --deb-url/,
    );
  });

  test('a folder that is not a KET checkout', async () => {
    const r = await cli(['consume', '--ket', dir, '--release-manifest', releaseFile], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /is not a KET checkout, or not a complete one: cannot read ansible\/group_vars\/all\.yaml \(ENOENT\).*KET v1\.5\.x/,
    );
  });
});
