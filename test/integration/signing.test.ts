import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { clearSign, detachSign, openSigningKey } from '../../lib/signing/keyring';
import { run } from '../../lib/util/exec';
import { generateTestKeys, TestKeys } from '../support/gpg';

jest.setTimeout(60_000);

/** How the CLI labels settings read from the environment. */
const AS_ENV = { keysPath: 'KEYS_PATH', passphrase: 'KET_GPG_PASSPHRASE', passphraseFile: 'KET_GPG_PASSPHRASE_FILE' };

describe('signing keys (integration, gpg)', () => {
  let dir: string;
  let plain: TestKeys;
  let protectedKeys: TestKeys;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-signing-test-'));
    plain = await generateTestKeys(path.join(dir, 'plain'));
    protectedKeys = await generateTestKeys(path.join(dir, 'protected'), { passphrase: 'correct horse' });
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  /** Verifies a signature with nothing but the public key, as a client would. */
  async function verifyWith(publicKeyPath: string, args: string[]): Promise<void> {
    const home = await mkdtemp(path.join(os.tmpdir(), 'ket-verify-'));
    try {
      await run('gpg', ['--batch', '--homedir', home, '--import', publicKeyPath]);
      await run('gpg', ['--batch', '--homedir', home, '--verify', ...args]);
    } finally {
      await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    }
  }

  test('a KEYS_PATH key without passphrase signs detached and clear-signed files', async () => {
    const key = await openSigningKey({ keysPath: plain.keysPath });
    try {
      expect(key.fingerprint).toBe(plain.fingerprint);
      expect(key.passphraseFile).toBeUndefined();
      expect(key.publicKeyArmored).toContain('BEGIN PGP PUBLIC KEY BLOCK');
      const file = path.join(dir, 'repomd.xml');
      await writeFile(file, '<repomd/>\n');
      await detachSign(key, file, `${file}.asc`);
      await verifyWith(plain.publicKeyPath, [`${file}.asc`, file]);
      await clearSign(key, file, path.join(dir, 'InRelease'));
      await verifyWith(plain.publicKeyPath, [path.join(dir, 'InRelease')]);
    } finally {
      await key.dispose();
    }
    await expect(verifyWith(protectedKeys.publicKeyPath, [path.join(dir, 'repomd.xml.asc'), path.join(dir, 'repomd.xml')])).rejects.toThrow(
      /No public key|no public key/i,
    );
  });

  test('a protected key opens with its passphrase from a value or a file', async () => {
    const key = await openSigningKey({ keysPath: protectedKeys.keysPath, passphrase: 'correct horse' });
    expect(key.passphraseFile).toBeDefined();
    await key.dispose();
    const passFile = path.join(dir, 'pass.txt');
    await writeFile(passFile, 'correct horse\n');
    const again = await openSigningKey({ keysPath: protectedKeys.keysPath, passphraseFile: passFile });
    await again.dispose();
  });

  test('a wrong passphrase is named as such', async () => {
    await expect(openSigningKey({ keysPath: protectedKeys.keysPath, passphrase: 'wrong', labels: AS_ENV })).rejects.toThrow(
      /KEYS_PATH=.*wrong passphrase for key/,
    );
  });

  test('a missing passphrase says which variable to set', async () => {
    await expect(openSigningKey({ keysPath: protectedKeys.keysPath, labels: AS_ENV })).rejects.toThrow(
      /protected by a passphrase: set KET_GPG_PASSPHRASE/,
    );
    // Without labels, the library names its own fields.
    await expect(openSigningKey({ keysPath: protectedKeys.keysPath })).rejects.toThrow(
      /protected by a passphrase: set passphrase or passphraseFile/,
    );
  });

  test('a folder without private.key is named', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(openSigningKey({ keysPath: empty, labels: AS_ENV })).rejects.toThrow(`KEYS_PATH=${empty}: no private.key`);
    await expect(openSigningKey({ keysPath: empty, labels: { keysPath: '--keys-path' } })).rejects.toThrow(
      `--keys-path ${empty}: no private.key`,
    );
  });

  test('a folder that does not exist is named as such', async () => {
    const nowhere = path.join(dir, 'nonexistent', 'keys');
    await expect(openSigningKey({ keysPath: nowhere, labels: { keysPath: '--keys-path' } })).rejects.toThrow(
      `--keys-path ${nowhere}: the folder ${nowhere} does not exist`,
    );
  });

  test('a private.key that is not a key is named', async () => {
    const bad = path.join(dir, 'bad');
    await mkdir(bad, { recursive: true });
    await writeFile(path.join(bad, 'private.key'), 'hello');
    await expect(openSigningKey({ keysPath: bad })).rejects.toThrow(/private\.key is not an ASCII-armored PGP private key/);
  });

  test('no key source at all says how to provide one', async () => {
    await expect(openSigningKey({ labels: AS_ENV }, 'build')).rejects.toThrow(/build needs a GPG key: set KEYS_PATH/);
  });
});
