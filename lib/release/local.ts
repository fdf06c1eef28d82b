import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseRegistryMirror, RegistryMirror } from '../image-bundle/reference';
import { ensureDevelopmentKey } from '../local/dev-key';
import { FixtureServer, startFixtureServer } from '../local/offline-upstream/server';
import { LOCAL_BUCKETS } from '../local/names';
import { assertPortFree } from '../local/ports';
import { EmbeddedStore, startEmbeddedStore } from '../local/store/server';
import { loadManifest } from '../manifest/load';
import { Manifest } from '../manifest/types';
import { publishRepositories } from '../publish';
import { openSigningKey, SigningKeyOptions } from '../signing/keyring';
import { run } from '../util/exec';
import { throwIfAborted, UserError } from '../util/errors';
import { Logger, stderrLogger } from '../util/log';
import { aptSourceLine } from './apt-layout';
import { buildRelease } from './build';
import { expectedPackages, verifyRelease } from './verify';

export interface RunLocalOptions {
  /** Release manifest; not used with `fixtures`, which derive their manifest from the project's release.yaml. */
  readonly manifestFile: string;
  /**
   * No internet: serve fixtures of every upstream source and image (lib/local/offline-upstream)
   * and build against them. Excludes `mirror` and `registryMirror`.
   * @default false
   */
  readonly fixtures?: boolean;
  readonly mirror?: string;
  readonly registryMirror?: RegistryMirror;
  /** @default 'build', or '.local/fixtures-build' with fixtures */
  readonly outDir?: string;
  /**
   * Build even when outDir holds every package file of the manifest.
   * @default false
   */
  readonly rebuild?: boolean;
  /** As buildRelease's allowUnpinned. @default false */
  readonly allowUnpinned?: boolean;
  /** Where the embedded store keeps its buckets, e.g. '.local/s3'. */
  readonly dataDir: string;
  /** Port of the embedded store on 127.0.0.1; 0 picks a free one. Checked before any other work. @default 0 */
  readonly port?: number;
  /** The signing key; when it names none, a development key is created once in devKeyDir. */
  readonly signing: SigningKeyOptions;
  /** @default '.local/keys' */
  readonly devKeyDir?: string;
  /** Download cache. @default as buildRelease */
  readonly cacheDir?: string;
  /** @default stderrLogger */
  readonly logger?: Logger;
  /** Aborting it (Ctrl-C) stops the build's tools and the run between steps; everything started is stopped. */
  readonly signal?: AbortSignal;
}

/** A verified repository pair in the running embedded store. */
export interface LocalRelease {
  readonly rpmUrl: string;
  readonly debUrl: string;
  /** The store's S3 endpoint, e.g. http://127.0.0.1:4568. */
  readonly endpoint: string;
  readonly dataDir: string;
  /**
   * What an S3 client needs to write to the store: s3rver checks the access key id only (any
   * secret is accepted); reading the repositories over HTTP needs no credentials.
   */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** Stops the store; the URLs stop answering. */
  close(): Promise<void>;
}

/**
 * The whole job on one machine (what `ket-packages local` runs): check the store's port, start the
 * fixtures if asked, build in-process unless outDir already holds every package (buildRelease),
 * start the embedded store and create the staging and production buckets, publish to staging,
 * verify with dnf and apt-get. Returns with the store running; the caller closes it.
 * @throws UserError for a busy port, conflicting options, or any failure of build, publish or
 *   verify; everything started is stopped again.
 */
