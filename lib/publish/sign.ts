import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { KeyRecord, parseColonsKeys, parseKeyRecords } from '../signing/colons';
import { gpg, passphraseArgs, SigningKey } from '../signing/keyring';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';

export type { KeyRecord };
export { parseKeyRecords };

/**
 * Signing repository metadata, and what the signing key must be for every client KET supports to
 * accept it: apt 2.6 (Debian 12), dnf 4 and CentOS 7's rpm 4.11 / yum (the oldest).
 */

/** Digest of every metadata signature: apt 2.6 rejects SHA-1 ("InRelease is not signed"). */
export const SIGNATURE_DIGEST = 'SHA512';
/** Warn when the key expires within this many days. */
export const EXPIRY_WARNING_DAYS = 90;

const DIGEST_ARGS = ['--digest-algo', SIGNATURE_DIGEST, '--personal-digest-preferences', SIGNATURE_DIGEST];

/** Armored detached signature (repomd.xml.asc, Release.gpg), SHA-512. */
export async function detachSignSha512(key: SigningKey, file: string, out: string): Promise<void> {
  await gpg(
    key.gnupgHome,
    [...passphraseArgs(key), ...DIGEST_ARGS, '--local-user', key.fingerprint, '--armor', '--detach-sign', '--output', out, file],
    `signing ${path.basename(file)} with key ${key.fingerprint}`,
  );
}

/** Clear-signed copy (InRelease), SHA-512. */
export async function clearSignSha512(key: SigningKey, file: string, out: string): Promise<void> {
  await gpg(
    key.gnupgHome,
    [...passphraseArgs(key), ...DIGEST_ARGS, '--local-user', key.fingerprint, '--clearsign', '--output', out, file],
    `clear-signing ${path.basename(file)} with key ${key.fingerprint}`,
  );
}

const ALGORITHM_NAMES: Record<number, string> = {
  1: 'RSA',
  2: 'RSA',
  3: 'RSA',
  16: 'ElGamal',
  17: 'DSA',
  18: 'ECDH',
  19: 'ECDSA',
  22: 'EdDSA',
};

/**
 * What is wrong with a signing key for KET's clients (problems refuse the publish; warnings do not).
 * Checked: the primary key and every signing-capable subkey gpg may choose.
 *  - RSA of at least 2048 bits only: rpm 4.11 (CentOS 7) verifies RSA and DSA only (no ECDSA or
 *    EdDSA), DSA keys of 1024 bits cannot carry a SHA-512 signature (FIPS 186: 160-bit q) and
 *    apt 2.6 refuses SHA-1 ones, and apt (since 2.7, warning in 2.6) and gpg's de-vs compliance
 *    treat RSA below 2048 bits as weak.
 *  - not expired or revoked (every client refuses those signatures); a warning below 90 days.
 */
export function signingKeyProblems(
  records: readonly KeyRecord[],
  fingerprint: string,
  now: Date,
): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const primary = records.find((r) => r.kind === 'pub' || r.kind === 'sec');
  if (!primary) return { problems: [`key ${fingerprint}: gpg lists no such key`], warnings };
  const signing = records.filter(
    (r) => r === primary || ((r.kind === 'sub' || r.kind === 'ssb') && r.capabilities.includes('s') && !'er'.includes(r.validity || 'x')),
  );
  for (const r of signing) {
    const what = r === primary ? `key ${fingerprint}` : `signing subkey ${r.keyId} of key ${fingerprint}`;
    const algo = `${ALGORITHM_NAMES[r.algorithm] ?? `algorithm ${r.algorithm}`}-${r.bits}`;
    if (![1, 3].includes(r.algorithm))
      problems.push(
        `${what} is ${algo}: CentOS 7's rpm 4.11 cannot verify ${r.algorithm === 17 ? 'DSA keys with SHA-512, and apt 2.6 rejects the SHA-1 signatures DSA-1024 makes' : 'anything but RSA and DSA'}; use an RSA key of 2048 bits or more`,
      );
    else if (r.bits < 2048)
      problems.push(`${what} is ${algo}: apt and gpg treat RSA below 2048 bits as weak; use an RSA key of 2048 bits or more`);
    if (r.validity === 'r') problems.push(`${what} is revoked`);
    const expires = r.expires !== undefined ? new Date(r.expires * 1000) : undefined;
    if (r.validity === 'e' || (expires && expires <= now))
      problems.push(`${what} expired on ${expires?.toISOString().slice(0, 10) ?? '(unknown date)'}`);
    else if (expires && expires.getTime() - now.getTime() < EXPIRY_WARNING_DAYS * 86_400_000)
      warnings.push(
        `${what} expires on ${expires.toISOString().slice(0, 10)} (in ${Math.ceil((expires.getTime() - now.getTime()) / 86_400_000)} days): extend it (gpg --quick-set-expire) and re-publish public.key before then, or clients stop accepting the repositories`,
      );
  }
  return { problems, warnings };
}

/**
 * Refuses a signing key KET's clients would not accept, naming it; warns when it expires soon.
 * Runs on the keyring the key was opened from (`gpg --with-colons --list-keys FINGERPRINT`).
 */
