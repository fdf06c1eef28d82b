/**
 * npm run bench:publish — what one publish costs a user: `ket-packages publish` run as a whole CLI
 * process (node dist/bin/ket-packages.js, so `npm run build` first), against repositories that
 * already hold M packages per format (M = 1,000 and 10,000; 64 KiB packages), for our method and
 * for the old process's method, in the same run and against the same embedded store, which counts
 * every request and byte. Then one publish with a 100 MiB package among the new ones, and a 1 GiB
 * upload (the image bundle) through our upload path next to `aws s3 cp`.
 *
 *   ours:     ket-packages publish (the published repodata and Packages index only, the new entries
 *             appended to them; new pool files and indexes only), with --timings for the breakdown
 *   baseline: the old Makefile's publish steps: `aws s3 sync` the whole RPM bucket down,
 *             `createrepo --update` (createrepo_c here), `aws s3 sync` up; `aptly mirror` the whole
 *             apt repository, `repo import` + `repo add`, `publish repo` straight to S3.
 *
 * Pre-filled repositories and packages are built once and cached in .cache/bench-publish/
 * (bench/fixtures.ts); the first run at M = 10,000 takes several minutes for that.
 *
 * Usage: tsx bench/publish.ts [--m 1000,10000] [--runs 3] [--baseline-runs N] [--no-big] [--no-upload] [--upload-mib 1024] [--steps] [--cpu-prof DIR] [--requests]
 *   --runs N          rounds of our publish per M (each on a fresh copy of the store); the median is reported
 *   --baseline-runs N rounds of the old method per M (default: as --runs), interleaved with ours; the median is reported
 *   --no-baseline     ours only (no ratio)
 *   --steps           also list each timed step of our publish (start offset, duration; the median round)
 *   --cpu-prof DIR    write a V8 CPU profile of our publish process into DIR
 *   --requests        list each store request of our publish (when it was answered)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { EmbeddedStore, startEmbeddedStore } from '../lib/local/store/server';
import { assertBucket, bucketOf, getObjectBytes, headObject, s3TargetFromEnv } from '../lib/publish/s3';
import { putBytes } from '../lib/publish/upload';
import { sha256File } from '../lib/publish/package-file';
import { run } from '../lib/util/exec';
import { formatBytes, PhaseEvent } from '../lib/util/log';
import { AWS, benchKeys, CACHE, copyBucket, copyStore, makeDebs, makeRpms, OURS, prefilledStore } from './fixtures';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'bin', 'ket-packages.js');
const PACKAGE_BYTES = 64 * 1024;
const BASE = { rpm: 'base-rpm', deb: 'base-deb' };

interface Measure {
  wallMs: number;
  requests: number;
  bytesRead: number;
  /** Bytes read that are repository metadata (they grow with M by nature). */
  metadataRead: number;
  bytesWritten: number;
  /** Max RSS of the CLI process (and of its largest child), KiB; ours only. */
  maxRssKiB?: number;
  /** CPU seconds (user + system) of the CLI process and its children; ours only. */
  cpuS?: number;
  /** CPU seconds the embedded store (this process) spent while the method ran. */
  storeCpuS?: number;
  phases?: PhaseEvent[];
  startedAt?: number;
}

function isMetadata(p: string): boolean {
  return /\/repodata\//.test(p) || /\/dists\//.test(p);
}

type Transfer = { method: string; path: string; status: number; bytesRead: number; bytesWritten: number; at: number };

async function measure(store: EmbeddedStore, reads: Transfer[], fn: () => Promise<Partial<Measure> | void>): Promise<Measure> {
  reads.length = 0;
  store.resetStats();
  const start = Date.now();
  const cpuBefore = process.cpuUsage();
  const extra = (await fn()) ?? {};
  const wallMs = Date.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const s = store.stats();
  return {
    wallMs,
    requests: s.requests,
    bytesRead: s.bytesRead,
    bytesWritten: s.bytesWritten,
    metadataRead: reads.filter((r) => isMetadata(r.path)).reduce((a, r) => a + r.bytesRead, 0),
    startedAt: start,
    storeCpuS: (cpu.user + cpu.system) / 1e6,
    ...extra,
  };
}

