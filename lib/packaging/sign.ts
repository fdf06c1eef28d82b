import * as path from 'node:path';
import { SigningKey } from '../signing/keyring';
import { UserError } from '../util/errors';
import { run } from '../util/exec';

/**
 * rpmsign arguments for a key from lib/signing. Debian has no /usr/bin/gpg2 (rpm's default
 * %__gpg); the passphrase goes to gpg as a file with loopback pinentry, so nothing can prompt.
 */
export function rpmsignArgs(key: Pick<SigningKey, 'fingerprint' | 'gnupgHome' | 'passphraseFile'>, files: readonly string[]): string[] {
  const extra = ['--batch', '--no-tty', '--pinentry-mode', 'loopback'];
  if (key.passphraseFile) extra.push('--passphrase-file', key.passphraseFile);
  return [
    '--addsign',
    // Also the v3 header+payload signature: CentOS 7's rpm 4.11 and old yum look for it.
    '--rpmv3',
    '--define',
    '__gpg /usr/bin/gpg',
    '--define',
    `_gpg_path ${key.gnupgHome}`,
    '--define',
    `_gpg_name ${key.fingerprint}`,
    '--define',
    '_gpg_digest_algo sha256',
    '--define',
    `_gpg_sign_cmd_extra_args ${extra.join(' ')}`,
    ...files,
  ];
}

/** Signs RPMs in place with one rpmsign call. */
export async function signRpms(files: readonly string[], key: SigningKey, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (files.length === 0) return;
  if (key.passphraseFile && /\s/.test(key.passphraseFile)) {
    // rpm splits the macro on whitespace.
    throw new UserError(`the passphrase file path ${key.passphraseFile} contains whitespace, which rpmsign cannot pass to gpg`);
  }
  await run('rpmsign', rpmsignArgs(key, files), {
    what: `signing ${files.map((f) => path.basename(f)).join(', ')} with ${key.source} (key ${key.fingerprint})`,
    env: { ...process.env, GNUPGHOME: key.gnupgHome },
    signal: options.signal,
  });
}
