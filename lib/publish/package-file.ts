import { hashFile } from '../util/hash';
import { PublishedPackage } from './metadata';

/** A package file of this build, identified like a published one. */
export interface LocalPackage extends PublishedPackage {
  /** Path on local disk. */
  readonly file: string;
}

/** sha256 of a package file (one helper for the project: lib/util/hash). */
export function sha256File(file: string): Promise<string> {
  return hashFile(file, 'sha256');
}