export async function assertSigningKeyAcceptable(
  home: string,
  fingerprint: string,
  source: string,
  logger: Logger,
  now = new Date(),
): Promise<void> {
  const { stdout } = await gpg(home, ['--with-colons', '--fixed-list-mode', '--list-keys', fingerprint], `listing key ${fingerprint}`);
  const { problems, warnings } = signingKeyProblems(parseKeyRecords(stdout), fingerprint, now);
  for (const w of warnings) logger.warn(`${source}: ${w}`);
  if (problems.length)
    throw new UserError(`${source}: the signing key cannot sign repositories KET's clients accept:\n  ${problems.join('\n  ')}`);
}

/**
 * A throwaway GnuPG home for public keys only: reading a repository's public.key, checking who
 * signed its metadata, building the new public.key. Never the signing key's home (a user's
 * GNUPGHOME must not collect repository keys). `dispose` stops any agent gpg started for it.
 */
export class ScratchKeyring {
  private constructor(readonly home: string) {}

  /**
   * gpg on this keyring, never starting a gpg-agent: the agent holds secret keys and this keyring
   * has none (gpg 2.2 starts one for a mere public-key import otherwise: a daemon per keyring, and
   * a gpgconf run to stop it).
   */
  private gpg(args: readonly string[], what: string, input?: string) {
    return gpg(this.home, ['--no-autostart', ...args], what, input);
  }

  static async create(parent: string): Promise<ScratchKeyring> {
    await mkdir(parent, { recursive: true });
    const home = await mkdtemp(path.join(parent, 'keyring-'));
    await chmod(home, 0o700);
    return new ScratchKeyring(home);
  }

  /** Imports armored public keys; returns the primary fingerprints they hold. */
  async import(armored: string, what: string): Promise<string[]> {
    // One gpg run imports and lists what it imported (import-show), with the keys' fingerprints.
    const { stdout } = await this.gpg(['--with-colons', '--import-options', 'import-show', '--import'], `importing ${what}`, armored).catch(
      (e: Error) => {
        throw new UserError(`${what} holds no readable OpenPGP public key: ${e.message}`);
      },
    );
    const fingerprints = primaryFingerprints(stdout);
    if (fingerprints.length === 0) throw new UserError(`${what} holds no readable OpenPGP public key`);
    return fingerprints;
  }

  /** All keys of this keyring, one armored block (apt, dnf and yum read every key in it). */
  async exportAll(): Promise<string> {
    return (await this.gpg(['--armor', '--export-options', 'export-minimal', '--export'], 'exporting public keys')).stdout;
  }

  /**
   * One armored block per key, for tools that import only the first key of a block (rpmkeys).
   * @param fingerprints the keyring's keys in its order, when the caller knows them from its
   *   imports (one gpg run less); listed here otherwise
   */
  async exportEach(fingerprints?: readonly string[]): Promise<string[]> {
    const fprs = fingerprints ?? primaryFingerprints((await this.gpg(['--with-colons', '--list-keys'], 'listing public keys')).stdout);
    // One export per key, at once (process starts dominate), in the keyring's order.
    return Promise.all(fprs.map(async (fpr) => (await this.gpg(['--armor', '--export', fpr], `exporting ${fpr}`)).stdout));
  }

  /**
   * The primary fingerprint of the key whose good signature `signature` is (over `signed`, or a
   * clear-signed file when `signed` is undefined), from gpg's VALIDSIG status line; undefined when
   * no key of this keyring made a good signature.
   */
  async signerOf(signature: Buffer, signed: Buffer | undefined, scratchDir: string): Promise<string | undefined> {
    return (await this.verify(signature, signed, scratchDir)).signer;
  }

  /**
   * signerOf, and for a clear-signed file the text its signature covers as gpg verified it (the
   * same gpg run writes it out: `--output` with `--verify`), so a caller reads what was verified,
   * not what surrounds it.
   * @returns `signer` as signerOf; `signedText` (bytes as gpg writes them) only for a clear-signed
   *   file with a good signature
   */
  async verify(
    signature: Buffer,
    signed: Buffer | undefined,
    scratchDir: string,
  ): Promise<{ signer: string | undefined; signedText: Buffer | undefined }> {
    const sigFile = path.join(scratchDir, 'sig');
    const textFile = path.join(scratchDir, 'signed-text');
    const args = ['--status-fd', '1', ...(signed ? [] : ['--yes', '--output', textFile]), '--verify', sigFile];
    await writeFile(sigFile, signature);
    if (signed) {
      await writeFile(path.join(scratchDir, 'signed'), signed);
      args.push(path.join(scratchDir, 'signed'));
    }
    const { stdout } = await this.gpg(args, 'checking a metadata signature').catch((e: Error) => ({ stdout: e.message }));
    const validsig = stdout.split('\n').find((l) => l.startsWith('[GNUPG:] VALIDSIG '));
    // VALIDSIG <fpr> <date> <ts> <expire> <ver> <rsvd> <pkalgo> <hashalgo> <class> <primary-fpr>
    const signer = validsig?.split(' ')[11]?.trim();
    const signedText = signer && !signed ? await readFile(textFile).catch(() => undefined) : undefined;
    return { signer, signedText };
  }

  /** Removes the keyring (no agent to stop: none was started). */
  async dispose(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}

/** Primary-key fingerprints in `gpg --with-colons` output. */
export function primaryFingerprints(colons: string): string[] {
  return parseColonsKeys(colons).map((k) => k.fingerprint);
}