/** Runs a command to its end; stderr is returned (and kept out of the bench's output). */
function spawnTimed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? 1, stderr, stdout }));
  });
}

/** `ket-packages publish` as a user runs it, under /usr/bin/time for its max RSS. */
async function publishCli(store: EmbeddedStore, from: string, keysPath: string, workDir: string): Promise<Partial<Measure>> {
  const rssFile = path.join(workDir, `rss-${Date.now()}`);
  const env = { ...process.env, ...store.env(), KET_PUBLISH_TIMINGS: '1' };
  const args = [
    ...['-f', '%M %U %S', '-o', rssFile, process.execPath],
    // --cpu-prof DIR: a V8 CPU profile of our publish process (open it in Chrome's DevTools).
    ...(option('--cpu-prof') ? ['--cpu-prof', '--cpu-prof-dir', option('--cpu-prof')!] : []),
    ...[CLI, 'publish'],
    ...['--from', from, '--rpm-repo', OURS.rpm, '--deb-repo', OURS.deb, '--state-url', `s3://${OURS.state}/${OURS.prefix}`],
    ...['--keys-path', keysPath, '--manifest', path.join(ROOT, 'release.yaml'), '--allow-unlisted-packages'],
  ];
  const out = await spawnTimed('/usr/bin/time', args, env);
  if (out.code !== 0) throw new Error(`ket-packages publish failed (${out.code}):\n${out.stderr.slice(-3000)}`);
  const phases = out.stderr
    .split('\n')
    .filter((l) => l.startsWith('timing '))
    .map((l) => JSON.parse(l.slice('timing '.length)) as PhaseEvent);
  const [rss, user, system] = (await readFile(rssFile, 'utf8')).trim().split('\n').pop()!.split(' ').map(Number);
  return { phases, maxRssKiB: rss, cpuS: user + system };
}

