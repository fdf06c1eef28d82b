import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Command } from 'commander';
import { DEFAULT_DEPLOYMENT_CONFIG, loadDeploymentConfig } from '../config/load';
import { openSigningKey } from '../signing/keyring';
import { encodeSigningSecret, PRIVATE_KEY_HEADER } from '../signing/secret';
import { UserError } from '../util/errors';
import { action } from './program';

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('Manage the GPG signing key used by the AWS pipelines.');
  keys
    .command('import')
    .description(
      'Put KEYS_PATH/private.key (and its passphrase, if any) into the Secrets Manager secret the pipelines read; the key is checked with a test signature first.',
    )
    .requiredOption('--from <dir>', "folder with private.key (and public.key), as the old process's KEYS_PATH")
    .option('--passphrase-file <file>', "file holding the key's passphrase (default: <dir>/passphrase if present)")
    .option('--secret <name-or-arn>', 'secret to write (default: signingKeySecretName of the deployment configuration)')
    .option('--config <file>', 'deployment configuration', DEFAULT_DEPLOYMENT_CONFIG)
    .option('--region <region>', "AWS region (default: the configuration's region, else the SDK default)")
    .action(
      action(async (opts: ImportKeyOptions) => {
        const result = await importSigningKey(opts);
        process.stderr.write(
          `stored key ${result.fingerprint} (${result.uid}) in secret ${result.secretId}${result.versionId ? `, version ${result.versionId}` : ''}\n`,
        );
      }),
    );
}

export interface ImportKeyOptions {
  readonly from: string;
  readonly passphraseFile?: string;
  readonly secret?: string;
  readonly config?: string;
  readonly region?: string;
}

export interface ImportedKey {
  readonly secretId: string;
  readonly fingerprint: string;
  readonly uid: string;
  readonly versionId?: string;
}

/** Reads and proves the key, works out where it goes, then writes it: nothing is written for a bad key. */
export async function importSigningKey(opts: ImportKeyOptions): Promise<ImportedKey> {
  const local = await readLocalKey(opts.from, opts.passphraseFile);
  const target = resolveTarget(opts);
  const versionId = await putSigningSecret(target.secretId, encodeSigningSecret(local), target.region);
  return { secretId: target.secretId, fingerprint: local.fingerprint, uid: local.uid, versionId };
}

export interface LocalSigningKey {
  readonly privateKey: string;
  readonly passphrase?: string;
  readonly fingerprint: string;
  readonly uid: string;
}

/** Reads KEYS_PATH/private.key and the passphrase, and proves with gpg that they sign. */
export async function readLocalKey(keysPath: string, passphraseFile?: string): Promise<LocalSigningKey> {
  if (!existsSync(keysPath) || !statSync(keysPath).isDirectory()) {
    throw new UserError(`--from ${keysPath}: no such folder (expected the old KEYS_PATH, holding private.key and public.key)`);
  }
  const privatePath = path.join(keysPath, 'private.key');
  if (!existsSync(privatePath))
    throw new UserError(`--from ${keysPath}: no private.key in it (expected private.key and public.key, as the old process had)`);
  const privateKey = readFileSync(privatePath, 'utf8');
  if (!privateKey.includes(PRIVATE_KEY_HEADER)) {
    throw new UserError(`${privatePath}: not an ASCII-armored PGP private key (export it with gpg --armor --export-secret-keys)`);
  }
  const passFile = passphraseFile ?? (existsSync(path.join(keysPath, 'passphrase')) ? path.join(keysPath, 'passphrase') : undefined);
  let passphrase: string | undefined;
  if (passFile !== undefined) {
    try {
      passphrase = readFileSync(passFile, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new UserError(`--passphrase-file ${passFile}: cannot read it: ${(e as Error).message}`);
    }
  }
  // The same check the pipelines make before signing: right key, right passphrase.
  const key = await openSigningKey({ keysPath, passphrase }, 'keys import');
  try {
    return { privateKey, passphrase: passphrase || undefined, fingerprint: key.fingerprint, uid: key.uid };
  } finally {
    await key.dispose();
  }
}

function resolveTarget(opts: ImportKeyOptions): { secretId: string; region?: string } {
  if (opts.secret) return { secretId: opts.secret, region: opts.region };
  const config = loadDeploymentConfig(opts.config ?? DEFAULT_DEPLOYMENT_CONFIG);
  return { secretId: config.signingKeySecretName, region: opts.region ?? config.region };
}

/**
 * The one AWS call: a new version of an existing secret (the Repositories stack creates it, so
 * its policy and retention stay in code). Thin on purpose: there is no AWS here to test against.
 */
export async function putSigningSecret(secretId: string, value: string, region?: string): Promise<string | undefined> {
  const client = new SecretsManagerClient(region ? { region } : {});
  try {
    const out = await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
    return out.VersionId;
  } catch (e) {
    const err = e as Error & { name?: string };
    if (err.name === 'ResourceNotFoundException') {
      throw new UserError(
        `secret ${secretId} does not exist${region ? ` in ${region}` : ''}: deploy the Repositories stack first (npx cdk deploy KetPackages-Repositories creates it), or name another one with --secret`,
      );
    }
    throw new UserError(`cannot write secret ${secretId}: ${err.name ?? 'error'}: ${err.message}`);
  } finally {
    client.destroy();
  }
}
