import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { findAptlyDatabase, packAptlyDatabase, stateKey, unpackAptlyDatabase } from '../publish/aptly-db';
import { aptlyConfig, aptlyPackageRef, parseAptlyRepoShow } from '../publish/deb';
import { bucketOf, getObjectBytes, S3Target } from '../publish/s3';
import { run } from '../util/exec';
import { Logger } from '../util/log';
import { PackageEntry } from './snapshot';
import { CloneRepository } from './types';

/** The aptly repository publish keeps its packages in (lib/publish/deb.ts). */
const APTLY_REPO = 'kismatic';

export interface AptlyStateForDestination {
  /**
   * The database to store as the destination's (`db.tar.zst`, lib/publish/aptly-db.ts), or
   * undefined: none (the next publish rebuilds it from the pool).
   */
  readonly body?: Buffer;
  /** What was done, for the log. */
  readonly note: string;
}

/**
 * The destination's aptly database, made from the source's as it is now but holding exactly the
 * packages of the snapshot: a publish into the source after the snapshot may have saved a newer
 * database, whose extra packages are removed (their pool files were not copied). A database that
 * lacks some snapshot packages is kept as is: publish takes them back from the pool (lib/publish/deb.ts).
 * Without a source database there is none for the destination either.
 */
export async function aptlyStateForDestination(
  target: S3Target,
  source: CloneRepository,
  snapshotPackages: readonly PackageEntry[],
  workDir: string,
  logger: Logger,
): Promise<AptlyStateForDestination> {
  const state = bucketOf(target, source.state.bucket, `state of '${source.name}'`);
  // db.tar.zst, or db.tar.gz where a version before it published last (findAptlyDatabase).
  const db = await findAptlyDatabase((key) => getObjectBytes(state, key), source.state.prefix, source.debBucket);
  if (!db)
    return {
      note: `no aptly database at s3://${source.state.bucket}/${stateKey(source.state.prefix, source.debBucket)}; the next publish rebuilds it from the pool`,
    };
  const root = path.join(workDir, 'aptly');
  await mkdir(root, { recursive: true });
  await unpackAptlyDatabase(db.found.body, root, db.format, "unpacking the source's aptly database");
  const config = path.join(workDir, 'aptly.conf');
  await writeFile(config, aptlyConfig(root, path.join(workDir, 'aptly-out')));
  const aptly = (args: string[], what: string) => run('aptly', [`-config=${config}`, ...args], { what });
  const held = parseAptlyRepoShow((await aptly(['repo', 'show', '-with-packages', APTLY_REPO], 'listing the aptly database')).stdout);
  const wanted = new Set(snapshotPackages.map(aptlyPackageRef));
  const extra = held.filter((r) => !wanted.has(r));
  const lacking = snapshotPackages.length - held.filter((r) => wanted.has(r)).length;
  const from = db.format === 'zst' ? '' : ` from ${path.posix.basename(db.key)}`;
  if (extra.length === 0 && db.format === 'zst') {
    return {
      body: db.found.body,
      note: `aptly database copied (${held.length} package(s)${lacking ? `, ${lacking} left for publish to take from the pool` : ''})`,
    };
  }
  if (extra.length) {
    await aptly(['repo', 'remove', APTLY_REPO, ...extra], 'removing packages published after the snapshot from the aptly database');
    logger.info(`aptly database: removed ${extra.length} package(s) the source published after the snapshot`);
  }
  // Packed again: without the extra packages, and always in the form publish writes.
  const packed = path.join(workDir, 'db.tar.zst');
  await packAptlyDatabase(root, packed, 'packing the aptly database');
  return {
    body: await readFile(packed),
    note: extra.length
      ? `aptly database copied${from} without ${extra.length} newer package(s)`
      : `aptly database copied${from} (${held.length} package(s)${lacking ? `, ${lacking} left for publish to take from the pool` : ''})`,
  };
}
