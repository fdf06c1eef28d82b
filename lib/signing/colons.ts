/**
 * A primary key as `gpg --with-colons` lists it (--list-keys, --list-secret-keys, or
 * --import-options show-only --import). Format: GnuPG's doc/DETAILS, "Format of the colon
 * listings": field 1 is the record type, field 5 the key id, field 10 the fingerprint (fpr) or
 * user id (uid); a record belongs to the pub/sec above it, sub/ssb start a subkey.
 */
export interface ColonsKey {
  /** 'sec' for a secret key, 'pub' for a public one. */
  readonly type: 'pub' | 'sec';
  /** Long key id, 16 hex digits. */
  readonly keyId: string;
  /** Primary-key fingerprint, 40 hex digits (upper case, as gpg prints it). */
  readonly fingerprint: string;
  /** User ids in listing order. */
  readonly uids: readonly string[];
}

/** Parses a colon listing into its primary keys; subkeys' records are skipped. */
export function parseColonsKeys(colons: string): ColonsKey[] {
  const keys: Array<{ type: 'pub' | 'sec'; keyId: string; fingerprint: string; uids: string[] }> = [];
  let current: (typeof keys)[number] | undefined;
  let inPrimary = false;
  for (const line of colons.split('\n')) {
    const f = line.split(':');
    if (f[0] === 'pub' || f[0] === 'sec') {
      current = { type: f[0], keyId: f[4], fingerprint: '', uids: [] };
      keys.push(current);
      inPrimary = true;
    } else if (f[0] === 'sub' || f[0] === 'ssb') {
      inPrimary = false;
    } else if (f[0] === 'fpr' && current && inPrimary && !current.fingerprint) {
      current.fingerprint = f[9];
    } else if (f[0] === 'uid' && current) {
      current.uids.push(f[9]);
    }
  }
  return keys;
}

/** One key or subkey record (pub, sub, sec, ssb) with what decides whether clients accept its signatures. */
export interface KeyRecord {
  readonly kind: 'pub' | 'sub' | 'sec' | 'ssb';
  /** Field 2: e expired, r revoked, … */
  readonly validity: string;
  readonly bits: number;
  /** Field 4, RFC 4880 9.1 / RFC 6637: 1 RSA, 3 RSA sign-only, 17 DSA, 18 ECDH, 19 ECDSA, 22 EdDSA. */
  readonly algorithm: number;
  readonly keyId: string;
  /** Seconds since the epoch; undefined when the key does not expire. */
  readonly expires?: number;
  /** Field 12 capabilities of this (sub)key: s sign, c certify, … */
  readonly capabilities: string;
}

export function parseKeyRecords(colons: string): KeyRecord[] {
  return colons
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => ['pub', 'sub', 'sec', 'ssb'].includes(f[0]))
    .map((f) => ({
      kind: f[0] as KeyRecord['kind'],
      validity: f[1],
      bits: Number(f[2]),
      algorithm: Number(f[3]),
      keyId: f[4],
      expires: f[6] ? Number(f[6]) : undefined,
      capabilities: f[11] ?? '',
    }));
}
