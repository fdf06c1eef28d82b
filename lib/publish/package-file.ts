import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PublishedPackage } from './metadata';

/** A package file of this build, identified like a published one. */
export interface LocalPackage extends PublishedPackage {
  /** Path on local disk. */
  readonly file: string;
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => hash.update(d))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
