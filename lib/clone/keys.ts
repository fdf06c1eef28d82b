import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseColonsKeys } from '../signing/colons';
import { gpg } from '../signing/keyring';
import { UserError } from '../util/errors';
import { run } from '../util/exec';

/**
 * A throwaway GnuPG home holding only public keys: checks the source repository's signatures
 * against its own public.key and builds the destination's public.key. Nothing secret enters it.
 */
export class PublicKeyring {
  /** gpg runs one at a time on this home (see exclusive). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly home: string,
    private readonly scratch: string,
  ) {}

  /**
   * Runs `fn` after every gpg run already queued on this home: the clone reads the RPM and DEB
   * sides at once, and a gpg that reads the keyring while another imports into it fails
   * ("keydb_get_keyblock failed: Value not found").
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  static async open(): Promise<PublicKeyring> {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'ket-clone-keys-'));
    await chmod(scratch, 0o700);
    const home = path.join(scratch, 'home');
    await run('mkdir', ['-p', '-m', '0700', home]);
    return new PublicKeyring(home, scratch);
  }

  /**
   * Imports an armored public key block.
   * @returns the primary-key fingerprints it holds (uppercase hex).
   * @throws UserError naming `what` when gpg cannot read it.
   */
  import(armored: string, what: string): Promise<string[]> {
    return this.exclusive(() => this.importNow(armored, what));
  }

  private async importNow(armored: string, what: string): Promise<string[]> {
    const shown = await gpg(this.home, ['--with-colons', '--import-options', 'show-only', '--import'], `reading ${what}`, armored).catch(
      (e: Error) => {
        throw new UserError(`${what} is not a readable PGP public key: ${e.message}`);
      },
    );
    const fingerprints = primaryFingerprints(shown.stdout);
    if (fingerprints.length === 0) throw new UserError(`${what} holds no public key`);
    await gpg(this.home, ['--import'], `importing ${what}`, armored);
    return fingerprints;
  }

  /**
   * Checks a detached signature. @returns the signer's primary fingerprint, or undefined when the
   * signature does not verify with a key of this keyring (a torn read, or a foreign key).
   */
  async verifyDetached(data: Buffer, signature: Buffer): Promise<string | undefined> {
    const dir = await mkdtemp(path.join(this.scratch, 'v-'));
    await writeFile(path.join(dir, 'data'), data);
    await writeFile(path.join(dir, 'data.asc'), signature);
    return this.signer(['--verify', path.join(dir, 'data.asc'), path.join(dir, 'data')]);
  }

  /**
   * Checks a clear-signed file (InRelease). @returns the signed text and the signer, or undefined
   * when it does not verify.
   */
  async verifyClearSigned(signed: Buffer): Promise<{ text: Buffer; signer: string } | undefined> {
    const dir = await mkdtemp(path.join(this.scratch, 'c-'));
    await writeFile(path.join(dir, 'InRelease'), signed);
    const out = path.join(dir, 'Release');
    const signer = await this.signer(['--output', out, '--decrypt', path.join(dir, 'InRelease')]);
    if (!signer) return undefined;
    return { text: await readFile(out), signer };
  }

  private signer(args: string[]): Promise<string | undefined> {
    return this.exclusive(() => this.signerNow(args));
  }

  private async signerNow(args: string[]): Promise<string | undefined> {
    try {
      const { stdout } = await run('gpg', [
        '--batch',
        '--no-tty',
        '--homedir',
        this.home,
        '--status-fd',
        '1',
        '--trust-model',
        'always',
        ...args,
      ]);
      // VALIDSIG <fpr> ... <primary-fpr>: the last field is the primary key's fingerprint.
      const valid = stdout.split('\n').find((l) => l.startsWith('[GNUPG:] VALIDSIG '));
      if (!valid) return undefined;
      const f = valid.trim().split(' ');
      return f[f.length - 1];
    } catch {
      return undefined;
    }
  }

  /**
   * One armored block with these keys (in the keyring's order).
   * @throws UserError when a fingerprint is not in the keyring.
   */
  export(fingerprints: readonly string[]): Promise<string> {
    return this.exclusive(() => this.exportNow(fingerprints));
  }

  private async exportNow(fingerprints: readonly string[]): Promise<string> {
    const { stdout } = await gpg(this.home, ['--armor', '--export', ...fingerprints], 'exporting public keys');
    const held = primaryFingerprints(
      (await gpg(this.home, ['--with-colons', '--import-options', 'show-only', '--import'], 'checking the export', stdout)).stdout,
    );
    const missing = fingerprints.filter((f) => !held.includes(f));
    if (missing.length) throw new UserError(`public keys ${missing.join(', ')} could not be exported`);
    return stdout;
  }

  async dispose(): Promise<void> {
    await run('gpgconf', ['--homedir', this.home, '--kill', 'all']).catch(() => undefined);
    await rm(this.scratch, { recursive: true, force: true });
  }
}

function primaryFingerprints(colons: string): string[] {
  return parseColonsKeys(colons).map((k) => k.fingerprint);
}
