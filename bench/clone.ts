/**
 * npm run bench:clone — copying one repository of 2,000+ objects of mixed sizes (500 RPMs, 1,500
 * DEBs and their metadata) into a new one, through the clone engine and through the only clone the
 * old process had, `aws s3 sync s3://A s3://B` (CLI v2, both buckets side by side), in the same run
 * against the same embedded store. The engine's final check (dnf and apt-get reading the copy) is
 * timed apart: the baseline has none.
 *
 * Usage: tsx bench/clone.ts [ROUNDS]   (default 2; engine and baseline alternate)
 */
// What bin/ket-packages.ts sets: no AWS SDK Node-version warning in the output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cloneRepositoryContent, CloneRepository } from '../lib/clone';
import { publishRepositories } from '../lib/publish';
import { s3TargetFromEnv } from '../lib/publish/s3';
import { startEmbeddedStore } from '../lib/local/store/server';
import { run } from '../lib/util/exec';
import { silentLogger } from '../lib/util/log';
import { buildDebs, buildRpms, mixedPackages } from '../test/support/packages';
import { generateTestKeys } from '../test/support/gpg';

const AWS = '/usr/bin/aws';

function repo(name: string, production = false): CloneRepository {
  return { name, rpmBucket: `${name}-rpm`, debBucket: `${name}-deb`, state: { bucket: 'bench-state', prefix: `${name}/` }, production };
}

function load(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 2);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ket-bench-clone-'));
  const store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
  const env = { ...process.env, ...store.env() };
  const target = s3TargetFromEnv(env);
  try {
    process.stderr.write(`machine: ${os.cpus().length} cores, load average ${load()}\n`);
    const [sourceKey, destinationKey] = await Promise.all([
      generateTestKeys(path.join(dir, 'keys-a'), { name: 'Source' }),
      generateTestKeys(path.join(dir, 'keys-b'), { name: 'Destination' }),
    ]);
    const a = repo('bench-a', true);
    for (const b of [a.rpmBucket, a.debBucket, 'bench-state']) await store.createBucket(b);
    process.stderr.write('building 500 RPMs and 1,500 DEBs of mixed sizes\n');
    const out = path.join(dir, 'build');
    const [rpms, debs] = [mixedPackages(500, 'rpm'), mixedPackages(1500, 'deb')];
    await Promise.all([buildRpms(path.join(out, 'rpms'), rpms, { keysPath: sourceKey.keysPath }), buildDebs(path.join(out, 'debs'), debs)]);
    process.stderr.write('publishing them into the source repository\n');
    const named = (ps: Array<{ name: string; version: string }>) => ps.map((p) => ({ name: p.name, version: `${p.version}-1` }));
    await publishRepositories({
      release: { rpm: named(rpms), deb: named(debs) },
      rpmRepo: a.rpmBucket,
      debRepo: a.debBucket,
      from: out,
      stateUrl: 's3://bench-state/bench-a',
      signingKey: { keysPath: sourceKey.keysPath },
      env,
      logger: silentLogger,
    });

    const repositories: CloneRepository[] = [a];
    const engine: number[] = [];
    const verify: number[] = [];
    const baseline: number[] = [];
    let objects = 0;
    let bytes = 0;
    const runEngine = async (i: number) => {
      const b = repo(`bench-engine-${i}`);
      repositories.push(b);
      await store.createBucket(b.rpmBucket);
      await store.createBucket(b.debBucket);
      const start = Date.now();
      const result = await cloneRepositoryContent({
        from: a.name,
        to: b.name,
        repositories,
        target,
        signingKey: { keysPath: destinationKey.keysPath },
        logger: silentLogger,
      });
      engine.push(Date.now() - start - result.verifyMs);
      verify.push(result.verifyMs);
      objects = result.objects;
      bytes = result.bytes;
    };
    const runBaseline = async (i: number) => {
      const b = repo(`bench-sync-${i}`);
      await store.createBucket(b.rpmBucket);
      await store.createBucket(b.debBucket);
      const start = Date.now();
      const sync = (from: string, to: string) =>
        run(AWS, ['--endpoint-url', store.endpoint, 's3', 'sync', '--only-show-errors', `s3://${from}`, `s3://${to}`], {
          env,
          what: `aws s3 sync s3://${from} s3://${to}`,
        });
      await Promise.all([sync(a.rpmBucket, b.rpmBucket), sync(a.debBucket, b.debBucket)]);
      baseline.push(Date.now() - start);
    };
    for (let i = 0; i < rounds; i++) {
      process.stderr.write(`round ${i + 1}/${rounds} (load average ${load()})\n`);
      // Alternate which goes first, so neither always meets a warmer or busier machine.
      if (i % 2 === 0) {
        await runEngine(i);
        await runBaseline(i);
      } else {
        await runBaseline(i);
        await runEngine(i);
      }
    }
    const median = (xs: number[]) => {
      const v = [...xs].sort((x, y) => x - y);
      const m = Math.floor(v.length / 2);
      return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
    };
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const ratio = median(engine) / median(baseline);
    process.stdout.write(
      [
        `clone of ${objects} objects (${(bytes / 1024 ** 2).toFixed(1)} MiB) into a new repository, same embedded store, ${rounds} round(s), median`,
        `  engine (ket-packages clone, without its final check)   ${s(median(engine))}   [${engine.map(s).join(', ')}]`,
        `  baseline (aws s3 sync, RPM and DEB buckets in parallel) ${s(median(baseline))}   [${baseline.map(s).join(', ')}]`,
        `  copy time ratio engine/baseline: ${ratio.toFixed(2)} (goal <= 1.0)`,
        `  engine's final check (dnf + apt-get read every package): ${s(median(verify))}   [${verify.map(s).join(', ')}]`,
        `  machine: ${os.cpus().length} cores, load average at the end ${load()}`,
        '',
      ].join('\n'),
    );
  } finally {
    target.client.destroy();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
