import { spawn } from 'node:child_process';
import { readdir, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { FixtureServer, startFixtureServer } from '../../lib/local/offline-upstream/server';
import { ROOT } from '../support/cli';
import { generateTestKeys, TestKeys } from '../support/gpg';

/** The old process's commands, as its users type them: `make` in the project folder, settings in the environment. */
function make(target: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    // Only PATH and HOME from the test: no AWS_* or KEYS_PATH of the machine leaks in.
    const child = spawn('make', ['--no-print-directory', target], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

const ONLY = 'kubelet,etcd';

describe('Makefile for migrating habits (integration, slow)', () => {
  let dir: string;
  let fixtures: FixtureServer;
  let keys: TestKeys;
  let store: EmbeddedStore;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-make-test-'));
    fixtures = await startFixtureServer({ dir: path.join(dir, 'fixtures') });
    keys = await generateTestKeys(path.join(dir, 'gpgkeys'));
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
    for (const b of ['kismatic-packages-rpm-test', 'kismatic-packages-deb-test', 'ket-state']) await store.createBucket(b);
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    await fixtures?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const sources = { MANIFEST: () => fixtures.manifestPath, MIRROR: () => fixtures.url };

  test('KEYS_PATH=… make build builds and signs into build/', async () => {
    const out = path.join(dir, 'build');
    const r = await make('build', { KEYS_PATH: keys.keysPath, MANIFEST: sources.MANIFEST(), MIRROR: sources.MIRROR(), ONLY, OUT: out });
    expect({ code: r.code, tail: r.output.split('\n').slice(-8).join('\n') }).toMatchObject({ code: 0 });
    expect(r.output).toContain(`with KEYS_PATH=${keys.keysPath}`);
    expect((await readdir(path.join(out, 'rpms'))).sort()).toEqual(['etcd-3.1.10-1.x86_64.rpm', 'kubelet-1.7.4_1-1.x86_64.rpm']);
    expect((await readdir(path.join(out, 'debs'))).sort()).toEqual(['etcd_3.1.10_amd64.deb', 'kubelet_1.7.4-1_amd64.deb']);
  }, 180_000);

  test('RPM_REPO=… DEB_REPO=… KEYS_PATH=… CREDENTIALS_PATH=… make all builds and publishes with the credentials of that folder', async () => {
    const credentials = path.join(dir, 'credentials');
    await mkdir(credentials, { recursive: true });
    // The embedded store accepts its access key id with any secret; nothing else gives it one here.
    await writeFile(
      path.join(credentials, 'credentials'),
      `[default]\naws_access_key_id = ${store.accessKeyId}\naws_secret_access_key = from-the-credentials-folder\n`,
    );
    await writeFile(path.join(credentials, 'config'), '[default]\nregion = us-east-1\n');
    const env = {
      RPM_REPO: 'kismatic-packages-rpm-test',
      DEB_REPO: 'kismatic-packages-deb-test',
      KEYS_PATH: keys.keysPath,
      CREDENTIALS_PATH: credentials,
      KET_STATE_URL: 's3://ket-state/staging',
      AWS_ENDPOINT_URL_S3: store.endpoint,
      MANIFEST: sources.MANIFEST(),
      MIRROR: sources.MIRROR(),
      ONLY,
      OUT: path.join(dir, 'all'),
    };
    const r = await make('all', env);
    expect({ code: r.code, tail: r.output.split('\n').slice(-8).join('\n') }).toMatchObject({ code: 0 });
    expect(r.output).toMatch(/rpm: .*kismatic-packages-rpm-test \(2 added, 0 already present\)/);
    expect(r.output).toMatch(/deb: .*kismatic-packages-deb-test \(2 added, 0 already present\)/);

    // Without the folder the SDK has no credentials, so the folder is what made it work.
    const none = await make('publish', {
      ...env,
      CREDENTIALS_PATH: path.join(dir, 'no-credentials'),
      HOME: dir, // no ~/.aws of the machine
      AWS_EC2_METADATA_DISABLED: 'true', // no instance metadata lookup
    });
    expect(none.code).not.toBe(0);
    expect(none.output).toMatch(/credentials/i);
  }, 240_000);
});

describe('Makefile variables', () => {
  test('ALLOW_UNPINNED, REGISTRY_MIRROR and MIRROR map to the build flags (make -n: printed, not run)', async () => {
    const r = await new Promise<string>((resolve, reject) => {
      const child = spawn('make', ['--no-print-directory', '-n', 'build'], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          ALLOW_UNPINNED: '1',
          REGISTRY_MIRROR: 'http://127.0.0.1:5000',
          MIRROR: 'http://m.test',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
    expect(r).toMatch(/ket-packages\.js build .*--mirror http:\/\/m\.test --registry-mirror http:\/\/127\.0\.0\.1:5000 .*--allow-unpinned/);
  });
});