export async function runLocal(opts: RunLocalOptions): Promise<LocalRelease> {
  const logger = opts.logger ?? stderrLogger;
  if (opts.fixtures && (opts.mirror || opts.registryMirror))
    throw new UserError('fixtures bring their own mirrors: give no mirror or registryMirror with them');
  const port = opts.port ?? 0;
  await assertPortFree(port);
  const outDir = opts.outDir ?? (opts.fixtures ? path.join('.local', 'fixtures-build') : 'build');

  const signing = hasKey(opts.signing)
    ? opts.signing
    : {
        ...opts.signing,
        keysPath: await ensureDevelopmentKey(path.resolve(opts.devKeyDir ?? path.join('.local', 'keys')), logger),
        // Messages then say "the development key in /…/.local/keys", not a setting nobody set.
        labels: { ...opts.signing.labels, keysPath: 'the development key in' },
      };
  // The key first, as build does: a missing key or wrong passphrase fails in seconds.
  const key = await openSigningKey(signing, 'local (signing the RPMs and the repositories)');
  const { keyId, source: keySource } = key;
  await key.dispose();
  throwIfAborted(opts.signal);

  let fixtures: FixtureServer | undefined;
  let manifestFile = opts.manifestFile;
  let mirror = opts.mirror;
  let registryMirror = opts.registryMirror;
  try {
    if (opts.fixtures) {
      fixtures = await startFixtureServer({ images: true });
      logger.info(`fixtures: serving upstream sources from ${fixtures.url}, manifest ${fixtures.manifestPath}`);
      manifestFile = fixtures.manifestPath;
      mirror = fixtures.url;
      registryMirror = fixtures.registryMirror !== undefined ? parseRegistryMirror(fixtures.registryMirror) : undefined;
    }
    throwIfAborted(opts.signal);
    const manifest = loadManifest(manifestFile);

    const missing = missingBuildOutputs(manifest, outDir);
    // Reusing RPMs signed by another key would only make publish refuse every one of them.
    const foreign = missing.length === 0 && !opts.rebuild ? await rpmsNotSignedBy(manifest, outDir, keyId) : [];
    if (opts.rebuild || missing.length > 0 || foreign.length > 0) {
      logger.info(
        opts.rebuild
          ? 'building (rebuild)'
          : missing.length > 0
            ? `building: ${missing.length} package file(s) of ${manifest.file} are not in ${outDir}/`
            : `building: ${foreign[0]}${foreign.length > 1 ? ` (and ${foreign.length - 1} more)` : ''}, not by the signing key ${keyId.toLowerCase()} (${keySource})`,
      );
      await buildRelease({
        manifestFile,
        outDir,
        allowUnpinned: opts.allowUnpinned,
        cacheDir: opts.cacheDir,
        mirror,
        registryMirror,
        signing,
        logger,
        signal: opts.signal,
      });
    } else {
      logger.info(`reusing ${outDir}/: it holds every package of ${manifest.file} (rebuild to build anyway)`);
    }
    await fixtures?.close();
    fixtures = undefined;
    throwIfAborted(opts.signal);
    return await publishAndVerify(manifest, outDir, signing, opts.dataDir, port, logger, opts.signal);
  } finally {
    await fixtures?.close();
  }
}

async function publishAndVerify(
  manifest: Manifest,
  outDir: string,
  signing: SigningKeyOptions,
  dataDir: string,
  port: number,
  logger: Logger,
  signal: AbortSignal | undefined,
): Promise<LocalRelease> {
  const store: EmbeddedStore = await startEmbeddedStore({ dataDir, port });
  try {
    const { staging, production, state } = LOCAL_BUCKETS;
    for (const b of [staging.rpm, staging.deb, production.rpm, production.deb, state]) await store.createBucket(b);
    logger.info(`embedded store at ${store.endpoint} (data in ${store.dataDir})`);
    const { rpmUrl, debUrl } = await publishRepositories({
      rpmRepo: staging.rpm,
      debRepo: staging.deb,
      from: outDir,
      stateUrl: `s3://${state}/staging`,
      signingKey: signing,
      env: { ...process.env, ...store.env() },
      release: expectedPackages(manifest),
      logger,
      signal,
    });
    // The pipeline's verify insists on the whole manifest; here a package the build did not
    // produce is named rather than failing the try-out.
    throwIfAborted(signal);
    const notBuilt = missingBuildOutputs(manifest, outDir).map((f) => path.basename(f));
    if (notBuilt.length) logger.warn(`not built, so not verified: ${notBuilt.join(', ')}`);
    const built = {
      ...manifest,
      packages: manifest.packages.filter((p) => ![p.rpm.fileName, p.deb.fileName].some((f) => notBuilt.includes(f))),
    };
    await verifyRelease({ manifest: built, rpmUrl, debUrl, logger });
    return {
      rpmUrl,
      debUrl,
      endpoint: store.endpoint,
      dataDir: store.dataDir,
      credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
      close: () => store.close(),
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/**
 * The RPMs of the manifest in OUT/rpms whose signature is not by `keyId`, each as
 * "NAME is signed by key ID" (or "NAME is not signed"); read with `rpm -qp --qf %{SIGPGP:pgpsig}`
 * (RSA/SHA256, DATE, Key ID 0123456789abcdef), falling back to RSAHEADER for rpm >= 4.16 headers.
 * @param keyId long key id, 16 hex digits (case ignored)
 */
export async function rpmsNotSignedBy(manifest: Manifest, outDir: string, keyId: string): Promise<string[]> {
  const found: string[] = [];
  for (const p of manifest.packages) {
    const file = path.join(outDir, 'rpms', p.rpm.fileName);
    const { stdout } = await run('rpm', ['-qp', '--nosignature', '--nodigest', '--qf', '%{SIGPGP:pgpsig}|%{RSAHEADER:pgpsig}\n', file]);
    const ids = [...stdout.matchAll(/Key ID ([0-9a-f]{16})/gi)].map((m) => m[1].toLowerCase());
    if (ids.length === 0) found.push(`${p.rpm.fileName} is not signed`);
    else if (!ids.includes(keyId.toLowerCase())) found.push(`${p.rpm.fileName} is signed by key ${ids[0]}`);
  }
  return found;
}

function hasKey(s: SigningKeyOptions): boolean {
  return Boolean(s.keysPath || s.gnupgHome || s.secretId);
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
    `  echo "${aptSourceLine(debUrl, '/usr/share/keyrings/kismatic.gpg')}" > /etc/apt/sources.list.d/kismatic.list`,
    '',
  ].join('\n');
}
