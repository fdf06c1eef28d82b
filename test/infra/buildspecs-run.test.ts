/**
 * The buildspecs run here as CodeBuild runs them: each phase's commands in order, in one bash
 * session (buildspec 0.2), from the source folder, with the environment variables the synthesized
 * project and pipeline action set, and the Build artifact laid out as CodePipeline hands a
 * secondary input to the next action ($CODEBUILD_SRC_DIR_BuildOutput). Exported variables are
 * read back from the shell after the build phase and fed to the next actions as the pipeline's
 * #{BuildVariables.…} references resolve. Against: the embedded store (S3, under the deployed
 * bucket names), the offline-upstream fixture server and its registry (KET_MIRROR and
 * KET_REGISTRY_MIRROR, the CLI's own variables for --mirror and --registry-mirror), and a local
 * endpoint that answers GetSecretValue for each zone's secret ARN (the CLI reads
 * KET_GPG_KEY_SECRET through the real SDK client). Swapped for local ones: the CloudFront URLs
 * (RPM_BASE_URL, DEB_BASE_URL, RPM_URL, DEB_URL) become the store's bucket URLs.
 *
 * Not as in CodeBuild: the install phase runs scripts/install-deps.sh for real, but it installs
 * nothing here (the CI machine has the Debian packages, and each source copy holds a hard-linked
 * copy of this checkout's current node_modules, so it skips npm ci: a registry download per run
 * would cost minutes); what npm ci would also do, its `prepare` step (tsc into dist/), is this
 * checkout's dist/, hard-linked, provided it is not older than the sources (npm test builds it first).
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { FixtureServer, startFixtureServer } from '../../lib/local/offline-upstream/server';
import { encodeSigningSecret } from '../../lib/signing/secret';
import { ARTIFACTS } from '../../lib/infra/release-pipeline';
import { generateTestKeys } from '../support/gpg';
import { ActionModel, PipelineModel, pipelines } from './aws/pipelines';
import { CfnTemplate, ResolvedTemplates, TEST_REGION } from './aws/resolve';
import { SecretsEndpoint, startSecretsEndpoint } from './aws/secrets-endpoint';
import { ROOT, synthesize } from './support';

interface BuildSpec {
  env?: { shell?: string; 'exported-variables'?: string[] };
  phases: Record<string, { commands: string[] }>;
  artifacts?: { files: string[] };
}

let work: string;
let store: EmbeddedStore;
let fixtures: FixtureServer;
let secrets: SecretsEndpoint;
let prepared: string;
let dev: PipelineModel;
let master: PipelineModel;
let t: ResolvedTemplates;
const log: string[] = [];

beforeAll(async () => {
  const s = synthesize();
  t = new ResolvedTemplates({
    [s.repositories.stackName]: s.repositoriesTemplate.toJSON() as CfnTemplate,
    [s.pipelines.stackName]: s.pipelinesTemplate.toJSON() as CfnTemplate,
  });
  const all = pipelines(t);
  dev = all.find((p) => p.name.endsWith('-dev'))!;
  master = all.find((p) => p.name.endsWith('-master'))!;

  work = mkdtempSync(path.join(os.tmpdir(), 'ket-buildspecs-'));
  // Each zone its own throwaway key, served under its own secret's ARN only.
  const keyOf = async (p: PipelineModel) => {
    const k = await generateTestKeys(path.join(work, `keys-${p.name}`), { name: `KET ${p.name}` });
    return encodeSigningSecret({ privateKey: readFileSync(path.join(k.keysPath, 'private.key'), 'utf8') });
  };
  secrets = await startSecretsEndpoint({ [secretOf(dev)]: await keyOf(dev), [secretOf(master)]: await keyOf(master) });
  store = await startEmbeddedStore({ dataDir: path.join(work, 's3') });
  for (const p of [dev, master]) {
    const env = action(p, 'Publish').project!.env;
    for (const b of [env.RPM_REPO, env.DEB_REPO, stateBucket(env.KET_STATE_URL)]) await store.createBucket(b);
  }
  fixtures = await startFixtureServer({ dir: path.join(work, 'fixtures'), images: true });
  prepared = prepareSource();
}, 600_000);

afterAll(async () => {
  await fixtures?.close();
  await store?.close();
  await secrets?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

afterEach(() => {
  // A failing run is only readable with its log.
  if (expect.getState().assertionCalls !== expect.getState().numPassingAsserts) process.stderr.write(log.slice(-200).join('\n'));
});

const secretOf = (p: PipelineModel) => action(p, 'Build').project!.env.KET_GPG_KEY_SECRET;
const stateBucket = (url: string) => /^s3:\/\/([^/]+)\//.exec(url)![1];

function action(p: PipelineModel, name: string): ActionModel {
  const a = p.actions.find((x) => x.name === name);
  if (!a) throw new Error(`${p.name}: no action ${name}`);
  return a;
}

/**
 * The source as the Source action delivers it (the repository's files, the fixture release.yaml
 * standing in for the committed one), with npm ci's result in place: node_modules linked from this
 * checkout, dist/ compiled from the copied source.
 */
