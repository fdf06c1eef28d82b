import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseColonsKeys } from '../../lib/signing/colons';
import { run } from '../../lib/util/exec';

export interface TestKeys {
  /** Folder with private.key and public.key, as KEYS_PATH. */
  readonly keysPath: string;
  readonly fingerprint: string;
  readonly keyId: string;
  readonly publicKeyPath: string;
}

/**
 * Generates a throwaway RSA signing key (RSA so that old rpm and apt verify it too) and writes it
 * the way the old process kept keys: dir/private.key and dir/public.key.
 */
export async function generateTestKeys(
  dir: string,
  opts: {
    passphrase?: string;
    name?: string;
    /** gpg --quick-gen-key algorithm (default rsa2048), e.g. dsa1024, rsa1024. */
    algo?: string;
    /** gpg --quick-gen-key expiry (default never), e.g. 30d. */
    expire?: string;
    /** Create the key at this time (gpg --faked-system-time), e.g. 20200101T000000 with expire 1d: an expired key. */
    createdAt?: string;
  } = {},
): Promise<TestKeys> {
  const home = await mkdtemp(path.join(os.tmpdir(), 'ket-testkey-'));
  const pass = ['--pinentry-mode', 'loopback', '--passphrase', opts.passphrase ?? ''];
  const gpg = (args: string[]) => run('gpg', ['--batch', '--yes', '--homedir', home, ...args]);
  try {
    const uid = `${opts.name ?? 'KET Test Signing'} <test@example.invalid>`;
    const faked = opts.createdAt ? ['--faked-system-time', `${opts.createdAt}!`, '--ignore-time-conflict'] : [];
    await gpg([...faked, ...pass, '--quick-gen-key', uid, opts.algo ?? 'rsa2048', 'sign', opts.expire ?? 'never']);
    const { stdout } = await gpg(['--with-colons', '--list-secret-keys']);
    const fpr = parseColonsKeys(stdout)[0].fingerprint;
    await mkdir(dir, { recursive: true });
    const privateKey = (await gpg([...pass, '--armor', '--export-secret-keys', fpr])).stdout;
    const publicKey = (await gpg(['--armor', '--export', fpr])).stdout;
    await writeFile(path.join(dir, 'private.key'), privateKey, { mode: 0o600 });
    await writeFile(path.join(dir, 'public.key'), publicKey);
    return { keysPath: dir, fingerprint: fpr, keyId: fpr.slice(-16), publicKeyPath: path.join(dir, 'public.key') };
  } finally {
    await run('gpgconf', ['--homedir', home, '--kill', 'all']).catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  }
}
