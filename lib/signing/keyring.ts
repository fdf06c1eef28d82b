import { rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { run, ToolError } from '../util/exec';
import { parseColonsKeys } from './colons';
import { decodeSigningSecret, PRIVATE_KEY_HEADER } from './secret';

/**
 * Where the signing key comes from, in order of precedence: a Secrets Manager secret (CodeBuild),
 * a KEYS_PATH folder with private.key and public.key (the old process's habit), or an existing
 * GNUPGHOME. A passphrase comes from a value or a file, never from a prompt.
 */
export interface SigningKeyOptions {
  /** A folder holding private.key (ASCII-armored) and public.key. */
  readonly keysPath?: string;
  /** An existing GnuPG home holding the secret key. */
  readonly gnupgHome?: string;
  /** A Secrets Manager secret (name or ARN) written by `ket-packages keys import`. */
  readonly secretId?: string;
  readonly passphrase?: string;
  readonly passphraseFile?: string;
  /** Which secret key to use when the keyring holds several (fingerprint, key id or uid). */
  readonly keyId?: string;
  /**
   * What the user called each setting, so messages name what they typed: e.g.
   * `{ keysPath: '--keys-path' }` or `{ keysPath: 'KEYS_PATH' }`.
   * @default the field name ('keysPath', …)
   */
  readonly labels?: SigningKeyLabels;
}

export type SigningKeyLabels = Partial<Record<Exclude<keyof SigningKeyOptions, 'labels'>, string>>;

/** 'KEYS_PATH=/x' for an environment variable, '--keys-path /x' for a flag or a field name. */
export function describeSetting(label: string, value: string): string {
  return /^[A-Z][A-Z0-9_]*$/.test(label) ? `${label}=${value}` : `${label} ${value}`;
}

export interface SigningKey {
  /** The GnuPG home holding the secret key; pass it to rpmsign and aptly as GNUPGHOME. */
  readonly gnupgHome: string;
  readonly fingerprint: string;
  /** Long key id (16 hex digits). */
  readonly keyId: string;
  readonly uid: string;
  readonly publicKeyArmored: string;
  /** A 0600 file holding the passphrase; absent when the key has none. */
  readonly passphraseFile?: string;
  /** Human description of where the key came from, for messages. */
  readonly source: string;
  /** Stops the gpg-agent of a temporary home and removes it with the passphrase file. */
  dispose(): Promise<void>;
}

/**
 * Opens the signing key and proves it can sign (right key, right passphrase) before any work
 * starts, so a bad key fails in seconds rather than after a long build.
 */
export async function openSigningKey(
  opts: SigningKeyOptions,
  what = 'signing',
  /** Refuses a key before it is used (e.g. one clients would not accept); runs before the test signature. */
  accept?: (gnupgHome: string, fingerprint: string, source: string) => Promise<void>,
): Promise<SigningKey> {
  const label = (k: keyof SigningKeyLabels) => opts.labels?.[k] ?? k;
  // Up to the import, the files are small and local and handled synchronously: the import (and
  // the gpg-agent it starts) begins in the same turn as the call, before a caller goes on to CPU
  // work such as loading the AWS SDK (lib/publish).
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'ket-gpg-'));
  chmodSync(scratch, 0o700);
  secretScratch.add(scratch);
  let home = opts.gnupgHome;
  let source: string;
  let ownHome = false;
  /** The import's listing of the keys it imported (a fresh home holds only those). */
  let imported: string | undefined;
  try {
    if (opts.secretId || opts.keysPath) {
      home = path.join(scratch, 'home');
      ownHome = true;
      prepareHome(home);
    }
    let passphrase = opts.passphrase;
    if (opts.passphraseFile) {
      try {
        passphrase = readFileSync(opts.passphraseFile, 'utf8');
      } catch (e) {
        throw new UserError(
          `${describeSetting(label('passphraseFile'), opts.passphraseFile)}: cannot read the passphrase file: ${(e as Error).message}`,
        );
      }
      passphrase = passphrase.replace(/\r?\n$/, '');
    }
    if (opts.secretId) {
      source = describeSetting(label('secretId'), opts.secretId);
      const secret = await readSigningSecret(opts.secretId, source);
      passphrase = passphrase ?? secret.passphrase;
      imported = await importKey(home!, secret.privateKey, passphrase, source);
    } else if (opts.keysPath) {
      source = describeSetting(label('keysPath'), opts.keysPath);
      if (!existsSync(opts.keysPath)) throw new UserError(`${source}: the folder ${opts.keysPath} does not exist`);
      const privatePath = path.join(opts.keysPath, 'private.key');
      if (!existsSync(privatePath))
        throw new UserError(`${source}: no private.key in ${opts.keysPath} (expected private.key and public.key, as the old process had)`);
      imported = await importKey(home!, readFileSync(privatePath, 'utf8'), passphrase, source);
    } else if (opts.gnupgHome) {
      source = describeSetting(label('gnupgHome'), opts.gnupgHome);
      if (!existsSync(opts.gnupgHome)) throw new UserError(`${source}: no such directory`);
    } else {
      throw new UserError(
        `${what} needs a GPG key: set ${label('keysPath')} (a folder with private.key and public.key), ${label('gnupgHome')}, or ${label('secretId')} (a Secrets Manager secret written by 'ket-packages keys import')`,
      );
    }
    const key = await findSecretKey(home!, opts.keyId, source, label('keyId'), imported);
    let passphraseFile: string | undefined;
    if (passphrase !== undefined && passphrase !== '') {
      passphraseFile = path.join(scratch, 'passphrase');
      await writeFile(passphraseFile, passphrase, { mode: 0o600 });
    }
    const passphraseFrom = opts.passphraseFile ? label('passphraseFile') : opts.passphrase !== undefined ? label('passphrase') : undefined;
    // Three independent gpg runs at once (each is a process start); failures are reported in this
    // order, as when they ran one after the other: the key's acceptance, then the passphrase.
    const [accepted, proved, exported] = await Promise.allSettled([
      Promise.resolve(accept?.(home!, key.fingerprint, source)),
      proveSigning(home!, key.fingerprint, passphraseFile, source, path.join(scratch, 'check.sig'), {
        given: passphraseFrom,
        settings: `${label('passphrase')} or ${label('passphraseFile')}`,
      }),
      gpg(home!, ['--armor', '--export', key.fingerprint], `exporting the public key from ${source}`),
    ]);
    for (const r of [accepted, proved, exported]) if (r.status === 'rejected') throw r.reason;
    const publicKeyArmored = (exported as PromiseFulfilledResult<{ stdout: string }>).value.stdout;
    return {
      gnupgHome: home!,
      ...key,
      publicKeyArmored,
      passphraseFile,
      source,
      dispose: async () => {
        if (ownHome) await run('gpgconf', ['--homedir', home!, '--kill', 'all']).catch(() => undefined);
        await rm(scratch, { recursive: true, force: true });
        secretScratch.delete(scratch);
      },
    };
  } catch (e) {
    if (ownHome) await run('gpgconf', ['--homedir', home!, '--kill', 'all']).catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
    secretScratch.delete(scratch);
    throw e;
  }
}

