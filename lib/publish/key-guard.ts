import { parseColonsKeys } from '../signing/colons';
import { gpg, SigningKey } from '../signing/keyring';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';
import { getObjectBytes, S3Target } from './s3';

/**
 * Every client of a repository trusts the key in its public.key. Publishing with another key
 * would make the next `yum`/`apt-get update` on every KET cluster fail, so a key change is refused
 * unless the release engineer says it is a rotation (--allow-key-change).
 */
export async function assertSameSigningKey(
  target: S3Target,
  buckets: readonly string[],
  key: SigningKey,
  allowKeyChange: boolean,
  logger: Logger,
): Promise<void> {
  for (const bucket of buckets) {
    const published = await getObjectBytes(target, bucket, 'public.key');
    if (!published) continue;
    const fingerprints = await fingerprintsOf(key, published.body.toString('utf8'), bucket);
    if (fingerprints.includes(key.fingerprint)) continue;
    const message = `s3://${bucket}/public.key holds key ${fingerprints.join(', ') || '(none readable)'}, but this publish signs with ${key.fingerprint} (${key.source})`;
    if (!allowKeyChange) {
      throw new UserError(
        `${message}: clients that trust the published key would reject the repository. Use the repository's key, or pass --allow-key-change to rotate it (clients must then import the new public.key); nothing was written`,
      );
    }
    logger.warn(`${message}: rotating the key (--allow-key-change); clients must import the new public.key`);
  }
}

/** Primary-key fingerprints of an armored public key block, read without importing it. */
async function fingerprintsOf(key: SigningKey, armored: string, bucket: string): Promise<string[]> {
  const { stdout } = await gpg(
    key.gnupgHome,
    ['--with-colons', '--import-options', 'show-only', '--import'],
    `reading s3://${bucket}/public.key`,
    armored,
  ).catch(() => ({ stdout: '' }));
  return parsePrimaryFingerprints(stdout);
}

export function parsePrimaryFingerprints(colons: string): string[] {
  return parseColonsKeys(colons).map((k) => k.fingerprint);
}