function prepareSource(): string {
  const dir = path.join(work, 'source');
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .stdout.split('\0')
    .filter((f) => f && existsSync(path.join(ROOT, f)));
  for (const f of files) {
    mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    cpSync(path.join(ROOT, f), path.join(dir, f), { preserveTimestamps: true });
  }
  cpSync(fixtures.manifestPath, path.join(dir, 'release.yaml'));
  // npm ci's result: a hard-linked copy of this checkout's node_modules (same file system, /tmp
  // and the checkout share it here). Never a symlink: should install-deps.sh decide to run npm ci,
  // it would empty the linked folder; with hard links it only drops the copy's links.
  const cp = spawnSync('cp', ['-a', '--link', path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules')], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`cannot hard-link node_modules into the source copy: ${cp.stderr}`);
  // npm ci's `prepare` step compiles into dist/: this checkout's dist/ is that compilation, as
  // long as it is not older than a source file (npm test runs `npm run build` before jest).
  const dist = path.join(ROOT, 'dist');
  const built = existsSync(dist) ? statSync(path.join(dist, 'bin', 'ket-packages.js')).mtimeMs : 0;
  const stale = files.filter((f) => /^(bin|lib)\/.*\.ts$/.test(f) && statSync(path.join(ROOT, f)).mtimeMs > built);
  if (stale.length > 0) throw new Error(`dist/ is older than ${stale.slice(0, 3).join(', ')}: run npm run build first`);
  const cpDist = spawnSync('cp', ['-a', '--link', dist, path.join(dir, 'dist')], { encoding: 'utf8' });
  if (cpDist.status !== 0) throw new Error(`cannot hard-link dist/ into the source copy: ${cpDist.stderr}`);
  return dir;
}

/** A fresh source folder for one action (CodeBuild starts from the artifact every time). */
function sourceFor(label: string): string {
  const dir = path.join(work, 'runs', label, 'src');
  mkdirSync(path.dirname(dir), { recursive: true });
  // Hard links with timestamps kept (install-deps.sh compares package-lock.json with node_modules).
  const cp = spawnSync('cp', ['-a', '--link', prepared, dir], { encoding: 'utf8' });
  if (cp.status !== 0) throw new Error(`cannot copy the prepared source: ${cp.stderr}`);
  return dir;
}

/** The CloudFront URLs of a project's environment, swapped for the store's bucket URLs. */
function localUrls(env: Readonly<Record<string, string>>, p: PipelineModel): Record<string, string> {
  const publish = action(p, 'Publish').project!.env;
  const swap: Record<string, string> = {
    [publish.RPM_BASE_URL]: store.bucketUrl(publish.RPM_REPO),
    [publish.DEB_BASE_URL]: store.bucketUrl(publish.DEB_REPO),
  };
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, swap[v] ?? v]));
}

