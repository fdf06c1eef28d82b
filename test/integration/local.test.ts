import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateTestKeys } from '../support/gpg';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const CLI = path.join(ROOT, 'bin/ket-packages.ts');

function cli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(TSX, [CLI, ...args], {
      cwd,
      env: { ...process.env, KEYS_PATH: '', GNUPGHOME: '', KET_GPG_KEY_SECRET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
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

    const second = await cli(args, dir);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/reusing .*build/);
    expect(second.stderr).toMatch(/RPM repository s3:\/\/kismatic-packages-rpm-test: all 6 packages already published; metadata unchanged/);
    expect(second.stderr).toMatch(/DEB repository s3:\/\/kismatic-packages-deb-test: all 6 packages already published; metadata unchanged/);
  }, 240_000);

  test('a bad --port is a clear error', async () => {
    const r = await cli(['local', '--port', 'x', '--data-dir', path.join(dir, 's3-bad')], dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--port: 'x' is not a port number/);
  }, 60_000);
});
