/**
 * Packages and pre-filled repositories for bench:publish, built once and cached under
 * .cache/bench-publish/ (delete it to rebuild). The pre-filled state is generated in bulk with the
 * real tools (rpmbuild, dpkg-deb, createrepo_c, aptly, gpg), not by publishing M packages one
 * publish at a time: it is the state our publish leaves (same createrepo_c format, same aptly
 * configuration and publication, signed entry files). (Stores cached by versions that kept aptly's
 * database also hold it in s3://ket-state/bench/aptly/: publish no longer reads it.)
 */
import { existsSync } from 'node:fs';
import { copyFile, cp, link, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { aptlyConfig, aptlyPublishCommands, DISTRIBUTION } from '../lib/publish/deb';
import { CREATEREPO_FORMAT, kismaticRepoFile } from '../lib/publish/rpm';
import { clearSignSha512, detachSignSha512 } from '../lib/publish/sign';
import { startEmbeddedStore } from '../lib/local/store/server';
import { openSigningKey } from '../lib/signing/keyring';
import { run } from '../lib/util/exec';
import { generateTestKeys } from '../test/support/gpg';
import { buildDebs, buildRpms, FixturePackage } from '../test/support/packages';

export const CACHE = path.resolve(__dirname, '..', '.cache', 'bench-publish');
/** Bump when the generated state changes shape (createrepo_c flags, aptly configuration). */
const STATE_VERSION = 'v2';
export const AWS = '/usr/bin/aws';
export const OURS = { rpm: 'ours-rpm', deb: 'ours-deb', state: 'ket-state', prefix: 'bench/' };

const log = (m: string) => process.stderr.write(`${m}\n`);

/** The throwaway signing key of the benchmark (generated once). */
export async function benchKeys(): Promise<string> {
  const dir = path.join(CACHE, 'keys');
  if (!existsSync(path.join(dir, 'public.key'))) {
    await rm(dir, { recursive: true, force: true });
    await generateTestKeys(dir);
  }
  return dir;
}

/** bench:publish's packages: NAME 1.0-1, each with `bytes` of random (incompressible) payload. */
function benchPackages(names: readonly string[], bytes: number): FixturePackage[] {
  return names.map((name) => ({ name, version: '1.0', bytes }));
}

/** RPMs NAME-1.0-1.x86_64.rpm of `bytes` payload each (test/support/packages); signed when keysPath is given. */
export function makeRpms(outDir: string, names: readonly string[], bytes: number, keysPath?: string): Promise<string[]> {
  return buildRpms(outDir, benchPackages(names, bytes), { keysPath });
}

/** DEBs NAME_1.0-1_amd64.deb of `bytes` payload each (test/support/packages). */
export function makeDebs(outDir: string, names: readonly string[], bytes: number): Promise<string[]> {
  return buildDebs(outDir, benchPackages(names, bytes));
}

/**
 * The store's data folder with our two repositories (ours-rpm, ours-deb) holding M packages per
 * format of `bytes` each, and the state bucket: built once, cached.
 */
export async function prefilledStore(m: number, bytes: number, keysPath: string): Promise<string> {
  const dir = path.join(CACHE, `state-${STATE_VERSION}-m${m}-b${bytes}`);
  const s3Dir = path.join(dir, 's3');
  if (existsSync(path.join(dir, 'done'))) return s3Dir;
  await rm(dir, { recursive: true, force: true });
  const t0 = Date.now();
  const names = Array.from({ length: m }, (_, i) => `fill-${String(i).padStart(5, '0')}`);
  const work = path.join(dir, 'work');
  log(`bench: M=${m}: building ${m} RPMs and ${m} DEBs of ${Math.round(bytes / 1024)} KiB (cached under ${dir})`);
  const rpmRepo = path.join(work, 'rpm');
  await Promise.all([makeRpms(path.join(rpmRepo, 'packages'), names, bytes), makeDebs(path.join(work, 'debs'), names, bytes)]);
  log(`bench: M=${m}: packages built in ${((Date.now() - t0) / 1000).toFixed(0)} s; createrepo_c, aptly, signatures`);
  const key = await openSigningKey({ keysPath });
  try {
    // RPM: what our publish writes (same createrepo_c format), signed.
    await run('createrepo_c', ['--quiet', '--workers', '2', ...CREATEREPO_FORMAT, ...PREFILL_DB_ARGS, rpmRepo], {
      what: 'createrepo_c (prefill)',
    });
    await detachSignSha512(key, path.join(rpmRepo, 'repodata', 'repomd.xml'), path.join(rpmRepo, 'repodata', 'repomd.xml.asc'));
    await writeFile(path.join(rpmRepo, 'public.key'), key.publicKeyArmored);
    // DEB: aptly with our configuration, published into a folder, signed.
    const aptlyRoot = path.join(work, 'aptly');
    const out = path.join(work, 'deb');
    await mkdir(aptlyRoot, { recursive: true });
    await mkdir(out, { recursive: true });
    const conf = path.join(work, 'aptly.conf');
    await writeFile(conf, aptlyConfig(aptlyRoot, out));
    const aptly = (args: string[]) => run('aptly', [`-config=${conf}`, ...args], { what: `aptly ${args[0]} ${args[1]} (prefill)` });
    for (const command of aptlyPublishCommands(path.join(work, 'debs'))) await aptly(command);
    const dist = path.join(out, 'dists', DISTRIBUTION);
    await clearSignSha512(key, path.join(dist, 'Release'), path.join(dist, 'InRelease'));
    await detachSignSha512(key, path.join(dist, 'Release'), path.join(dist, 'Release.gpg'));
    await writeFile(path.join(out, 'public.key'), key.publicKeyArmored);

    log(`bench: M=${m}: uploading the pre-filled repositories into the embedded store`);
    const store = await startEmbeddedStore({ dataDir: path.join(dir, 's3-tmp') });
    try {
      const env = { ...process.env, ...store.env() };
      for (const b of [OURS.rpm, OURS.deb, OURS.state]) await store.createBucket(b);
      await writeFile(path.join(rpmRepo, 'kismatic.repo'), kismaticRepoFile(store.bucketUrl(OURS.rpm)));
      const sync = (from: string, to: string) =>
        run(AWS, ['--endpoint-url', store.endpoint, 's3', 'sync', '--only-show-errors', '--no-progress', from, to], {
          env,
          what: `aws s3 sync ${to} (prefill)`,
        });
      await sync(rpmRepo, `s3://${OURS.rpm}`);
      await sync(out, `s3://${OURS.deb}`);
    } finally {
      await store.close();
    }
  } finally {
    await key.dispose();
  }
  await rename(path.join(dir, 's3-tmp'), s3Dir);
  await rm(work, { recursive: true, force: true });
  await writeFile(path.join(dir, 'done'), '');
  log(`bench: M=${m}: pre-filled in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return s3Dir;
}

/** createrepo_c's database option of the pre-filled state: the same as our publish's. */
const PREFILL_DB_ARGS: string[] = [];

/**
 * A working copy of a cached store folder: package objects (never rewritten: create-only) are hard
 * links, everything else (metadata the publish replaces in place) is copied.
 */
export async function copyStore(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    const src = path.join(from, name);
    const dst = path.join(to, name);
    const s = await stat(src);
    if (s.isDirectory()) await copyStore(src, dst);
    else if (/\.(rpm|deb)\._S3rver_object$/.test(name)) await link(src, dst);
    else await copyFile(src, dst);
  }
}

/** Copies one bucket folder of a store data folder to another bucket name (s3rver: one folder per bucket). */
export async function copyBucket(dataDir: string, from: string, to: string): Promise<void> {
  await cp(path.join(dataDir, from), path.join(dataDir, to), { recursive: true, force: true });
}
