import { mkdtemp } from 'node:fs/promises';
import * as path from 'node:path';
import { SigningKey } from '../signing/keyring';
import { Logger } from '../util/log';
import { Bucket } from './s3';
import { ScratchKeyring } from './sign';

/** What one repository's publish added and found already there (file names). */
export interface PublishResult {
  readonly added: string[];
  readonly alreadyPresent: string[];
}

/**
 * A repository checked and prepared for a publish: everything read and built locally, nothing
 * written. `problems` lists every reason to refuse (empty: `write` may run).
 */
export interface PreparedRepository {
  readonly problems: string[];
  readonly result: PublishResult;
  /** Uploads in crash-safe order; calls `beforeEntryFiles` (the lock check) before the signed entry files. */
  write(beforeEntryFiles: () => void): Promise<PublishResult>;
}

/** The keys of a repository as this publish leaves them. */
export interface RepositoryState {
  /** Reasons to refuse: a key change without rotation, metadata no served key verifies. */
  readonly problems: string[];
  /** The metadata is signed today by another key than this publish's, and a rotation is allowed: re-sign it. */
  readonly rotation: boolean;
  /** public.key as this publish writes it: every key that signed a package still served, plus the new one. */
  readonly publicKey: string;
  /** The same keys, one armored block each (for rpmkeys). */
  readonly publicKeys: string[];
  /** public.key as the bucket holds it now (read under the lock), if any. */
  readonly currentPublicKey: { body: Buffer } | undefined;
  /**
   * For a clear-signed `signature` (InRelease) with a good signature by a key of public.key: the
   * text it signs, as gpg verified it (written out by the same gpg run). Undefined otherwise.
   */
  readonly signedText?: Buffer;
}

/**
 * The key guard. Clients trust the key that signs the repository's metadata today (found from the
 * signature itself, not from membership in public.key, which also holds retired keys): a publish
 * with another key is refused unless it is a rotation, and a rotation re-signs the metadata.
 * public.key keeps every key it held (each signed packages the repository still serves: nothing
 * is ever deleted) and gains the new one.
 *
 * `signature` is repomd.xml.asc over `signed` (repomd.xml), or InRelease (clear-signed: `signed`
 * undefined); both undefined for a repository without metadata yet.
 */
export async function readRepositoryKeys(
  b: Bucket,
  opts: {
    readonly key: Promise<SigningKey>;
    readonly allowKeyChange: boolean;
    readonly signature?: Buffer;
    readonly signed?: Buffer;
    readonly scratch: string;
    readonly logger: Logger;
    /** public.key as the caller requested it, with the repository's other metadata, under the lock. */
    readonly publicKey: Promise<{ body: Buffer } | undefined>;
  },
): Promise<RepositoryState> {
  const old = await opts.publicKey;
  const key = await opts.key;
  const keyring = await ScratchKeyring.create(path.join(opts.scratch, 'keyrings'));
  try {
    const problems: string[] = [];
    const oldFingerprints = old ? await keyring.import(old.body.toString('utf8'), `${b.label}/public.key`) : [];
    let today: string | undefined;
    let signedText: Buffer | undefined;
    if (opts.signature) {
      ({ signer: today, signedText } = await keyring.verify(
        opts.signature,
        opts.signed,
        await mkdtemp(path.join(opts.scratch, 'sigcheck-')),
      ));
      if (!today && !opts.allowKeyChange)
        problems.push(
          `${b.label}: its metadata signature is not a good signature by any key of its public.key (${oldFingerprints.join(', ') || 'none'}): the repository is damaged or was changed by someone else; check its metadata, then allowKeyChange signs the metadata as it is now with ${key.fingerprint}`,
        );
    } else if (opts.signed) {
      // Signed metadata whose detached signature is gone: nothing vouches for it (a publish killed
      // between the two writes, or a deletion), so it is not built on unless allowed.
      if (!opts.allowKeyChange)
        problems.push(
          `${b.label}: its metadata has no signature (the detached signature file is missing): the repository is damaged or was changed by someone else; check its metadata, then allowKeyChange signs the metadata as it is now with ${key.fingerprint}`,
        );
    } else if (oldFingerprints.length && !oldFingerprints.includes(key.fingerprint)) {
      today = oldFingerprints[oldFingerprints.length - 1];
    }
    const unverified = (opts.signature !== undefined || opts.signed !== undefined) && today === undefined;
    const rotation = unverified || (today !== undefined && today !== key.fingerprint);
    if (today && today !== key.fingerprint) {
      const message = `${b.label}: its metadata is signed by key ${today}, but this publish signs with ${key.fingerprint} (${key.source})`;
      if (!opts.allowKeyChange)
        problems.push(
          `${message}: clients that trust the repository's key would reject it${oldFingerprints.includes(key.fingerprint) ? ` (${key.fingerprint} is a retired key of this repository)` : ''}. Use the repository's key, or rotate to the new key deliberately (allowKeyChange); nothing was written`,
        );
      else
        opts.logger.warn(
          `${message}: rotating the key; every metadata file is re-signed and public.key keeps the old key for the packages it signed`,
        );
    }
    let publicKey = old?.body.toString('utf8') ?? '';
    const fingerprints = [...oldFingerprints];
    if (!oldFingerprints.includes(key.fingerprint)) {
      fingerprints.push(...(await keyring.import(key.publicKeyArmored, `the public key of ${key.source}`)));
      publicKey = oldFingerprints.length ? await keyring.exportAll() : key.publicKeyArmored;
    }
    return {
      problems,
      rotation: rotation && opts.allowKeyChange,
      publicKey,
      // Only this publish's key: its own export (one gpg run less).
      publicKeys: fingerprints.every((f) => f === key.fingerprint)
        ? [key.publicKeyArmored]
        : await keyring.exportEach([...new Set(fingerprints)]),
      currentPublicKey: old,
      ...(signedText ? { signedText } : {}),
    };
  } finally {
    await keyring.dispose();
  }
}
