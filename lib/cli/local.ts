import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { DEFAULT_MANIFEST, loadManifest } from '../manifest/load';
import { Manifest } from '../manifest/types';
import { publishRepositories } from '../publish';
import { ensureDevelopmentKey } from '../local/dev-key';
import { signingKeyOptionsFromEnv, SigningKeyOptions } from '../signing/keyring';
import { startEmbeddedStore } from '../local/store/server';
import { UserError } from '../util/errors';
import { stderrLogger } from '../util/log';
import { verifyRepositories } from '../verify';
import { FixtureServer, startFixtureServer } from '../local/offline-upstream/server';
import { action } from './program';
import { expectedPackages } from './verify';

/** The embedded store's buckets: the old process's names, staging ("-test") and production. */
export const LOCAL_BUCKETS = {
  staging: { rpm: 'kismatic-packages-rpm-test', deb: 'kismatic-packages-deb-test' },
  production: { rpm: 'kismatic-packages-rpm', deb: 'kismatic-packages-deb' },
  state: 'ket-state',
} as const;

interface LocalCliOptions {
  manifest: string;
  mirror?: string;
  registryMirror?: string;
  fixtures?: boolean;
  out?: string;
  rebuild?: boolean;
  serve?: boolean;
  dataDir: string;
  port?: string;
  keysPath?: string;
}

function parsePort(opts: Pick<LocalCliOptions, 'port' | 'serve'>): number {
  const port = opts.port !== undefined ? Number(opts.port) : opts.serve ? 4568 : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port: '${opts.port}' is not a port number`);
  return port;
}

/** The package files a build of this manifest produces, missing from OUT. */
export function missingBuildOutputs(manifest: Manifest, outDir: string): string[] {
  return manifest.packages
    .flatMap((p) => [path.join(outDir, 'rpms', p.rpm.fileName), path.join(outDir, 'debs', p.deb.fileName)])
    .filter((f) => !existsSync(f));
}

/** The lines a user pastes to install from the repositories. */
export function clientInstructions(rpmUrl: string, debUrl: string): string {
  return [
    `RPM repository: ${rpmUrl}`,
    `DEB repository: ${debUrl}`,
    '',
    'yum/dnf:',
    `  curl -fsSL -o /etc/yum.repos.d/kismatic.repo ${rpmUrl}/kismatic.repo`,
    'apt:',
    `  curl -fsSL ${debUrl}/public.key | gpg --dearmor -o /usr/share/keyrings/kismatic.gpg`,
    `  echo "deb [signed-by=/usr/share/keyrings/kismatic.gpg] ${debUrl} kismatic-xenial main" > /etc/apt/sources.list.d/kismatic.list`,
    '',
  ].join('\n');
}

/** Runs `ket-packages build` (the same program, so the same build wiring as the build command). */
function runBuild(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], 'build', ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env,
    });
    child.on('error', (e) => reject(new UserError(`cannot start the build: ${e.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new UserError(`the build failed (exit ${code}); see its messages above`))));
  });
}

export function registerLocalCommand(program: Command): void {
  program
    .command('local')
    .description(
      'The whole job on this machine: start the embedded S3-compatible store (s3rver on 127.0.0.1, data under --data-dir), create the staging and production buckets, ' +
        'build (or reuse an up-to-date build/), publish to staging, verify with dnf and apt-get, and print the repository URLs and the yum/apt lines.',
    )
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .option('--mirror <url>', 'fetch every upstream URL from this mirror (passed to build)')
    .option('--registry-mirror <url>', 'fetch every container image from this registry mirror (passed to build)')
    .option(
      '--fixtures',
      'no internet: serve local fixtures of every upstream source and image and use their manifest and mirrors (build output in .local/fixtures-build)',
    )
    .option('--out <dir>', 'build output folder (default: build, or .local/fixtures-build with --fixtures)')
    .option('--rebuild', 'build even if --out already holds every package of the manifest')
    .option('--serve', 'keep serving the repositories after verifying (Ctrl-C stops)')
    .option('--data-dir <dir>', 'where the embedded store keeps its buckets', '.local/s3')
    .option('--port <n>', 'port of the embedded store (default: 4568 with --serve, any free port otherwise)')
    .option('--keys-path <dir>', 'signing key folder (default: KEYS_PATH etc., else a development key in .local/keys)')
    .action(
      action(async (opts: LocalCliOptions) => {
        const logger = stderrLogger;
        parsePort(opts);
        if (opts.fixtures && (opts.mirror || opts.registryMirror))
          throw new UserError('--fixtures brings its own mirrors; drop --mirror / --registry-mirror');
        let fixtures: FixtureServer | undefined;
        try {
          if (opts.fixtures) {
            fixtures = await startFixtureServer({ images: true });
            logger.info(`fixtures: serving upstream sources from ${fixtures.url}, manifest ${fixtures.manifestPath}`);
          }
          await runLocal({
            ...opts,
            manifest: fixtures?.manifestPath ?? opts.manifest,
            mirror: fixtures?.url ?? opts.mirror,
            registryMirror: fixtures?.registryMirror ?? opts.registryMirror,
            out: opts.out ?? (opts.fixtures ? '.local/fixtures-build' : 'build'),
          });
        } finally {
          await fixtures?.close();
        }
      }),
    );
}

