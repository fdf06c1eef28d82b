import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { loadDeploymentConfig } from '../config/load';
import { DEFAULT_DEPLOYMENT_CONFIG } from '../config/defaults';
import { openSigningKey } from '../signing/keyring';
import { encodeSigningSecret, PRIVATE_KEY_HEADER } from '../signing/secret';
import { UserError } from '../util/errors';

export interface ImportSigningKeyOptions {
  /** Folder holding private.key (and public.key, and optionally passphrase): the old process's KEYS_PATH. */
  readonly keysPath: string;
  /** File holding the key's passphrase; default KEYS_PATH/passphrase when present. */
  readonly passphraseFile?: string;
  /**
   * Repository (trust zone) whose key this is; its secret is named by the deployment
   * configuration (repositories[].signingKeySecretName). Required unless `secretId` is given.
   */
  readonly repository?: string;
  /** Secret name or ARN to write, instead of the configured one. */
  readonly secretId?: string;
  /** Deployment configuration file. @default deploy.config.yaml */
  readonly configFile?: string;
  /** AWS region. @default the configuration's region, else the SDK's default chain */
  readonly region?: string;
}

export interface ImportedKey {
  readonly secretId: string;
  readonly fingerprint: string;
  readonly uid: string;
  readonly versionId?: string;
}

/**
 * Puts a GPG signing key into the Secrets Manager secret the pipelines of one trust zone read:
 * reads and proves the key (a test signature with gpg), works out the secret, then writes
 * {"privateKey", "passphrase"?} as a new version. Nothing is written for a bad key or a bad target.
 * Throws UserError naming the folder, file, field or secret at fault.
 */
export async function importSigningKey(opts: ImportSigningKeyOptions): Promise<ImportedKey> {
  const local = await readLocalKey(opts.keysPath, opts.passphraseFile);
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
    throw new UserError(`keys folder ${keysPath}: no such folder (expected the old KEYS_PATH, holding private.key and public.key)`);
  }
  const privatePath = path.join(keysPath, 'private.key');
  if (!existsSync(privatePath))
    throw new UserError(`keys folder ${keysPath}: no private.key in it (expected private.key and public.key, as the old process had)`);
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
      throw new UserError(`passphrase file ${passFile}: cannot read it: ${(e as Error).message}`);
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

function resolveTarget(opts: ImportSigningKeyOptions): { secretId: string; region?: string } {
  if (opts.secretId) return { secretId: opts.secretId, region: opts.region };
  const file = opts.configFile ?? DEFAULT_DEPLOYMENT_CONFIG;
  const config = loadDeploymentConfig(file);
  const names = config.repositories.map((r) => r.name);
  if (opts.repository === undefined)
    throw new UserError(
      `which repository's key is this? Each has its own secret (${file}: ${names.join(', ')}); name the repository or the secret`,
    );
  const repo = config.repositories.find((r) => r.name === opts.repository);
  if (!repo) throw new UserError(`repository "${opts.repository}" is not declared in ${file} (declared: ${names.join(', ')})`);
  return { secretId: repo.signingKeySecretName, region: opts.region ?? config.region };
}

/**
 * The one AWS call: a new version of an existing secret (the Repositories stack creates it, so
 * its policy and retention stay in code).
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
        `secret ${secretId} does not exist${region ? ` in ${region}` : ''}: deploy the Repositories stack first (npx cdk deploy KetPackages-Repositories creates it), or name another one`,
      );
    }
    throw new UserError(`cannot write secret ${secretId}: ${err.name ?? 'error'}: ${err.message}`);
  } finally {
    client.destroy();
  }
}