/**
 * Temporary folders holding an imported secret key (and the socket of its gpg-agent) that are not
 * disposed yet. If the process exits first (a second Ctrl-C quits at once: process.exit), they are
 * removed on the way out, synchronously, their agents stopped: a secret key never outlives the
 * process that imported it (only SIGKILL, which runs no code, can leave one).
 */
const secretScratch = new Set<string>();
process.on('exit', () => {
  for (const scratch of secretScratch) {
    spawnSync('gpgconf', ['--homedir', path.join(scratch, 'home'), '--kill', 'all'], { stdio: 'ignore', timeout: 5_000 });
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** Runs gpg in batch mode with loopback pinentry, so it can never stop at a prompt. */
export function gpg(home: string, args: readonly string[], what: string, input?: string) {
  return run('gpg', ['--batch', '--yes', '--no-tty', '--homedir', home, '--pinentry-mode', 'loopback', ...args], { what, input });
}

/** Arguments that hand gpg the key's passphrase, if it has one. */
export function passphraseArgs(key: Pick<SigningKey, 'passphraseFile'>): string[] {
  return key.passphraseFile ? ['--passphrase-file', key.passphraseFile] : ['--passphrase', ''];
}

export async function detachSign(key: SigningKey, file: string, out: string): Promise<void> {
  await gpg(
    key.gnupgHome,
    [...passphraseArgs(key), '--local-user', key.fingerprint, '--armor', '--detach-sign', '--output', out, file],
    `signing ${path.basename(file)}`,
  );
}

export async function clearSign(key: SigningKey, file: string, out: string): Promise<void> {
  await gpg(
    key.gnupgHome,
    [...passphraseArgs(key), '--local-user', key.fingerprint, '--clearsign', '--output', out, file],
    `clear-signing ${path.basename(file)}`,
  );
}

function prepareHome(home: string): void {
  // As `mkdir -p -m 0700` did: the mode applies to what is created (0700 survives any umask).
  mkdirSync(home, { recursive: true, mode: 0o700 });
  // No passphrase caching: a wrong passphrase must fail every time, not pass on a cached one.
  writeFileSync(path.join(home, 'gpg-agent.conf'), 'allow-loopback-pinentry\ndefault-cache-ttl 0\nmax-cache-ttl 0\n');
}

/**
 * Imports an armored private key into a fresh home; returns what was imported as `gpg
 * --with-colons` lists it (import-show: the same sec/fpr/uid records --list-secret-keys gives for
 * a home that holds only this key, without a second gpg run).
 */
async function importKey(home: string, armored: string, passphrase: string | undefined, source: string): Promise<string> {
  if (!armored.includes(PRIVATE_KEY_HEADER)) {
    throw new UserError(`${source}: private.key is not an ASCII-armored PGP private key`);
  }
  const args = passphrase !== undefined ? ['--passphrase', passphrase] : [];
  const { stdout } = await gpg(
    home,
    [...args, '--with-colons', '--import-options', 'import-show', '--import'],
    `importing the signing key from ${source}`,
    armored,
  ).catch((e: Error) => {
    throw new UserError(`${source}: gpg could not import the private key: ${e.message}`);
  });
  return stdout;
}

async function findSecretKey(
  home: string,
  wanted: string | undefined,
  source: string,
  keyIdLabel: string,
  /** The home's secret keys as already listed (by the import into a fresh home). */
  listing?: string,
): Promise<{ fingerprint: string; keyId: string; uid: string }> {
  const { stdout } =
    listing !== undefined
      ? { stdout: listing }
      : await gpg(home, ['--with-colons', '--list-secret-keys'], `listing secret keys in ${source}`).catch(() => ({
          stdout: '',
        }));
  const keys = parseSecretKeys(stdout);
  const matches = wanted ? keys.filter((k) => k.fingerprint.endsWith(wanted.toUpperCase()) || k.uid.includes(wanted)) : keys;
  if (keys.length === 0) throw new UserError(`${source}: holds no secret (private) key`);
  if (matches.length === 0) throw new UserError(`${source}: no secret key matches ${describeSetting(keyIdLabel, wanted!)}`);
  if (matches.length > 1)
    throw new UserError(
      `${source}: holds ${matches.length} secret keys; choose one with ${keyIdLabel} (fingerprints: ${matches.map((k) => k.fingerprint).join(', ')})`,
    );
  return matches[0];
}

/** The secret keys of a `gpg --with-colons --list-secret-keys` listing, with their first uid. */
export function parseSecretKeys(colons: string): Array<{ fingerprint: string; keyId: string; uid: string }> {
  return parseColonsKeys(colons)
    .filter((k) => k.type === 'sec')
    .map((k) => ({ fingerprint: k.fingerprint, keyId: k.keyId, uid: k.uids[0] ?? '' }));
}

// The test signature goes to a scratch file, never /dev/null: gpg removes its output file when
// signing fails, and as root that would remove /dev/null itself.
async function proveSigning(
  home: string,
  fingerprint: string,
  passphraseFile: string | undefined,
  source: string,
  out: string,
  passphrase: { given?: string; settings: string },
): Promise<void> {
  try {
    await gpg(
      home,
      [...passphraseArgs({ passphraseFile }), '--local-user', fingerprint, '--detach-sign', '--output', out],
      `test signature with ${source}`,
      'ket-packages key check\n',
    );
  } catch (e) {
    if (!(e instanceof ToolError) || e.timedOut || e.notInstalled) throw e;
    // gpg reports these only as text: "signing failed: Bad passphrase" / "No passphrase given"
    // (pinentry-mode loopback with an empty passphrase).
    const needsOne = `${source}: key ${fingerprint} is protected by a passphrase: set ${passphrase.settings}`;
    if (/bad passphrase/i.test(e.stderr)) {
      throw new UserError(passphraseFile ? `${source}: wrong passphrase for key ${fingerprint} (from ${passphrase.given})` : needsOne);
    }
    if (/no passphrase/i.test(e.stderr)) throw new UserError(needsOne);
    throw new UserError(`${source}: key ${fingerprint} cannot sign: ${e.message}`);
  }
}

async function readSigningSecret(secretId: string, source: string) {
  // Loaded only when a secret is used: the SDK client costs every other command ~0.2 s of start-up.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (!out.SecretString) throw new UserError(`secret ${secretId} has no string value`);
    return decodeSigningSecret(out.SecretString, secretId);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${source}: cannot read the signing key secret: ${(e as Error).message}`);
  } finally {
    client.destroy();
  }
}
