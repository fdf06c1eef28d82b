import { Readable } from 'node:stream';
import { run } from '../util/exec';

/**
 * aptly's database as the private state place keeps it between runs: the `db/` folder of aptly's
 * root (goleveldb tables) in a tar. One way to find, pack and unpack it, for publish and clone.
 *
 * Every publish writes `db.tar.zst` (zstd level 1). Versions before it wrote `db.tar.gz` (gzip
 * level 1); that object stays (nothing in the state place is ever deleted by a publish) and is
 * read only where no `db.tar.zst` exists yet. Measured on the database of 10,000 packages: zstd -1
 * packs in 38 ms to 5.11 MB, gzip -1 in 149 ms to 5.39 MB, and unpacks faster too; packing sits
 * between aptly's publish and the upload, unpacking before aptly can start.
 */

/** The stored forms of the database, in the order they are looked for. */
export const APTLY_DATABASE_FORMATS = ['zst', 'gz'] as const;
export type AptlyDatabaseFormat = (typeof APTLY_DATABASE_FORMATS)[number];

/** Content-Type of the stored database (RFC 8878 registers application/zstd). */
export const APTLY_DATABASE_CONTENT_TYPE = 'application/zstd';

/**
 * The key of a repository's aptly database in the state place: `<prefix>aptly/<bucket>/db.tar.zst`,
 * or with format 'gz' the key versions before it wrote (`db.tar.gz`). `prefix` ends with '/' (or is '').
 */
export function stateKey(prefix: string, bucket: string, format: AptlyDatabaseFormat = 'zst'): string {
  return `${prefix}aptly/${bucket}/db.tar.${format}`;
}

/**
 * Finds the stored database with `get` (a read of one key that answers undefined when the key does
 * not exist): `db.tar.zst`, and only when that does not exist `db.tar.gz`, the object of versions
 * before it (so a repository those published is read fine; the extra request is made only in that
 * case, and the publish that follows writes `db.tar.zst`).
 * @returns what `get` answered, with the key and format it was found under; undefined when neither exists
 * @throws whatever `get` throws
 */
export async function findAptlyDatabase<T>(
  get: (key: string) => Promise<T | undefined>,
  prefix: string,
  bucket: string,
): Promise<{ found: T; key: string; format: AptlyDatabaseFormat } | undefined> {
  for (const format of APTLY_DATABASE_FORMATS) {
    const key = stateKey(prefix, bucket, format);
    const found = await get(key);
    if (found !== undefined) return { found, key, format };
  }
  return undefined;
}

/**
 * Unpacks a stored database of the given format into `aptlyRoot` (creates `aptlyRoot/db`) from
 * bytes or from a stream (tar reads its standard input: no scratch copy of the archive, and a
 * download is unpacked as it arrives). tar 1.34 (Debian 12, Ubuntu 22.04) runs `zstd -d` for --zstd.
 * @throws ToolError naming `what` when tar, zstd or gzip refuse the archive, or the stream fails
 */
export async function unpackAptlyDatabase(
  archive: Buffer | Readable,
  aptlyRoot: string,
  format: AptlyDatabaseFormat,
  what: string,
): Promise<void> {
  await run('tar', [format === 'zst' ? '--zstd' : '--gzip', '-x', '-f', '-', '-C', aptlyRoot], { what, input: archive });
}

/**
 * Packs `aptlyRoot/db` into `file` as `db.tar.zst` is stored (zstd level 1: the leveldb tables are
 * already snappy-compressed, so higher levels gain little and cost time between aptly's publish
 * and the upload).
 * @throws ToolError naming `what`
 */
export async function packAptlyDatabase(aptlyRoot: string, file: string, what: string): Promise<void> {
  await run('tar', ['--use-compress-program=zstd -1 -q', '-c', '-f', file, '-C', aptlyRoot, 'db'], { what });
}
