/**
 * npm run bench:offline -- [--mb 1024] [--images 8] [--only tuned|baseline]
 *
 * Builds the kismatic-offline bundle (image copies with skopeo + RPM + DEB) from N MiB of
 * fixture images served by a local docker-registry, twice in the same run:
 *   baseline  the writers' default compression (xz preset 6) on one thread
 *   tuned     what kismatic-offline uses (OFFLINE_COMPRESSION: xz preset 0, every core)
 * and reports wall time and the peak RSS of the whole build process tree (node, skopeo,
 * rpmbuild, dpkg-deb, xz…), sampled from /proc, plus the time ratio.
 * Fixture content is 40% random bytes and 60% varied text, so compression has real work to do.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_COMPRESSION } from '../lib/packaging/stage';
import { PayloadCompression } from '../lib/packaging/types';
import { parseManifest } from '../lib/manifest/load';
import { parseRegistryMirror } from '../lib/image-bundle/reference';
import { buildOfflinePackage, OFFLINE_COMPRESSION } from '../lib/image-bundle/package';
import { FixtureImageSpec, startFixtureRegistry } from '../lib/local/registry/fixture-images';
import { formatBytes } from '../lib/util/log';

interface WorkerJob {
  readonly images: readonly { name: string; repository: string; tag: string; digest: string }[];
  readonly mirrorUrl: string;
  readonly compression: PayloadCompression;
  readonly dir: string;
}

const CONFIGS: Record<'baseline' | 'tuned', { compression: PayloadCompression; label: string }> = {
  baseline: {
    compression: { ...DEFAULT_COMPRESSION, threads: 1 },
    label: `xz -${DEFAULT_COMPRESSION.level}, 1 thread (writers' default, single-threaded)`,
  },
  tuned: {
    compression: OFFLINE_COMPRESSION,
    label: `xz -${OFFLINE_COMPRESSION.level}, all ${os.availableParallelism()} cores (kismatic-offline)`,
  },
};

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

/** The worker: one complete bundle build, in its own process so its tree can be measured. */
async function worker(jobFile: string): Promise<void> {
  const job = JSON.parse(readFileSync(jobFile, 'utf8')) as WorkerJob;
  const yaml = `
metadata: { maintainer: Bench <bench@example.invalid>, vendor: Bench, license: Apache Software License 2.0, homepage: https://example.invalid, arch: { rpm: x86_64, deb: amd64 } }
packages:
  - { name: kubelet, description: k, versioning: kismatic, version: 1.7.4, iteration: 1, sources: [{ id: s, url: https://example.invalid/k, unpinned: true }], files: [{ from: s, path: /usr/bin/kubelet, mode: "0755" }] }
  - name: kismatic-offline
    description: Kismatic offline container images
    versioning: kismatic
    versionFrom: kubelet
    images:
${job.images.map((i) => `      - { name: ${i.name}, repository: ${i.repository}, tag: "${i.tag}", digest: "${i.digest}" }`).join('\n')}
`;
  const manifest = parseManifest(yaml, 'bench.yaml');
  const pkg = manifest.packages.find((p) => p.name === 'kismatic-offline')!;
  const [cacheDir, rpmDir, debDir] = ['cache', 'rpms', 'debs'].map((d) => path.join(job.dir, d));
  await mkdir(rpmDir, { recursive: true });
  await mkdir(debDir, { recursive: true });
  const built = await buildOfflinePackage(pkg, {
    cacheDir,
    mirror: parseRegistryMirror(job.mirrorUrl),
    metadata: manifest.metadata,
    rpmDir,
    debDir,
    sourceDateEpoch: 1503273600,
    compression: job.compression,
  });
  process.stdout.write(JSON.stringify({ rpm: built.rpm, deb: built.deb }));
}

/** Sum of VmRSS over a process and all its descendants, in bytes, with the share of each command. */
function treeRss(pid: number): { total: number; byCommand: Map<string, number> } {
  let total = 0;
  const byCommand = new Map<string, number>();
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      if (m) {
        const bytes = Number(m[1]) * 1024;
        const name = /Name:\s+(\S+)/.exec(status)?.[1] ?? '?';
        total += bytes;
        byCommand.set(name, (byCommand.get(name) ?? 0) + bytes);
      }
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').trim();
        if (children) stack.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // exited between listing and reading
    }
  }
  return { total, byCommand };
}