async function runLocal(opts: LocalCliOptions & { out: string }): Promise<void> {
  const logger = stderrLogger;
  const manifest = loadManifest(opts.manifest);
  const port = opts.port !== undefined ? Number(opts.port) : opts.serve ? 4568 : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port: '${opts.port}' is not a port number`);

  let signing: SigningKeyOptions = { ...signingKeyOptionsFromEnv(), ...(opts.keysPath ? { keysPath: opts.keysPath } : {}) };
  if (!signing.keysPath && !signing.gnupgHome && !signing.secretId) {
    signing = { ...signing, keysPath: await ensureDevelopmentKey(path.resolve('.local/keys'), logger) };
  }

  const missing = missingBuildOutputs(manifest, opts.out);
  if (opts.rebuild || missing.length) {
    logger.info(
      opts.rebuild ? 'building (--rebuild)' : `building: ${missing.length} package file(s) of ${manifest.file} are not in ${opts.out}/`,
    );
    const args = ['--manifest', opts.manifest, '--out', opts.out];
    if (signing.keysPath) args.push('--keys-path', signing.keysPath);
    if (opts.mirror) args.push('--mirror', opts.mirror);
    if (opts.registryMirror) args.push('--registry-mirror', opts.registryMirror);
    await runBuild(args, process.env);
  } else {
    logger.info(`reusing ${opts.out}/: it holds every package of ${manifest.file} (--rebuild to build anyway)`);
  }

  const store = await startEmbeddedStore({ dataDir: opts.dataDir, port });
  try {
    for (const b of [
      LOCAL_BUCKETS.staging.rpm,
      LOCAL_BUCKETS.staging.deb,
      LOCAL_BUCKETS.production.rpm,
      LOCAL_BUCKETS.production.deb,
      LOCAL_BUCKETS.state,
    ])
      await store.createBucket(b);
    logger.info(`embedded store at ${store.endpoint} (data in ${store.dataDir})`);
    const { rpmUrl, debUrl } = await publishRepositories({
      rpmRepo: LOCAL_BUCKETS.staging.rpm,
      debRepo: LOCAL_BUCKETS.staging.deb,
      from: opts.out,
      stateUrl: `s3://${LOCAL_BUCKETS.state}/staging`,
      signingKey: signing,
      env: { ...process.env, ...store.env() },
      release: expectedPackages(manifest),
      logger,
    });
    // The pipeline's verify insists on the whole manifest; here a package the build did not produce
    // is named rather than failing the try-out.
    const notBuilt = missingBuildOutputs(manifest, opts.out);
    if (notBuilt.length) logger.warn(`not built, so not verified: ${notBuilt.map((f) => path.basename(f)).join(', ')}`);
    const built = {
      ...manifest,
      packages: manifest.packages.filter((p) => !notBuilt.some((f) => [p.rpm.fileName, p.deb.fileName].includes(path.basename(f)))),
    };
    await verifyRepositories({ rpmUrl, debUrl, ...expectedPackages(built), logger });
    process.stdout.write(clientInstructions(rpmUrl, debUrl));
    if (opts.serve) {
      process.stdout.write(
        `serving at ${store.endpoint} until Ctrl-C (production buckets: ${LOCAL_BUCKETS.production.rpm}, ${LOCAL_BUCKETS.production.deb})\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    await store.close();
  }
}
