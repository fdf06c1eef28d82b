/**
 * npm run bench:publish — what one publish of 6 new packages costs against repositories that
 * already hold M packages per format (M = 200 and 1000), for our method and for the old process's
 * method, in the same run and against the same embedded store, which counts every request and byte.
 *
 *   ours:     ket-packages publish (old repodata only + createrepo_c --update; aptly database from
 *             the state place, new pool files and indexes only)
 *   baseline: the old Makefile's publish steps: `aws s3 sync` the whole RPM bucket down,
 *             `createrepo --update` (createrepo_c here), `aws s3 sync` up; `aptly mirror` the whole
 *             apt repository, `repo import` + `repo add`, `publish repo` straight to S3.
 *
 * Usage: tsx bench/publish.ts [M ...]   (default 200 1000)
 */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { publishRepositories } from '../lib/publish';
import { EmbeddedStore, startEmbeddedStore } from '../lib/local/store/server';
import { mapConcurrent } from '../lib/util/concurrency';
import { run } from '../lib/util/exec';
import { formatBytes, silentLogger } from '../lib/util/log';
import { makeDebs, makeRpms, TinyPackage } from '../test/integration/publish-fixtures';
import { generateTestKeys } from '../test/support/gpg';

interface Measure {
  wallMs: number;
  requests: number;
  bytesRead: number;
  /** Bytes read that are repository metadata or aptly's database (they grow with M by nature). */
  metadataRead: number;
  bytesWritten: number;
}

const AWS = '/usr/bin/aws';

function isMetadata(p: string): boolean {
  return /\/repodata\//.test(p) || /\/dists\//.test(p) || /\/aptly\/.*db\.tar\.gz$/.test(p);
}

async function measure(store: EmbeddedStore, fn: () => Promise<void>, reads: Array<{ path: string; bytesRead: number }>): Promise<Measure> {
  reads.length = 0;
  store.resetStats();
  const start = Date.now();
  await fn();
  const wallMs = Date.now() - start;
  const s = store.stats();
  return {
    wallMs,
    requests: s.requests,
    bytesRead: s.bytesRead,
    bytesWritten: s.bytesWritten,
    metadataRead: reads.filter((r) => isMetadata(r.path)).reduce((a, r) => a + r.bytesRead, 0),
  };
}

async function benchOne(m: number, root: string): Promise<{ ours: Measure; baseline: Measure }> {
  const dir = path.join(root, `m${m}`);
  const reads: Array<{ path: string; bytesRead: number }> = [];
  const store = await startEmbeddedStore({ dataDir: path.join(dir, 's3'), onTransfer: (t) => reads.push(t) });
  try {
    const keys = await generateTestKeys(path.join(dir, 'keys'));
    for (const b of ['ours-rpm', 'ours-deb', 'base-rpm', 'base-deb', 'ket-state']) await store.createBucket(b);
    const env = { ...process.env, ...store.env() };

    // Pre-fill: M tiny packages per format, published once with our method, then the same bucket
    // contents copied on disk for the baseline (s3rver keeps one folder per bucket).
    const old: TinyPackage[] = Array.from({ length: m }, (_, i) => ({ name: `synthetic-${String(i).padStart(4, '0')}`, version: '1.0' }));
    const fresh: TinyPackage[] = Array.from({ length: 6 }, (_, i) => ({ name: `new-${i}`, version: '2.0' }));
    process.stderr.write(`M=${m}: building ${m} + 6 tiny packages per format\n`);
    const prefill = path.join(dir, 'prefill');
    await makeRpms(path.join(prefill, 'rpms'), old, keys.keysPath);
    const chunks = Array.from({ length: 4 }, (_, k) => old.filter((_p, i) => i % 4 === k));
    await mapConcurrent(chunks, 4, (c) => makeDebs(path.join(prefill, 'debs'), c));
    const next = path.join(dir, 'next');
    await makeRpms(path.join(next, 'rpms'), fresh, keys.keysPath);
    await makeDebs(path.join(next, 'debs'), fresh);
    process.stderr.write(`M=${m}: pre-filling the repositories\n`);
    const common = {
      from: prefill,
      stateUrl: 's3://ket-state/bench',
      signingKey: { keysPath: keys.keysPath },
      env,
      logger: silentLogger,
      // synthetic packages: no release manifest names them
      release: { rpm: [], deb: [] },
      allowStrays: true,
    };
    await publishRepositories({ ...common, rpmRepo: 'ours-rpm', debRepo: 'ours-deb' });
    await cp(path.join(store.dataDir, 'ours-rpm'), path.join(store.dataDir, 'base-rpm'), { recursive: true, force: true });
    await cp(path.join(store.dataDir, 'ours-deb'), path.join(store.dataDir, 'base-deb'), { recursive: true, force: true });

    process.stderr.write(`M=${m}: publishing 6 new packages per format, our method\n`);
    const ours = await measure(
      store,
      async () => {
        await publishRepositories({ ...common, from: next, rpmRepo: 'ours-rpm', debRepo: 'ours-deb' });
      },
      reads,
    );

    process.stderr.write(`M=${m}: publishing 6 new packages per format, the old process's method\n`);
    const work = path.join(dir, 'baseline');
    const baseline = await measure(
      store,
      async () => {
        await baselineRpm(store, env, path.join(work, 'rpm'), path.join(next, 'rpms'));
        await baselineDeb(store, env, path.join(work, 'deb'), path.join(next, 'debs'));
      },
      reads,
    );
    return { ours, baseline };
  } finally {
    await store.close();
  }
}