/** The action's own environment variables, with the pipeline's #{Namespace.Variable} references resolved. */
function actionEnv(a: ActionModel, exported: Record<string, string>): Record<string, string> {
  const vars = JSON.parse(a.configuration.EnvironmentVariables ?? '[]') as Array<{ name: string; value: string }>;
  return Object.fromEntries(
    vars.map((v) => [
      v.name,
      v.value.replace(/#\{BuildVariables\.([A-Za-z0-9_]+)\}/g, (_m, n: string) => {
        if (!(n in exported)) throw new Error(`${a.name}: #{BuildVariables.${n}} is not exported by the build`);
        return exported[n];
      }),
    ]),
  );
}

interface RunResult {
  readonly status: number;
  readonly exported: Record<string, string>;
  readonly src: string;
  readonly output: string;
}

/** Runs one CodeBuild action's buildspec: install and build phases, in order, in one bash session. */
async function runAction(
  p: PipelineModel,
  a: ActionModel,
  label: string,
  opts: { buildOutput?: string; exported?: Record<string, string> } = {},
): Promise<RunResult> {
  const project = a.project!;
  const spec = parse(readFileSync(path.join(prepared, project.buildSpec), 'utf8')) as BuildSpec;
  expect(spec.env?.shell).toBe('bash');
  const src = sourceFor(label);
  const exportsFile = path.join(work, 'runs', label, 'exported');
  const lines = ['cd "$CODEBUILD_SRC_DIR"'];
  for (const phase of ['install', 'pre_build', 'build', 'post_build']) {
    spec.phases[phase]?.commands.forEach((c, i) => {
      lines.push(
        `# ${phase}[${i}]`,
        c,
        `__rc=$?; if [ $__rc -ne 0 ]; then echo "phase ${phase}, command ${i} failed with $__rc" >&2; exit $__rc; fi`,
      );
    });
  }
  for (const v of spec.env?.['exported-variables'] ?? []) lines.push(`printf '%s=%s\\n' ${v} "$${v}" >> ${JSON.stringify(exportsFile)}`);
  writeFileSync(exportsFile, '');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    CODEBUILD_SRC_DIR: src,
    ...(opts.buildOutput ? { [`CODEBUILD_SRC_DIR_${ARTIFACTS.build}`]: opts.buildOutput } : {}),
    AWS_REGION: TEST_REGION,
    AWS_DEFAULT_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: store.accessKeyId,
    AWS_SECRET_ACCESS_KEY: store.secretAccessKey,
    AWS_ENDPOINT_URL_S3: store.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    KET_MIRROR: fixtures.url,
    KET_REGISTRY_MIRROR: fixtures.registryMirror!,
    ...localUrls(project.env, p),
    ...actionEnv(a, opts.exported ?? {}),
  };
  // Asynchronously: the store, fixture server and secrets endpoint answer from this process.
  const started = Date.now();
  const chunks: Buffer[] = [];
  const status = await new Promise<number>((resolve, reject) => {
    const child = spawn('bash', ['-c', lines.join('\n')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? -1));
  });
  const output = Buffer.concat(chunks).toString('utf8');
  log.push(
    `=== ${label} (${project.buildSpec}) exit ${status} after ${Math.round((Date.now() - started) / 1000)} s`,
    ...output.split('\n').slice(-60),
  );
  const exported = Object.fromEntries(
    readFileSync(exportsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { status, exported, src, output };
}

/** The output artifact as CodePipeline hands it to the next action: the files `artifacts.files` selects. */
function collectArtifact(p: PipelineModel, run: RunResult, label: string): string {
  const spec = parse(readFileSync(path.join(prepared, action(p, 'Build').project!.buildSpec), 'utf8')) as BuildSpec;
  const out = path.join(work, 'artifacts', label);
  for (const pattern of spec.artifacts?.files ?? []) {
    const dir = /^(.*)\/\*\*\/\*$/.exec(pattern);
    if (dir) cpSync(path.join(run.src, dir[1]), path.join(out, dir[1]), { recursive: true });
    else if (!pattern.includes('*')) cpSync(path.join(run.src, pattern), path.join(out, pattern));
    else throw new Error(`artifacts.files: ${pattern} is a form this test does not lay out`);
  }
  return out;
}

async function keysIn(bucket: string): Promise<string[]> {
  const s3 = new S3Client({
    endpoint: store.endpoint,
    forcePathStyle: true,
    region: TEST_REGION,
    credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
  });
  try {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (r.Contents ?? []).map((o) => o.Key!);
  } finally {
    s3.destroy();
  }
}

function expectOk(r: RunResult): void {
  if (r.status !== 0) throw new Error(`buildspec failed (exit ${r.status}):\n${r.output.split('\n').slice(-40).join('\n')}`);
}

describe('buildspecs, run as CodeBuild runs them (embedded store, fixtures)', () => {
  test('dev: build → publish staging → verify staging, with the staging key only', async () => {
    const build = await runAction(dev, action(dev, 'Build'), 'dev-build');
    expectOk(build);
    expect(build.exported.KET_ARTIFACT_SHA256).toMatch(/^[0-9a-f]{64}$/);
    const artifact = collectArtifact(dev, build, 'dev-BuildOutput');
    expectOk(await runAction(dev, action(dev, 'Publish'), 'dev-publish', { buildOutput: artifact, exported: build.exported }));
    expectOk(await runAction(dev, action(dev, 'Verify'), 'dev-verify', { buildOutput: artifact, exported: build.exported }));
    // Every secret read was the staging secret, by its ARN, and answered.
    expect(secrets.requests.length).toBeGreaterThanOrEqual(2);
    expect(new Set(secrets.requests.map((r) => `${r.secretId} ${r.status}`))).toEqual(new Set([`${secretOf(dev)} 200`]));
  }, 900_000);

  test('master: build, the approval shows the sha256, publish refuses another artifact, then publishes the approved one and verifies', async () => {
    const before = secrets.requests.length;
    const build = await runAction(master, action(master, 'Build'), 'master-build');
    expectOk(build);
    const sha = build.exported.KET_ARTIFACT_SHA256;
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    const artifact = collectArtifact(master, build, 'master-BuildOutput');
    // What the approver reads: the approval's text with the build's variables resolved.
    expect(action(master, 'ApprovePublish').configuration.CustomData.replace(/#\{BuildVariables\.KET_ARTIFACT_SHA256\}/, sha)).toContain(
      sha,
    );

    // An artifact other than the approved one (one byte appended to a package) is refused before any write.
    const tampered = path.join(work, 'artifacts', 'master-tampered');
    cpSync(artifact, tampered, { recursive: true });
    const rpmDir = path.join(tampered, 'build', 'rpms');
    const victim = path.join(rpmDir, readdirSync(rpmDir)[0]);
    appendFileSync(victim, '\0');
    const refused = await runAction(master, action(master, 'Publish'), 'master-publish-tampered', {
      buildOutput: tampered,
      exported: build.exported,
    });
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain(`but ${sha} was approved`);
    const prod = action(master, 'Publish').project!.env;
    expect(await keysIn(prod.RPM_REPO)).toEqual([]);
    expect(await keysIn(prod.DEB_REPO)).toEqual([]);

    expectOk(await runAction(master, action(master, 'Publish'), 'master-publish', { buildOutput: artifact, exported: build.exported }));
    expectOk(await runAction(master, action(master, 'Verify'), 'master-verify', { buildOutput: artifact, exported: build.exported }));
    expect(new Set(secrets.requests.slice(before).map((r) => `${r.secretId} ${r.status}`))).toEqual(new Set([`${secretOf(master)} 200`]));
  }, 900_000);
});