interface Measured {
  readonly seconds: number;
  readonly peakRss: number;
  /** Commands at the peak sample, e.g. "node 80 MiB, xz 12 MiB". */
  readonly atPeak: string;
  readonly rpmBytes: number;
  readonly debBytes: number;
}

async function measure(job: WorkerJob, jobFile: string): Promise<Measured> {
  await writeFile(jobFile, JSON.stringify(job));
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...process.execArgv, __filename, '--worker', jobFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let peakRss = 0;
  let atPeak = '';
  const sampler = setInterval(() => {
    const sample = treeRss(child.pid!);
    if (sample.total > peakRss) {
      peakRss = sample.total;
      atPeak = [...sample.byCommand]
        .sort((a, b) => b[1] - a[1])
        .map(([n, b]) => `${n} ${formatBytes(b)}`)
        .join(', ');
    }
  }, 50);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(sampler);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`bundle build failed (exit ${code})`);
  const { rpm, deb } = JSON.parse(out) as { rpm: string; deb: string };
  return { seconds, peakRss, atPeak, rpmBytes: (await stat(rpm)).size, debBytes: (await stat(deb)).size };
}

async function main(): Promise<void> {
  const mb = Number(arg('mb', '1024'));
  const count = Number(arg('images', '8'));
  const only = arg('only', '');
  if (!(mb > 0) || !(count > 0)) throw new Error('--mb and --images take positive numbers');
  const configs = (Object.keys(CONFIGS) as (keyof typeof CONFIGS)[]).filter((c) => !only || c === only);
  const work = await mkdtemp(path.join(os.tmpdir(), 'ket-bench-offline-'));
  const perImage = Math.floor((mb * 1024 * 1024) / count);
  const specs: FixtureImageSpec[] = Array.from({ length: count }, (_, i) => ({
    name: `bench-${i}`,
    repository: `bench/image-${i}`,
    tag: 'v1',
    bytes: perImage,
  }));
  process.stderr.write(
    `bench:offline: pushing ${count} fixture images, ${formatBytes(perImage * count)} in all, to a local docker-registry…\n`,
  );
  const fixtures = await startFixtureRegistry(specs, { storageDir: path.join(work, 'registry') });
  const results: Record<string, Measured> = {};
  try {
    for (const name of configs) {
      process.stderr.write(`bench:offline: building with ${CONFIGS[name].label}\n`);
      const dir = path.join(work, name);
      results[name] = await measure(
        { images: fixtures.images, mirrorUrl: fixtures.mirrorUrl, compression: CONFIGS[name].compression, dir },
        path.join(work, `${name}.json`),
      );
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await fixtures.stop();
    await rm(work, { recursive: true, force: true });
  }
  const rows = configs.map((name) => {
    const r = results[name];
    return `${name.padEnd(9)} ${r.seconds.toFixed(1).padStart(8)} s ${formatBytes(r.peakRss).padStart(11)} ${formatBytes(r.rpmBytes).padStart(11)} ${formatBytes(r.debBytes).padStart(11)}   ${CONFIGS[name].label}`;
  });
  console.log(
    `kismatic-offline bundle from ${formatBytes(perImage * count)} of images (${count} images), ${os.availableParallelism()} cores`,
  );
  console.log(`config        wall   peak RSS         rpm         deb   compression`);
  for (const row of rows) console.log(row);
  if (results.baseline && results.tuned) {
    console.log(`wall time ratio baseline/tuned: ${(results.baseline.seconds / results.tuned.seconds).toFixed(2)}x (goal >= 1.6x)`);
  }
  for (const name of configs) console.log(`${name} at its peak: ${results[name].atPeak}`);
  if (results.tuned)
    console.log(`tuned peak RSS of the build process tree: ${formatBytes(results.tuned.peakRss)} (goal < 300 MiB for 1 GiB)`);
}

const workerIndex = process.argv.indexOf('--worker');
(workerIndex >= 0 ? worker(process.argv[workerIndex + 1]) : main()).catch((e: Error) => {
  process.stderr.write(`bench:offline: ${e.message}\n`);
  process.exit(1);
});
