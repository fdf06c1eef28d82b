import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The digests this project uses: sha256 everywhere, sha512 where an upstream publishes only that. */
export type HashAlgorithm = 'sha256' | 'sha512';

/**
 * Lowercase hex digest of a file, streamed (memory stays flat for multi-GB image bundles). sha1
 * only to check repodata an older createrepo listed with "sha" checksums.
 */
export function hashFile(file: string, algorithm: HashAlgorithm | 'sha1' = 'sha256'): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    createReadStream(file)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
