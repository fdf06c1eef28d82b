import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { AptlyDatabaseFormat, stateKey, unpackAptlyDatabase } from '../../lib/publish/aptly-db';
import { aptlyConfig, parseAptlyRepoShow } from '../../lib/publish/deb';
import { Bucket, getObjectBytes } from '../../lib/publish/s3';
import { putBytes } from '../../lib/publish/upload';
import { run } from '../../lib/util/exec';

/**
 * Package refs (NAME_VERSION_ARCH) held by the aptly database stored under `format`'s key of a
 * state place, or undefined when that key does not exist. `scratch` receives a work folder.
 */
export async function aptlyPackagesStored(
  state: Bucket,
  prefix: string,
  debBucket: string,
  format: AptlyDatabaseFormat,
  scratch: string,
): Promise<string[] | undefined> {
  const db = await getObjectBytes(state, stateKey(prefix, debBucket, format));
  if (!db) return undefined;
  const work = await mkdtemp(path.join(scratch, 'aptly-'));
  await mkdir(path.join(work, 'root'));
  await unpackAptlyDatabase(db.body, path.join(work, 'root'), format, 'unpacking a stored aptly database');
  await writeFile(path.join(work, 'aptly.conf'), aptlyConfig(path.join(work, 'root'), path.join(work, 'out')));
  const { stdout } = await run('aptly', [`-config=${path.join(work, 'aptly.conf')}`, 'repo', 'show', '-with-packages', 'kismatic']);
  return parseAptlyRepoShow(stdout);
}

/**
 * Turns a state place into what versions before db.tar.zst left: the database as db.tar.gz (gzip,
 * as they packed it) and no db.tar.zst.
 * @throws when the state holds no db.tar.zst
 */
export async function keepOnlyGzipDatabase(state: Bucket, prefix: string, debBucket: string, scratch: string): Promise<void> {
  const zst = stateKey(prefix, debBucket, 'zst');
  const db = await getObjectBytes(state, zst);
  if (!db) throw new Error(`no s3://${state.name}/${zst}`);
  const work = await mkdtemp(path.join(scratch, 'aptly-gz-'));
  await unpackAptlyDatabase(db.body, work, 'zst', 'unpacking a stored aptly database');
  await run('tar', ['-czf', path.join(work, 'db.tar.gz'), '-C', work, 'db']);
  await putBytes(state, stateKey(prefix, debBucket, 'gz'), await readFile(path.join(work, 'db.tar.gz')), {
    cacheControl: 'no-store',
    contentType: 'application/gzip',
  });
  await state.s3.client.send(new DeleteObjectCommand({ Bucket: state.name, Key: zst }));
}
