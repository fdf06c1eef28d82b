import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliResult, runCli } from '../support/cli';
import { generateTestKeys } from '../support/gpg';

function cli(args: string[], cwd: string): Promise<CliResult> {
  return runCli(args, { cwd, env: { KEYS_PATH: '', GNUPGHOME: '', KET_GPG_KEY_SECRET: '' } });
}

describe('ket-packages local (integration, slow)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-local-test-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('--fixtures builds, publishes into the embedded store and verifies offline; a second run changes nothing', async () => {
    const keys = await generateTestKeys(path.join(dir, 'keys'));
    const args = [
      'local',
      '--fixtures',
      '--data-dir',
      path.join(dir, 's3'),
      '--out',
      path.join(dir, 'build'),
      '--keys-path',
      keys.keysPath,
    ];
    const first = await cli(args, dir);
    expect({ code: first.code, tail: first.stderr.split('\n').slice(-6).join('\n') }).toMatchObject({ code: 0 });
    expect(first.stderr).toMatch(/verify: OK \(6 RPM and 6 DEB package\(s\)/);
    expect(first.stdout).toMatch(/RPM repository: http:\/\/127\.0\.0\.1:\d+\/kismatic-packages-rpm-test/);
    expect(first.stdout).toMatch(
      /deb \[signed-by=\/usr\/share\/keyrings\/kismatic\.gpg\] http:\/\/127\.0\.0\.1:\d+\/kismatic-packages-deb-test kismatic-xenial main/,
    );

    // Not a terminal: the store stops, and the output says so and how to keep it.
    expect(first.stdout).toMatch(/The store is stopped now, so the URLs above no longer answer\. Run with --serve/);
    // The fixtures' temporary folder is gone with the run.
    expect(first.stderr).toMatch(/fixtures: serving upstream sources from http:\/\/127\.0\.0\.1:\d+, manifest (\S+)/);
    const fixtureManifest = /manifest (\S+)/.exec(first.stderr)![1];
    expect(existsSync(path.dirname(fixtureManifest))).toBe(false);

    const second = await cli(args, dir);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/reusing .*build/);
    expect(second.stderr).toMatch(/RPM repository s3:\/\/kismatic-packages-rpm-test: all 6 packages already published; metadata unchanged/);
    expect(second.stderr).toMatch(/DEB repository s3:\/\/kismatic-packages-deb-test: all 6 packages already published; metadata unchanged/);

    // --serve: the store keeps answering at the printed URLs until Ctrl-C, and says which credentials it takes.
    let served = '';
    const third = runCli([...args, '--serve', '--port', '0'], {
      cwd: dir,
      env: { KEYS_PATH: '', GNUPGHOME: '', KET_GPG_KEY_SECRET: '' },
      onSpawn: (child) =>
        child.stdout!.on('data', (d: Buffer) => {
          served += d.toString();
          const url = /RPM repository: (\S+)/.exec(served)?.[1];
          if (url && served.includes('until Ctrl-C')) {
            void fetch(`${url}/kismatic.repo`)
              .then((r) => r.text())
              .then((text) => {
                served += `\nFETCHED ${text.includes('gpgcheck=1')}\n`;
                child.kill('SIGINT');
              });
          }
        }),
    });
    const r3 = await third;
    expect(r3.code).toBe(0);
    expect(served).toContain('FETCHED true');
    expect(served).toMatch(/Installing needs no credentials\. To write with an S3 client, any secret key works with access key id S3RVER/);

    // Another key: the reused RPMs are signed by the first one, so local rebuilds, saying why,
    // rather than handing publish RPMs it would refuse (a fresh store: no key-rotation question).
    const otherKeys = await generateTestKeys(path.join(dir, 'other-keys'));
    const otherArgs = args.map((a) =>
      a === keys.keysPath ? otherKeys.keysPath : a === path.join(dir, 's3') ? path.join(dir, 's3-other') : a,
    );
    const other = await cli(otherArgs, dir);
    expect({ code: other.code, tail: other.stderr.split('\n').slice(-6).join('\n') }).toMatchObject({ code: 0 });
    expect(other.stderr).toMatch(
      /building: \S+\.rpm is signed by key [0-9a-f]{16} \(and 5 more\), not by the signing key [0-9a-f]{16} \(--keys-path /,
    );
    expect(other.stderr).toMatch(/verify: OK \(6 RPM and 6 DEB package\(s\)/);
  }, 480_000);

  test('a missing --keys-path fails in seconds, before fixtures or a build start', async () => {
    const r = await cli(['local', '--fixtures', '--data-dir', path.join(dir, 's3-nokey'), '--keys-path', path.join(dir, 'nope')], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--keys-path .*nope/);
    expect(r.stderr).not.toMatch(/fixtures: serving|building|\n\s+at /);
  }, 30_000);

  test('a busy --port fails before any fixture start-up, naming the port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const r = await cli(['local', '--fixtures', '--port', String(port), '--data-dir', path.join(dir, 's3-busy')], dir);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`port ${port}: already in use on 127\\.0\\.0\\.1`));
      expect(r.stderr).not.toMatch(/fixtures:|building/);
    } finally {
      blocker.close();
    }
  }, 60_000);

  test('a bad --port is a clear error', async () => {
    const r = await cli(['local', '--port', 'x', '--data-dir', path.join(dir, 's3-bad')], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/option '--port <n>' argument 'x' is invalid\. not a port number/);
  }, 60_000);
});
