import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { cloneRepositoryContent, CloneOptions, CloneRepository } from '../../lib/clone';
import { aptlyStateForDestination } from '../../lib/clone/aptly-state';
import { listKeys } from '../../lib/clone/snapshot';
import { aptlyConfig, parseAptlyRepoShow, stateKey } from '../../lib/publish/deb';
import { publishRepositories } from '../../lib/publish';
import { getObjectBytes, s3TargetFromEnv, S3Target } from '../../lib/publish/s3';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { run } from '../../lib/util/exec';
import { Logger, silentLogger } from '../../lib/util/log';
import { verifyDebRepository, verifyRpmRepository } from '../../lib/verify';
import { generateTestKeys, TestKeys } from '../support/gpg';
import { makeBuild, mixedPackages, SizedPackage } from './clone-fixtures';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');
const CLI = path.join(ROOT, 'bin/ket-packages.ts');

/** A logger that keeps what it was told, for the messages the clone prints. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(`warning: ${m}`) };
}

describe('clone (integration, slow)', () => {
  let dir: string;
  let store: EmbeddedStore;
  let target: S3Target;
  let productionKey: TestKeys;
  let stagingKey: TestKeys;
  const trace: string[] = [];
  const repositories: CloneRepository[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-clone-test-'));
    [productionKey, stagingKey] = await Promise.all([
      generateTestKeys(path.join(dir, 'keys-production'), { name: 'Production' }),
      generateTestKeys(path.join(dir, 'keys-staging'), { name: 'Staging' }),
    ]);
    store = await startEmbeddedStore({ dataDir: path.join(dir, 's3'), onRequest: (l) => trace.push(l) });
    target = s3TargetFromEnv({ ...process.env, ...store.env() });
    await store.createBucket('ket-state');
  }, 60_000);

  afterAll(async () => {
    target?.client.destroy();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A repository with its buckets (created unless `create` is false). */
  async function repository(name: string, opts: { production?: boolean; create?: boolean } = {}): Promise<CloneRepository> {
    const r: CloneRepository = {
      name,
      rpmBucket: `${name}-rpm`,
      debBucket: `${name}-deb`,
      state: { bucket: 'ket-state', prefix: `${name}/` },
      production: opts.production ?? false,
    };
    if (opts.create ?? true) {
      await store.createBucket(r.rpmBucket);
      await store.createBucket(r.debBucket);
    }
    repositories.push(r);
    return r;
  }

  async function publish(r: CloneRepository, build: string, keys: TestKeys): Promise<void> {
    await publishRepositories({
      rpmRepo: r.rpmBucket,
      debRepo: r.debBucket,
      from: build,
      stateUrl: `s3://${r.state.bucket}/${r.state.prefix}`,
      signingKey: { keysPath: keys.keysPath },
      env: { ...process.env, ...store.env() },
      logger: silentLogger,
    });
  }

  let buildSeq = 0;
  function build(packages: SizedPackage[], keys: TestKeys): Promise<string> {
    return makeBuild(path.join(dir, 'builds', String(buildSeq++)), packages, keys.keysPath);
  }

  function clone(from: CloneRepository, to: CloneRepository, extra: Partial<CloneOptions> = {}) {
    return cloneRepositoryContent({
      from: from.name,
      to: to.name,
      repositories,
      target,
      signingKey: { keysPath: stagingKey.keysPath },
      logger: silentLogger,
      ...extra,
    });
  }

  const expected = (ps: SizedPackage[]) => ps.map((p) => ({ name: p.name, version: `${p.version}-1` }));

  async function verifyServes(r: CloneRepository, ps: SizedPackage[]): Promise<void> {
    expect(await verifyRpmRepository(store.bucketUrl(r.rpmBucket), expected(ps), silentLogger)).toEqual([]);
    expect(await verifyDebRepository(store.bucketUrl(r.debBucket), expected(ps), silentLogger)).toEqual([]);
  }

  /** Writes (PUT/POST/DELETE) the store saw into a repository's buckets since trace position `from`. */
  function writesTo(r: CloneRepository, from: number): string[] {
    return trace
      .slice(from)
      .filter((l) => /^(PUT|POST|DELETE) /.test(l) && (l.includes(` /${r.rpmBucket}/`) || l.includes(` /${r.debBucket}/`) || l.includes(` /${r.rpmBucket}?`) || l.includes(` /${r.debBucket}?`)));
  }

  const small: SizedPackage[] = [
    { name: 'kubelet', version: '1.7.4', bytes: 20_000 },
    { name: 'kubectl', version: '1.7.4' },
    { name: 'etcd', version: '3.1.10' },
  ];

  test('a small repository into a new one: served at B with B-signed top files; B public.key carries both keys', async () => {
    const a = await repository('prod-small', { production: true });
    await publish(a, await build(small, productionKey), productionKey);
    const b = await repository('copy-small');
    const logger = recordingLogger();
    const result = await clone(a, b, { logger });
    expect(result).toMatchObject({ status: 'cloned', rpmPackages: 3, debPackages: 3, replaced: [], removed: [] });
    await verifyServes(b, small);
    const fingerprints = async (bucket: string) =>
      (await run('gpg', ['--with-colons', '--import-options', 'show-only', '--import'], { input: (await getObjectBytes(target, bucket, 'public.key'))!.body }))
        .stdout.split('\n')
        .filter((l) => l.startsWith('fpr:'))
        .map((l) => l.split(':')[9]);
    expect((await fingerprints(b.rpmBucket)).sort()).toEqual([stagingKey.fingerprint, productionKey.fingerprint].sort());
    expect(await fingerprints(b.debBucket)).toEqual([stagingKey.fingerprint]);
    const repoFile = (await getObjectBytes(target, b.rpmBucket, 'kismatic.repo'))!.body.toString();
    expect(repoFile).toContain(`baseurl=${store.bucketUrl(b.rpmBucket)}/`);
  }, 120_000);
});