async function baselineRpm(store: EmbeddedStore, env: NodeJS.ProcessEnv, dir: string, newRpms: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run(AWS, ['--endpoint-url', store.endpoint, 's3', 'sync', '--only-show-errors', `s3://${BASE.rpm}`, dir], {
    env,
    what: 'baseline: aws s3 sync down',
  });
  await run('cp', ['-r', `${newRpms}/.`, path.join(dir, 'packages')]);
  await run('createrepo_c', ['--quiet', '--update', dir], { what: 'baseline: createrepo --update' });
  await run(AWS, ['--endpoint-url', store.endpoint, 's3', 'sync', '--only-show-errors', dir, `s3://${BASE.rpm}`], {
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
          bucket: BASE.deb,
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
    ['mirror', 'create', '-ignore-signatures', '-architectures=amd64', 'base', store.bucketUrl(BASE.deb), 'kismatic-xenial', 'main'],
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

/**
 * One scenario in rounds, each on a fresh copy of the pre-filled store: our publish (in the first
 * `runs` rounds), then the old method (in the first `baselineRuns` rounds) on buckets ours never
 * touched, same store. Interleaved, so a drift of the machine's load moves both methods alike.
 * @returns every round of each method, in order
 */
async function scenario(
  label: string,
  m: number,
  from: string,
  keysPath: string,
  root: string,
  runs: number,
  baselineRuns: number,
): Promise<{ ours: Measure[]; baseline: Measure[] }> {
  const cached = await prefilledStore(m, PACKAGE_BYTES, keysPath);
  const ours: Measure[] = [];
  const baseline: Measure[] = [];
  const rounds = Math.max(runs, baselineRuns);
  for (let round = 1; round <= rounds; round++) {
    const dir = await mkdtemp(path.join(root, `${label}-`));
    const dataDir = path.join(dir, 's3');
    process.stderr.write(`${label}: copying the pre-filled store (M=${m})\n`);
    await copyStore(cached, dataDir);
    await copyBucket(dataDir, OURS.rpm, BASE.rpm);
    await copyBucket(dataDir, OURS.deb, BASE.deb);
    const reads: Transfer[] = [];
    const store = await startEmbeddedStore({ dataDir, onTransfer: (t) => reads.push({ ...t, at: Date.now() }) });
    try {
      const env = { ...process.env, ...store.env() };
      await warmUp(store);
      // Each method starts with no dirty pages of the other's (or of the store's copy) still being
      // written back: the baseline writes up to 1.4 GiB, whose writeback slowed the next round.
      await run('sync', []);
      if (round <= runs) {
        process.stderr.write(`${label}: ours (ket-packages publish), round ${round} of ${runs}\n`);
        const mine = await measure(store, reads, () => publishCli(store, from, keysPath, dir));
        ours.push(mine);
        if (process.argv.includes('--requests'))
          for (const t of reads)
            process.stdout.write(`    +${String(t.at - mine.startedAt!).padStart(5)} ms  ${t.method.padEnd(6)} ${t.status} ${t.path}\n`);
      }
      if (round <= baselineRuns) {
        await run('sync', []);
        process.stderr.write(`${label}: the old process's method, round ${round} of ${baselineRuns}\n`);
        baseline.push(
          await measure(store, reads, async () => {
            await baselineRpm(store, env, path.join(dir, 'baseline', 'rpm'), path.join(from, 'rpms'));
            await baselineDeb(store, env, path.join(dir, 'baseline', 'deb'), path.join(from, 'debs'));
          }),
        );
      }
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  return { ours, baseline };
}

/** The round whose wall time is the median (of an even number, the lower middle one). */
export function medianRun<T extends { wallMs: number }>(runs: readonly T[]): T {
  return [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor((runs.length - 1) / 2)];
}

/**
 * A store started a moment ago answers its first requests slowly (the proxy's and s3rver's code
 * is not compiled yet: ~140 ms for the first HeadBucket), and whichever method runs first would pay
 * for it (ours: the baseline ran on the store ours had warmed). AWS S3 is never cold: both
 * methods get a store that has served each kind of request once, in a bucket of its own (not
 * counted: measure() resets the counters).
 */
async function warmUp(store: EmbeddedStore): Promise<void> {
  const s3 = s3TargetFromEnv({ ...process.env, ...store.env() });
  try {
    await s3.client.send(new CreateBucketCommand({ Bucket: 'bench-warm-up' }));
    const b = bucketOf(s3, 'bench-warm-up', 'warm-up');
    for (let round = 0; round < 3; round++)
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          await assertBucket(b);
          await putBytes(b, `k${i}`, `warm-up ${i}`, { cacheControl: 'no-store', ifNoneMatch: round === 0 ? '*' : undefined });
          await getObjectBytes(b, `k${i}`);
          await getObjectBytes(b, `missing-${i}`);
          await headObject(b, `k${i}`);
        }),
      );
  } finally {
    s3.client.destroy();
  }
}

/** Wall time during which at least one step of each phase ran (steps of one phase overlap). */
export function phaseBreakdown(
  events: readonly PhaseEvent[],
  t0: number,
): Array<{ phase: string; ms: number; steps: number; firstMs: number }> {
  const byPhase = new Map<string, PhaseEvent[]>();
  for (const e of events) byPhase.set(e.phase, [...(byPhase.get(e.phase) ?? []), e]);
  const out: Array<{ phase: string; ms: number; steps: number; firstMs: number }> = [];
  for (const [phase, list] of byPhase) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    let ms = 0;
    let [s, e] = [sorted[0].start, sorted[0].end];
    for (const x of sorted.slice(1)) {
      if (x.start > e) {
        ms += e - s;
        [s, e] = [x.start, x.end];
      } else e = Math.max(e, x.end);
    }
    ms += e - s;
    out.push({ phase, ms, steps: list.length, firstMs: sorted[0].start - t0 });
  }
  return out.sort((a, b) => a.firstMs - b.firstMs);
}

/** A file of `mib` MiB of random bytes (cached), and its sha256. */
async function bigFile(mib: number): Promise<{ file: string; sha256: string }> {
  const file = path.join(CACHE, `random-${mib}MiB.bin`);
  if (!existsSync(file) || (await stat(file)).size !== mib * 1048576) {
    process.stderr.write(`bench: writing ${mib} MiB of random bytes\n`);
    await run('sh', ['-c', `head -c ${mib * 1048576} /dev/urandom > '${file}.tmp' && mv '${file}.tmp' '${file}'`]);
  }
  const shaFile = `${file}.sha256`;
  if (!existsSync(shaFile)) await writeFile(shaFile, await sha256File(file));
  return { file, sha256: (await readFile(shaFile, 'utf8')).trim() };
}

/** Our upload path (lib/publish/upload.ts putCreateOnly: lib-storage multipart, create-only, sha256 metadata) in its own process. */
function ourUploadScript(bucket: string, key: string, file: string, sha256: string): string {
  const lib = path.join(ROOT, 'dist', 'lib', 'publish');
  return `
const { bucketOf, s3TargetFromEnv } = require(${JSON.stringify(path.join(lib, 's3.js'))});
const { putCreateOnly } = require(${JSON.stringify(path.join(lib, 'upload.js'))});
const b = bucketOf(s3TargetFromEnv(process.env), ${JSON.stringify(bucket)}, 'bench bucket');
const logger = { info: (m) => process.stderr.write(m + '\\n'), warn: (m) => process.stderr.write('warning: ' + m + '\\n') };
putCreateOnly(b, ${JSON.stringify(key)}, ${JSON.stringify(file)}, ${JSON.stringify(sha256)}, logger)
  .then(() => b.s3.client.destroy(), (e) => { process.stderr.write(String(e && e.message) + '\\n'); process.exit(1); });
`;
}

interface UploadResult {
  lines: string[];
}

async function uploadComparison(mib: number, root: string): Promise<UploadResult> {
  const { file, sha256 } = await bigFile(mib);
  const dir = await mkdtemp(path.join(root, 'upload-'));
  const store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
  const lines: string[] = [];
  try {
    await store.createBucket('big');
    const env = { ...process.env, ...store.env() };
    const size = mib * 1048576;
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < 2; round++) {
      process.stderr.write(`upload: round ${round + 1}: ours, then aws s3 cp\n`);
      let t = Date.now();
      let r = await spawnTimed(process.execPath, ['-e', ourUploadScript('big', `ours-${round}/bundle.bin`, file, sha256)], env);
      if (r.code !== 0) throw new Error(`our upload failed: ${r.stderr}`);
      ours.push(Date.now() - t);
      t = Date.now();
      r = await spawnTimed(
        AWS,
        ['--endpoint-url', store.endpoint, 's3', 'cp', '--only-show-errors', file, `s3://big/aws-${round}/bundle.bin`],
        env,
      );
      if (r.code !== 0) throw new Error(`aws s3 cp failed: ${r.stderr}`);
      theirs.push(Date.now() - t);
    }
    const best = (xs: number[]) => Math.min(...xs);
    const rate = (ms: number) => `${(size / 1048576 / (ms / 1000)).toFixed(0)} MiB/s`;
    lines.push(
      `upload of a ${formatBytes(size)} file (whole processes, 2 rounds, best of each)`,
      `  ours (lib-storage, create-only)  ${ours.map((x) => `${(x / 1000).toFixed(1)} s`).join(', ')}  best ${rate(best(ours))}`,
      `  aws s3 cp                        ${theirs.map((x) => `${(x / 1000).toFixed(1)} s`).join(', ')}  best ${rate(best(theirs))}`,
      `  throughput ours / aws s3 cp: ${((best(theirs) / best(ours)) * 100).toFixed(0)}%`,
    );
    // A re-run of a complete upload (a publish re-run after a crash): recognised by its sha256, not sent again.
    store.resetStats();
    const again = await spawnTimed(process.execPath, ['-e', ourUploadScript('big', 'ours-0/bundle.bin', file, sha256)], env);
    if (again.code !== 0) throw new Error(`our upload re-run failed: ${again.stderr}`);
    lines.push(
      `  re-run onto the complete object: ${formatBytes(store.stats().bytesWritten)} written, ${store.stats().requests} request(s)`,
    );
    if (process.argv.includes('--no-crash')) return { lines }; // the store's per-key queue can hang after a killed part upload
    // A crash halfway: the process is killed; what it leaves is an incomplete multipart upload,
    // which the buckets' lifecycle rule aborts (lib/infra: AbortIncompleteMultipartUpload).
    store.resetStats();
    const child = spawn(process.execPath, ['-e', ourUploadScript('big', 'crash/bundle.bin', file, sha256)], { env, stdio: 'ignore' });
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (store.stats().bytesWritten > size / 2 || child.exitCode !== null) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 50);
    });
    await new Promise((r) => child.once('exit', r));
    const killedAt = store.stats().bytesWritten;
    store.resetStats();
    const rerun = await spawnTimed(process.execPath, ['-e', ourUploadScript('big', 'crash/bundle.bin', file, sha256)], env);
    if (rerun.code !== 0) throw new Error(`our upload after a crash failed: ${rerun.stderr}`);
    lines.push(
      `  killed at ${formatBytes(killedAt)} sent; the re-run sent ${formatBytes(store.stats().bytesWritten)} (the object was not complete: sent whole)`,
    );
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
  return { lines };
}

