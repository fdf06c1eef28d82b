import { UserError } from '../util/errors';

/**
 * The first line of an ASCII-armored private key. Built from parts so that no file of this
 * repository contains the literal line: the line marks a committed private key to scanners.
 */
export const PRIVATE_KEY_HEADER = ['-----BEGIN PGP', 'PRIVATE KEY BLOCK-----'].join(' ');

/**
 * What the Secrets Manager secret holding the signing key contains: a JSON document, so the
 * passphrase (if any) travels with the key and `keys import` is one write.
 */
export interface SigningSecret {
  /** ASCII-armored private key block (what KEYS_PATH/private.key held). */
  readonly privateKey: string;
  readonly passphrase?: string;
}

export function encodeSigningSecret(secret: SigningSecret): string {
  return JSON.stringify(
    secret.passphrase ? { privateKey: secret.privateKey, passphrase: secret.passphrase } : { privateKey: secret.privateKey },
  );
}

export function decodeSigningSecret(text: string, secretName: string): SigningSecret {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new UserError(
      `secret ${secretName}: not JSON; expected {"privateKey": "<ASCII-armored private key>", "passphrase"?: "…"} as written by 'ket-packages keys import'`,
    );
  }
  const d = data as Record<string, unknown>;
  if (typeof d.privateKey !== 'string' || !d.privateKey.includes(PRIVATE_KEY_HEADER)) {
    throw new UserError(`secret ${secretName}: field "privateKey" must hold an ASCII-armored PGP private key`);
  }
  if (d.passphrase !== undefined && typeof d.passphrase !== 'string') {
    throw new UserError(`secret ${secretName}: field "passphrase" must be a string`);
  }
  return { privateKey: d.privateKey, passphrase: d.passphrase as string | undefined };
}