async function baselineRpm(store: EmbeddedStore, env: NodeJS.ProcessEnv, dir: string, newRpms: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run(AWS, ['--endpoint-url', store.endpoint, 's3', 'sync', '--only-show-errors', 's3://base-rpm', dir], {
    env,
    what: 'baseline: aws s3 sync down',
  });
  await cp(newRpms, path.join(dir, 'packages'), { recursive: true });
  await run('createrepo_c', ['--quiet', '--update', dir], { what: 'baseline: createrepo --update' });
  await run(AWS, ['--endpoint-url', store.endpoint, 's3', 'sync', '--only-show-errors', dir, 's3://base-rpm'], {
    env,
    what: 'baseline: aws s3 sync up',
  });
}

async function baselineDeb(store: EmbeddedStore, env: NodeJS.ProcessEnv, dir: string, newDebs: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = path.join(dir, 'aptly.conf');
  await writeFile(
    config,
    JSON.stringify({
      rootDir: path.join(dir, 'aptly'),
      architectures: ['amd64'],
      gpgDisableVerify: true,
      S3PublishEndpoints: {
        base: {
          region: 'us-east-1',
          bucket: 'base-deb',
          endpoint: store.endpoint,
          awsAccessKeyID: store.accessKeyId,
          awsSecretAccessKey: store.secretAccessKey,
          forceSigV2: false,
        },
      },
    }),
  );
  const aptly = (args: string[], what: string) => run('aptly', [`-config=${config}`, ...args], { env, what: `baseline: ${what}` });
  await aptly(
    ['mirror', 'create', '-ignore-signatures', '-architectures=amd64', 'base', store.bucketUrl('base-deb'), 'kismatic-xenial', 'main'],
    'aptly mirror create',
  );
  await aptly(['mirror', 'update', '-ignore-signatures', 'base'], 'aptly mirror update');
  await aptly(['repo', 'create', '-distribution=kismatic-xenial', '-component=main', 'kismatic'], 'aptly repo create');
  await aptly(['repo', 'import', 'base', 'kismatic', 'Name (~ .*)'], 'aptly repo import');
  await aptly(['repo', 'add', 'kismatic', newDebs], 'aptly repo add');
  await aptly(
    ['publish', 'repo', '-batch', '-skip-signing', '-skip-contents', '-force-overwrite', 'kismatic', 's3:base:'],
    'aptly publish repo',
  );
}

function row(label: string, x: Measure): string {
  return `  ${label.padEnd(9)} ${`${(x.wallMs / 1000).toFixed(1)} s`.padStart(8)} ${String(x.requests).padStart(9)} ${formatBytes(x.bytesRead).padStart(11)} ${formatBytes(x.metadataRead).padStart(11)} ${formatBytes(x.bytesRead - x.metadataRead).padStart(11)} ${formatBytes(x.bytesWritten).padStart(11)}`;
}

async function main(): Promise<void> {
  const ms = process.argv
    .slice(2)
    .map(Number)
    .filter((n) => n > 0);
  const sizes = ms.length ? ms : [200, 1000];
  const root = await mkdtemp(path.join(os.tmpdir(), 'ket-bench-publish-'));
  const results: Array<{ m: number; ours: Measure; baseline: Measure }> = [];
  try {
    for (const m of sizes) results.push({ m, ...(await benchOne(m, root)) });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  const lines = ['publish of 6 new packages per format (RPM + DEB) into repositories holding M packages per format', ''];
  lines.push(
    `  ${'method'.padEnd(9)} ${'wall'.padStart(8)} ${'requests'.padStart(9)} ${'read'.padStart(11)} ${'meta read'.padStart(11)} ${'other read'.padStart(11)} ${'written'.padStart(11)}`,
  );
  for (const r of results) {
    lines.push(
      `M=${r.m}`,
      row('ours', r.ours),
      row('baseline', r.baseline),
      `  speed-up ${(r.baseline.wallMs / r.ours.wallMs).toFixed(1)}x, bytes read ${(r.baseline.bytesRead / r.ours.bytesRead).toFixed(0)}x less`,
    );
  }
  if (results.length >= 2) {
    const [a, b] = [results[0], results[results.length - 1]];
    const other = (x: Measure) => x.bytesRead - x.metadataRead;
    lines.push(
      '',
      `ours, bytes read beyond metadata: M=${a.m} ${formatBytes(other(a.ours))}, M=${b.m} ${formatBytes(other(b.ours))} (${(((other(b.ours) - other(a.ours)) / Math.max(1, other(a.ours))) * 100).toFixed(1)}% change)`,
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench:publish failed: ${(e as Error).message}\n`);
  process.exit(1);
});