function row(label: string, x: Measure): string {
  return `  ${label.padEnd(9)} ${`${(x.wallMs / 1000).toFixed(2)} s`.padStart(8)} ${String(x.requests).padStart(9)} ${formatBytes(x.bytesRead).padStart(11)} ${formatBytes(x.metadataRead).padStart(11)} ${formatBytes(x.bytesRead - x.metadataRead).padStart(11)} ${formatBytes(x.bytesWritten).padStart(11)}${x.maxRssKiB ? `  max RSS ${(x.maxRssKiB / 1024).toFixed(0)} MiB` : ''}${x.cpuS !== undefined ? `  CPU ${x.cpuS.toFixed(2)} s` : ''}${x.storeCpuS !== undefined ? `  store CPU ${x.storeCpuS.toFixed(2)} s` : ''}`;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Each round's wall time, when there was more than one: "(ours: the median of 3 rounds, walls …)". */
function roundsLine(method: string, rounds: readonly Measure[]): string[] {
  if (rounds.length < 2) return [];
  return [`  (${method}: the median of ${rounds.length} rounds, walls ${rounds.map((x) => (x.wallMs / 1000).toFixed(2)).join(', ')} s)`];
}

/** A whole-number option of at least `min`, or `fallback` when it is not given. */
function wholeNumber(name: string, fallback: number, min: number): number {
  const given = option(name);
  const n = given === undefined ? fallback : Number(given);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected a whole number of at least ${min}, got ${given}`);
  return n;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const sizes = (option('--m') ?? '1000,10000')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const uploadMib = Number(option('--upload-mib') ?? 1024);
  // One publish is short next to the machine's noise (±15% between identical runs; the baseline's
  // single runs spread 8.5-9.9 s): both methods run in rounds and each one's median is compared.
  const runs = wholeNumber('--runs', 3, 1);
  const baselineRuns = process.argv.includes('--no-baseline') ? 0 : wholeNumber('--baseline-runs', runs, 1);
  await mkdir(CACHE, { recursive: true });
  const keysPath = await benchKeys();
  const newNames = Array.from({ length: 6 }, (_, i) => `new-${i}`);
  const small = await buildFolder('new6-64k', async (dir) => {
    await makeRpms(path.join(dir, 'rpms'), newNames, PACKAGE_BYTES, keysPath);
    await makeDebs(path.join(dir, 'debs'), newNames, PACKAGE_BYTES);
  });
  const root = await mkdtemp(path.join(os.tmpdir(), 'ket-bench-publish-'));
  const lines = [
    `load before: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (${os.cpus().length} cores)`,
    '',
    'publish of 6 new packages per format (RPM + DEB, 64 KiB each) into repositories holding M packages per format;',
    'ours = one `node dist/bin/ket-packages.js publish` process; baseline = the old method; same store, same run',
    '',
    `  ${'method'.padEnd(9)} ${'wall'.padStart(8)} ${'requests'.padStart(9)} ${'read'.padStart(11)} ${'meta read'.padStart(11)} ${'other read'.padStart(11)} ${'written'.padStart(11)}`,
  ];
  const results: Array<{ m: number; ours: Measure }> = [];
  try {
    for (const m of process.argv.includes('--upload-only') ? [] : sizes) {
      const rounds = await scenario(`M=${m}`, m, small, keysPath, root, runs, baselineRuns);
      const r = { ours: medianRun(rounds.ours), baseline: rounds.baseline.length ? medianRun(rounds.baseline) : undefined };
      results.push({ m, ours: r.ours });
      lines.push(
        `M=${m}`,
        row('ours', r.ours),
        ...roundsLine('ours', rounds.ours),
        ...(r.baseline
          ? [
              row('baseline', r.baseline),
              ...roundsLine('baseline', rounds.baseline),
              `  speed-up ${(r.baseline.wallMs / r.ours.wallMs).toFixed(1)}x (median / median), bytes read ${(r.baseline.bytesRead / r.ours.bytesRead).toFixed(0)}x less`,
            ]
          : []),
        '  ours by phase (wall time while a step of the phase ran; phases overlap):',
        ...phaseBreakdown(r.ours.phases ?? [], r.ours.startedAt!).map(
          (p) => `    ${p.phase.padEnd(14)} ${`${p.ms.toFixed(0)} ms`.padStart(9)}  from +${p.firstMs.toFixed(0)} ms, ${p.steps} step(s)`,
        ),
      );
      if (process.argv.includes('--steps'))
        for (const e of [...(r.ours.phases ?? [])].sort((x, y) => x.start - y.start))
          lines.push(
            `      ${`+${(e.start - r.ours.startedAt!).toFixed(0)}`.padStart(6)} ${`${(e.end - e.start).toFixed(0)} ms`.padStart(8)}  ${e.phase}: ${e.what}`,
          );
      process.stderr.write(lines.join('\n') + '\n');
    }
    if (results.length >= 2) {
      const [a, b] = [results[0], results[results.length - 1]];
      const other = (x: Measure) => x.bytesRead - x.metadataRead;
      lines.push(
        '',
        `ours from M=${a.m} to M=${b.m}: wall ${(b.ours.wallMs / a.ours.wallMs).toFixed(2)}x; bytes read beyond metadata ${formatBytes(other(a.ours))} -> ${formatBytes(other(b.ours))}; max RSS ${((a.ours.maxRssKiB ?? 0) / 1024).toFixed(0)} -> ${((b.ours.maxRssKiB ?? 0) / 1024).toFixed(0)} MiB`,
      );
    }
    if (!process.argv.includes('--no-big') && !process.argv.includes('--upload-only')) {
      const bigNames = ['big-0', ...newNames.slice(1).map((n) => `${n}b`)];
      const big = await buildFolder('new6-100mib', async (dir) => {
        await makeRpms(path.join(dir, 'rpms'), bigNames.slice(0, 1), 100 * 1048576, keysPath);
        await makeRpms(path.join(dir, 'rpms'), bigNames.slice(1), PACKAGE_BYTES, keysPath);
        await makeDebs(path.join(dir, 'debs'), bigNames.slice(0, 1), 100 * 1048576);
        await makeDebs(path.join(dir, 'debs'), bigNames.slice(1), PACKAGE_BYTES);
      });
      const m = sizes[0];
      const rounds = await scenario(`M=${m}, one 100 MiB package`, m, big, keysPath, root, 1, Math.min(baselineRuns, 1));
      const [ours, baseline] = [rounds.ours[0], rounds.baseline[0]];
      lines.push(
        '',
        `M=${m}, the 6 new packages per format include one of 100 MiB`,
        row('ours', ours),
        ...(baseline ? [row('baseline', baseline), `  speed-up ${(baseline.wallMs / ours.wallMs).toFixed(1)}x`] : []),
      );
    }
    if (!process.argv.includes('--no-upload')) lines.push('', ...(await uploadComparison(uploadMib, root)).lines);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  lines.push(
    '',
    `load after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  process.stdout.write(lines.join('\n') + '\n');
}

/** A cached build folder (rpms/, debs/), made once by `make`. */
async function buildFolder(label: string, make: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(CACHE, `build-${label}`);
  if (existsSync(path.join(dir, 'done'))) return dir;
  process.stderr.write(`bench: building ${label}\n`);
  await rm(dir, { recursive: true, force: true });
  await make(dir);
  await writeFile(path.join(dir, 'done'), '');
  return dir;
}

if (require.main === module)
  main().catch((e) => {
    process.stderr.write(`bench:publish failed: ${(e as Error).message}\n`);
    process.exit(1);
  });
