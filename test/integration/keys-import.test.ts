import { PRIVATE_KEY_HEADER } from '../../lib/signing/secret';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { importSigningKey, putSigningSecret, readLocalKey } from '../../lib/release/keys';
import { buildProgram } from '../../lib/cli/program';
import { decodeSigningSecret } from '../../lib/signing/secret';
import { generateTestKeys, TestKeys } from '../support/gpg';

// `keys import` with real gpg keys; everything before the one AWS call is checked here. gpg is slow
// on a loaded machine: generous timeouts.
jest.setTimeout(60_000);
describe('ket-packages keys import (gpg, slow)', () => {
  let dir: string;
  let plain: TestKeys;
  let protectedKeys: TestKeys;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ket-keys-'));
    plain = await generateTestKeys(path.join(dir, 'plain'));
    protectedKeys = await generateTestKeys(path.join(dir, 'protected'), { passphrase: 'correct horse' });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a missing folder', async () => {
    await expect(readLocalKey(path.join(dir, 'nope'))).rejects.toThrow(
      `keys folder ${path.join(dir, 'nope')}: no such folder (expected the old KEYS_PATH, holding private.key and public.key)`,
    );
  });

  test('a folder without private.key', async () => {
    const empty = path.join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    await expect(readLocalKey(empty)).rejects.toThrow(/no private\.key in it/);
  });

  test('a private.key that is not an armored private key', async () => {
    const wrong = path.join(dir, 'wrong');
    mkdirSync(wrong, { recursive: true });
    copyFileSync(plain.publicKeyPath, path.join(wrong, 'private.key'));
    await expect(readLocalKey(wrong)).rejects.toThrow(`${path.join(wrong, 'private.key')}: not an ASCII-armored PGP private key`);
  });

  test('a protected key without its passphrase, and with a wrong one', async () => {
    await expect(readLocalKey(protectedKeys.keysPath)).rejects.toThrow(/protected by a passphrase/);
    const wrongPass = path.join(dir, 'wrong-pass');
    writeFileSync(wrongPass, 'battery staple\n');
    await expect(readLocalKey(protectedKeys.keysPath, wrongPass)).rejects.toThrow(/wrong passphrase/);
    await expect(readLocalKey(protectedKeys.keysPath, path.join(dir, 'no-such-file'))).rejects.toThrow(
      /passphrase file .*no-such-file: cannot read it/,
    );
  });

  test('a good key: fingerprint found, passphrase taken from KEYS_PATH/passphrase', async () => {
    expect(await readLocalKey(plain.keysPath)).toMatchObject({
      fingerprint: plain.fingerprint,
      passphrase: undefined,
      privateKey: expect.stringContaining(PRIVATE_KEY_HEADER),
    });
    writeFileSync(path.join(protectedKeys.keysPath, 'passphrase'), 'correct horse\n');
    expect(await readLocalKey(protectedKeys.keysPath)).toMatchObject({
      fingerprint: protectedKeys.fingerprint,
      passphrase: 'correct horse',
    });
  });

  test('without a secret the secret name comes from the deployment configuration, which must exist', async () => {
    await expect(
      importSigningKey({ keysPath: plain.keysPath, repository: 'staging', configFile: path.join(dir, 'missing.yaml') }),
    ).rejects.toThrow(`${path.join(dir, 'missing.yaml')}: cannot read the deployment configuration`);
  });

  test('each repository has its own secret: the repository must be named, and declared', async () => {
    await expect(importSigningKey({ keysPath: plain.keysPath })).rejects.toThrow(
      "which repository's key is this? Each has its own secret (deploy.config.yaml: production, staging); name the repository or the secret",
    );
    await expect(importSigningKey({ keysPath: plain.keysPath, repository: 'qa' })).rejects.toThrow(
      'repository "qa" is not declared in deploy.config.yaml (declared: production, staging)',
    );
  });

  test('the CLI prints one clear error and exits non-zero', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await buildProgram().parseAsync(['node', 'ket-packages', 'keys', 'import', '--from', path.join(dir, 'nope')]);
      expect(process.exitCode).toBe(1);
      expect(stderr).toHaveBeenCalledWith(expect.stringMatching(/^error: keys folder .*nope: no such folder/));
    } finally {
      stderr.mockRestore();
      process.exitCode = 0;
    }
  });

  describe('the Secrets Manager request (real SDK client, recording endpoint on 127.0.0.1)', () => {
    let server: Server;
    let requests: Array<{ target: string; body: Record<string, string> }>;
    let reply: { status: number; body: object };
    const saved = { ...process.env };
    beforeAll(async () => {
      server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          requests.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) as Record<string, string> });
          res.writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(reply.body));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      Object.assign(process.env, {
        AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: 'us-east-1',
        AWS_EC2_METADATA_DISABLED: 'true',
      });
    });
    afterAll(async () => {
      process.env = saved;
      await new Promise((resolve) => server.close(resolve));
    });
    beforeEach(() => {
      requests = [];
    });

    test.each([
      ['production', 'ket-packages/gpg-signing-key'],
      ['staging', 'ket-packages/gpg-signing-key/staging'],
    ])('--repository %s: writes {privateKey, passphrase} as a new version of its configured secret %s', async (repository, secretName) => {
      reply = {
        status: 200,
        body: {
          ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ket-packages/gpg-signing-key-AbCdEf',
          Name: 'ket-packages/gpg-signing-key',
          VersionId: 'v-1',
        },
      };
      const result = await importSigningKey({ keysPath: protectedKeys.keysPath, repository });
      expect(result).toEqual({
        secretId: secretName,
        fingerprint: protectedKeys.fingerprint,
        uid: expect.stringContaining('KET Test Signing'),
        versionId: 'v-1',
      });
      expect(requests).toHaveLength(1);
      expect(requests[0].target).toBe('secretsmanager.PutSecretValue');
      expect(requests[0].body.SecretId).toBe(secretName);
      const stored = decodeSigningSecret(requests[0].body.SecretString, 'recorded');
      expect(stored.passphrase).toBe('correct horse');
      expect(stored.privateKey).toContain(PRIVATE_KEY_HEADER);
    });

    test('a secret that does not exist yet says to deploy the Repositories stack first', async () => {
      reply = { status: 400, body: { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." } };
      await expect(putSigningSecret('other/secret', '{}')).rejects.toThrow(
        'secret other/secret does not exist: deploy the Repositories stack first',
      );
    });
  });
});
