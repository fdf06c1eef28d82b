/**
 * Permissions as AWS would evaluate them, offline. The requests are the ones the code really
 * makes: publish's S3 requests are recorded from a real publish run against the embedded store
 * (twice: a first publish into empty buckets, then a re-publish), mapped to IAM actions and
 * resources; the Secrets Manager, CodeBuild, CodeConnections, CloudWatch Logs and artifact requests
 * are the documented calls of the CLI, CodeBuild and CodePipeline. The synthesized templates'
 * roles and bucket policies are resolved to concrete ARNs for a test account and region and every
 * request is evaluated, for every role it concerns, with @cloud-copilot/iam-simulate (identity and
 * resource policies, explicit denies).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { cloneRepositoryContent, CloneRepository } from '../../lib/clone';
import { EmbeddedStore, startEmbeddedStore } from '../../lib/local/store/server';
import { s3TargetFromEnv } from '../../lib/publish/s3';
import { publishRepositories } from '../../lib/publish';
import { silentLogger } from '../../lib/util/log';
import { verifyRepositories } from '../../lib/verify';
import { buildPackages } from '../support/packages';
import { generateTestKeys } from '../support/gpg';
import { ALLOW_ALL, IamModel, Request } from './aws/iam';
import { codeBuildServiceRequests, PipelineModel, pipelines, ProjectModel, projects } from './aws/pipelines';
import { CfnTemplate, ResolvedTemplates, TEST_ACCOUNT, TEST_REGION } from './aws/resolve';
import { iamRequestsOf, RecordedS3Request, startS3Recorder } from './aws/s3-requests';
import { synthesize } from './support';

let iam: IamModel;
let dev: PipelineModel;
let master: PipelineModel;
let recorded: RecordedS3Request[];
/** What verify requested: in AWS it reads through CloudFront, whose origin access control signs each S3 request. */
let verified: RecordedS3Request[];
let t: ResolvedTemplates;
let dir: string;
let store: EmbeddedStore | undefined;

/** Bucket names of the recorded publish run; mapped to the deployed buckets of each publish project. */
const RUN = { rpm: 'recorded-rpm', deb: 'recorded-deb', state: 'recorded-state' };
/** The clone run's destination (an existing repository: a reset), mapped to staging's buckets. */
const RUN_B = { rpm: 'recorded-b-rpm', deb: 'recorded-b-deb', state: 'recorded-b-state' };
/** What the recorded clone of RUN into RUN_B requested. */
let cloned: RecordedS3Request[];

beforeAll(async () => {
  const s = synthesize();
  t = new ResolvedTemplates({
    [s.repositories.stackName]: s.repositoriesTemplate.toJSON() as CfnTemplate,
    [s.pipelines.stackName]: s.pipelinesTemplate.toJSON() as CfnTemplate,
  });
  iam = new IamModel(t);
  const all = pipelines(t);
  dev = all.find((p) => p.name.endsWith('-dev'))!;
  master = all.find((p) => p.name.endsWith('-master'))!;

  // A real publish, twice, through a recording proxy in front of the embedded store.
  dir = await mkdtemp(path.join(os.tmpdir(), 'ket-permissions-'));
  const keys = await generateTestKeys(path.join(dir, 'keys'));
  store = await startEmbeddedStore({ dataDir: path.join(dir, 's3') });
  for (const b of Object.values(RUN)) await store.createBucket(b);
  const recorder = await startS3Recorder(store.endpoint);
  const from = path.join(dir, 'build');
  const packages = [{ name: 'kismatic-test', version: '1.0.0' }];
  await buildPackages(from, packages, keys.keysPath);
  try {
    for (let i = 0; i < 2; i++)
      await publishRepositories({
        rpmRepo: RUN.rpm,
        debRepo: RUN.deb,
        from,
        stateUrl: `s3://${RUN.state}/STATE_PREFIX`,
        signingKey: { keysPath: keys.keysPath },
        env: { ...process.env, ...store.env(), AWS_ENDPOINT_URL_S3: recorder.endpoint },
        release: { rpm: [{ name: 'kismatic-test', version: '1.0.0-1' }], deb: [{ name: 'kismatic-test', version: '1.0.0-1' }] },
        logger: silentLogger,
      });
    recorded = [...recorder.requests];
    recorder.requests.length = 0;
    await verifyRepositories({
      rpmUrl: `${recorder.endpoint}/${RUN.rpm}`,
      debUrl: `${recorder.endpoint}/${RUN.deb}`,
      rpm: [{ name: 'kismatic-test', version: '1.0.0-1' }],
      deb: [{ name: 'kismatic-test', version: '1.0.0-1' }],
      logger: silentLogger,
    });
    verified = [...recorder.requests];

    // A real clone of that repository into an existing one holding other packages (a reset:
    // overwrites and deletes in B), with B's own key, as the staging clone project runs it.
    for (const b of Object.values(RUN_B)) await store.createBucket(b);
    const fromB = path.join(dir, 'build-b');
    const other = [{ name: 'kismatic-other', version: '2.0.0' }];
    await buildPackages(fromB, other, keys.keysPath);
    await publishRepositories({
      rpmRepo: RUN_B.rpm,
      debRepo: RUN_B.deb,
      from: fromB,
      stateUrl: `s3://${RUN_B.state}/STATE_PREFIX`,
      signingKey: { keysPath: keys.keysPath },
      env: { ...process.env, ...store.env() },
      release: { rpm: [{ name: 'kismatic-other', version: '2.0.0-1' }], deb: [{ name: 'kismatic-other', version: '2.0.0-1' }] },
      logger: silentLogger,
    });
    recorder.requests.length = 0;
    const repositories: CloneRepository[] = [
      { name: 'a', rpmBucket: RUN.rpm, debBucket: RUN.deb, state: { bucket: RUN.state, prefix: 'STATE_PREFIX/' }, production: true },
      { name: 'b', rpmBucket: RUN_B.rpm, debBucket: RUN_B.deb, state: { bucket: RUN_B.state, prefix: 'STATE_PREFIX/' }, production: false },
    ];
    const target = s3TargetFromEnv({ ...process.env, ...store.env(), AWS_ENDPOINT_URL_S3: recorder.endpoint });
    try {
      // B's final read goes through CloudFront in AWS (the distributions' reads are checked below).
      const result = await cloneRepositoryContent({
        from: 'a',
        to: 'b',
        repositories,
        target,
        signingKey: { keysPath: keys.keysPath },
        verify: false,
        logger: silentLogger,
      });
      expect(result.removed.length).toBeGreaterThan(0);
    } finally {
      target.client.destroy();
    }
    cloned = [...recorder.requests];
  } finally {
    await recorder.close();
  }
}, 240_000);

afterAll(async () => {
  await store?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A deployed repository's buckets and state prefix, as its publish project is configured. */
function deployedRepository(project: ProjectModel) {
  const [, stateBucket, statePrefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(project.env.KET_STATE_URL)!;
  return { rpm: project.env.RPM_REPO, deb: project.env.DEB_REPO, state: stateBucket, statePrefix };
}

/**
 * Recorded requests as they would be made against deployed repositories: each recorded bucket
 * (RUN or RUN_B names) mapped to a deployed repository's, STATE_PREFIX to its state prefix.
 */
function deployedRequests(
  requests: RecordedS3Request[],
  map: Array<{ run: typeof RUN; to: ReturnType<typeof deployedRepository> }>,
  what: string,
): Request[] {
  const names = new Map<string, { bucket: string; statePrefix: string }>();
  for (const { run, to } of map)
    for (const k of ['rpm', 'deb', 'state'] as const) names.set(run[k], { bucket: to[k], statePrefix: to.statePrefix });
  return requests.flatMap((r) => {
    const own = names.get(r.bucket);
    const prefix = own?.statePrefix ?? '';
    // A server-side copy's source (x-amz-copy-source) names a recorded bucket and key too.
    const source = r.headers['x-amz-copy-source'];
    const headers =
      typeof source === 'string'
        ? {
            ...r.headers,
            'x-amz-copy-source': decodeURIComponent(source).replace(
              /^\/?([^/]+)\/STATE_PREFIX/,
              (_, b: string) => `/${b}/${names.get(b)?.statePrefix ?? 'STATE_PREFIX'}`,
            ),
          }
        : r.headers;
    return iamRequestsOf({ ...r, headers, key: r.key?.replace(/^STATE_PREFIX/, prefix) }, (b) => {
      const n = names.get(b);
      if (!n) throw new Error(`${what} touched an unexpected bucket ${b}`);
      return `arn:aws:s3:::${n.bucket}`;
    }).map((q) => ({
      ...q,
      context: q.context['s3:prefix']
        ? { ...q.context, 's3:prefix': String(q.context['s3:prefix']).replace(/^STATE_PREFIX/, prefix) }
        : q.context,
    }));
  });
}

/** The publish run's requests as the given publish project would make them against its own buckets. */
function publishRequests(project: ProjectModel): Request[] {
  return deployedRequests(recorded, [{ run: RUN, to: deployedRepository(project) }], 'publish');
}

/** Every request a pipeline's execution makes, with the role that makes it. */
function pipelineRequests(p: PipelineModel): Array<{ role: string; request: Request }> {
  const out: Array<{ role: string; request: Request }> = [];
  const add = (role: string, request: Request) => out.push({ role, request });
  for (const a of p.actions) {
    if (a.role !== p.role)
      add(p.role, { action: 'sts:AssumeRole', resource: a.role, why: `${p.name} assumes the role of action ${a.stage}/${a.name}` });
    const artifact = (name: string) => `arn:aws:s3:::${p.artifactBucket}/${p.name.slice(0, 20)}/${name.slice(0, 10)}/AbC1234`;
    if (a.provider === 'CodeStarSourceConnection') {
      // The action prefix must match the connection ARN's service (codeconnections or codestar-connections).
      const service = a.configuration.ConnectionArn.split(':')[2];
      add(a.role, {
        action: `${service}:UseConnection`,
        resource: a.configuration.ConnectionArn,
        why: `${p.name} source action uses the connection`,
      });
      for (const o of a.outputs) add(a.role, { action: 's3:PutObject', resource: artifact(o), why: `${p.name} source action stores ${o}` });
    }
    if (a.category === 'Approval' && a.configuration.NotificationArn)
      add(a.role, { action: 'sns:Publish', resource: a.configuration.NotificationArn, why: `${p.name} asks for approval` });
    if (a.project) {
      const project = a.project;
      for (const action of ['codebuild:StartBuild', 'codebuild:BatchGetBuilds'])
        add(a.role, { action, resource: project.arn, why: `${p.name} runs ${project.name}` });
      for (const request of codeBuildServiceRequests(p, project, { inputs: a.inputs, outputs: a.outputs })) add(project.role, request);
      if (project.env.KET_GPG_KEY_SECRET)
        add(project.role, {
          action: 'secretsmanager:GetSecretValue',
          resource: project.env.KET_GPG_KEY_SECRET,
          why: `${project.name} reads its signing key (KET_GPG_KEY_SECRET)`,
        });
      if (project.buildSpec.endsWith('publish.yml')) for (const request of publishRequests(project)) add(project.role, request);
    }
  }
  return out;
}

async function failures(
  checks: Array<{ role: string; request: Request }>,
  want: (r: string) => boolean,
  identity?: typeof ALLOW_ALL,
): Promise<string[]> {
  const out: string[] = [];
  for (const { role, request } of checks) {
    const result = await iam.evaluate(role, request, identity);
    if (!want(result)) out.push(`${result}: ${iam.rolePaths.get(role) ?? role} ${request.action} ${request.resource} (${request.why})`);
  }
  return [...new Set(out)];
}

/** Object keys and bucket-level writes that would change what a bucket serves or holds. */
const WRITE_ACTIONS = ['s3:PutObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectAcl', 's3:RestoreObject'];
const BUCKET_WRITES = ['s3:PutBucketPolicy', 's3:PutLifecycleConfiguration', 's3:PutBucketVersioning', 's3:DeleteBucket'];

function writesTo(bucket: string, why: string): Request[] {
  return [
    ...WRITE_ACTIONS.flatMap((action) =>
      ['any-key', 'build/rpms/kismatic.rpm', `${master.name.slice(0, 20)}/BuildOutpu/AbC1234`, 'production/aptly.tar'].map((key) => ({
        action,
        resource: `arn:aws:s3:::${bucket}/${key}`,
        why,
      })),
    ),
    ...BUCKET_WRITES.map((action) => ({ action, resource: `arn:aws:s3:::${bucket}`, why })),
  ];
}

/** What production holds or reads: its repositories' buckets, the master pipeline's artifacts and caches, its keys. */
function production() {
  const publish = master.projects.filter((p) => p.buildSpec.endsWith('publish.yml'));
  const buckets = new Set<string>([master.artifactBucket]);
  for (const p of publish) {
    buckets.add(p.env.RPM_REPO);
    buckets.add(p.env.DEB_REPO);
    buckets.add(/^s3:\/\/([^/]+)\//.exec(p.env.KET_STATE_URL)![1]);
  }
  for (const p of master.projects) if (p.cache) buckets.add(p.cache.bucket);
  const secrets = new Set(master.projects.flatMap((p) => (p.env.KET_GPG_KEY_SECRET ? [p.env.KET_GPG_KEY_SECRET] : [])));
  return { buckets: [...buckets], secrets: [...secrets] };
}

/** The staging clone project, its Lambdas and the requests each makes in a clone of production into staging. */
function cloneModel() {
  const project = projects(t).find((p) => p.buildSpec.endsWith('clone.yml'));
  if (!project) throw new Error('no clone project in the synthesized templates');
  const publishOf = (p: PipelineModel) => deployedRepository(p.projects.find((x) => x.buildSpec.endsWith('publish.yml'))!);
  const prod = publishOf(master);
  const staging = publishOf(dev);
  const endpoints = JSON.parse(project.env.KET_CLONE_ENDPOINTS) as Record<
    string,
    { rpmDistributionId: string; debDistributionId: string; signingKeySecretArn: string }
  >;
  const b = endpoints.staging;
  const requests: Request[] = [
    ...deployedRequests(
      cloned,
      [
        { run: RUN, to: prod },
        { run: RUN_B, to: staging },
      ],
      'clone',
    ),
    { action: 'secretsmanager:GetSecretValue', resource: b.signingKeySecretArn, why: "the clone reads B's signing key" },
    ...[b.rpmDistributionId, b.debDistributionId].flatMap((id) =>
      ['cloudfront:CreateInvalidation', 'cloudfront:GetInvalidation'].map((action) => ({
        action,
        resource: `arn:aws:cloudfront::${TEST_ACCOUNT}:distribution/${id}`,
        why: `the clone invalidates B's distribution ${id} and waits`,
      })),
    ),
    ...codeBuildServiceRequests(master, project, { inputs: [], outputs: [] }).filter((r) => r.action.startsWith('logs:')),
  ];
  // The Lambdas: clone-start and the provider's onEvent/isComplete (lambda/*.ts), with their logs.
  const functions = [...t.resources('AWS::Lambda::Function')].flatMap(({ stack, id }) => {
    const f = t.resolve(stack, t.resource(stack, id).Properties) as {
      Handler: string;
      Role: string;
      Environment?: { Variables?: Record<string, string> };
      LoggingConfig?: { LogGroup?: string };
    };
    if (!f.Environment?.Variables?.CLONE_DEPLOYMENT) return [];
    const logGroup = `arn:aws:logs:${TEST_REGION}:${TEST_ACCOUNT}:log-group:${f.LoggingConfig?.LogGroup ?? `/aws/lambda/${t.physicalName(stack, id)}`}`;
    const codebuild = {
      'index.handler': ['StartBuild'],
      'index.onEvent': ['StartBuild', 'StopBuild', 'BatchGetBuilds'],
      'index.isComplete': ['BatchGetBuilds'],
    }[f.Handler];
    if (!codebuild) throw new Error(`unknown clone function handler ${f.Handler}`);
    const why = `${f.Handler} of ${t.path(stack, id)}`;
    return [
      ...codebuild.map((a) => ({ role: f.Role, request: { action: `codebuild:${a}`, resource: project.arn, why } })),
      ...['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => ({
        role: f.Role,
        request: { action, resource: `${logGroup}:log-stream:2026/11/30/[$LATEST]abc`, why: `${why} logs` },
      })),
    ];
  });
  return { project, prod, staging, requests, functions };
}

describe('permissions, evaluated as AWS would (iam-simulate over the synthesized policies)', () => {
  test('the recorded publish run covers what the IAM mapping must handle', () => {
    const actions = new Set(recorded.flatMap((r) => iamRequestsOf(r, (b) => `arn:aws:s3:::${b}`).map((q) => q.action)));
    // HeadBucket, GETs of missing keys (the first publish), and writes were all seen.
    expect(recorded.some((r) => r.method === 'HEAD' && r.key === undefined)).toBe(true);
    expect(recorded.some((r) => r.status === 404 && r.bucket === RUN.state)).toBe(true);
    expect([...actions]).toEqual(expect.arrayContaining(['s3:ListBucket', 's3:GetObject', 's3:PutObject']));
  });

  test.each(['dev', 'master'])('%s: every role can make every request its pipeline, projects and commands make', async (branch) => {
    const p = branch === 'dev' ? dev : master;
    expect(await failures(pipelineRequests(p), (r) => r === 'Allowed')).toEqual([]);
  });

  test("dev: no role of the dev pipeline can read production's signing key", async () => {
    const { secrets } = production();
    expect(secrets.length).toBeGreaterThan(0);
    const checks = dev.roles.flatMap((role) =>
      secrets.map((resource) => ({ role, request: { action: 'secretsmanager:GetSecretValue', resource, why: 'production key' } })),
    );
    expect(await failures(checks, (r) => r !== 'Allowed')).toEqual([]);
  });

  test('dev: no role of the dev pipeline can write anything master reads or publishes (repositories, state, artifacts, caches)', async () => {
    const { buckets } = production();
    const checks = dev.roles.flatMap((role) =>
      buckets.flatMap((b) => writesTo(b, 'production bucket').map((request) => ({ role, request }))),
    );
    expect(await failures(checks, (r) => r !== 'Allowed')).toEqual([]);
  });

  test('the clone run recorded a reset: copies into B, overwrites and deletes of B-only objects, reads of A only', () => {
    const writes = (run: typeof RUN) =>
      cloned.filter((r) => Object.values(run).includes(r.bucket) && r.method !== 'GET' && r.method !== 'HEAD');
    expect(writes(RUN)).toEqual([]);
    // A's state place is not touched; of B's, only the bucket check and B's locks.
    expect(cloned.filter((r) => r.bucket === RUN.state)).toEqual([]);
    expect(
      cloned.filter((r) => r.bucket === RUN_B.state && r.key !== undefined && !r.key.startsWith('STATE_PREFIX/locks/')).map((r) => r.key),
    ).toEqual([]);
    // B-only objects go in DeleteObjects batches (POST ?delete).
    expect(writes(RUN_B).some((r) => r.method === 'POST' && r.query.has('delete'))).toBe(true);
    const methods = new Set(writes(RUN_B).map((r) => `${r.method}${r.headers['x-amz-copy-source'] ? ' copy' : ''}`));
    expect([...methods]).toEqual(expect.arrayContaining(['PUT copy', 'PUT', 'POST']));
  });

  test('the staging clone role can make every request of a clone of production into staging; its Lambdas can start, follow and stop it', async () => {
    const { project, requests, functions } = cloneModel();
    expect(requests.some((r) => r.action === 's3:DeleteObject')).toBe(true);
    expect(await failures([...requests.map((request) => ({ role: project.role, request })), ...functions], (r) => r === 'Allowed')).toEqual(
      [],
    );
    expect(functions.length).toBeGreaterThanOrEqual(3 * 3);
  });

  test("the staging clone role's access to state places is staging's locks only: no read of production's state, no delete in staging's", async () => {
    const { project, prod, staging } = cloneModel();
    const object = (r: typeof prod, key: string) => `arn:aws:s3:::${r.state}/${r.statePrefix}/${key}`;
    const denied = [
      { action: 's3:GetObject', resource: object(prod, `aptly/${prod.deb}/db.tar.zst`), why: "production's state" },
      { action: 's3:GetObject', resource: object(prod, `locks/${prod.deb}.lock`), why: "production's locks" },
      ...['s3:PutObject', 's3:DeleteObject'].map((action) => ({
        action,
        resource: object(staging, `aptly/${staging.deb}/db.tar.zst`),
        why: "staging's state outside its locks",
      })),
      { action: 's3:DeleteObject', resource: object(staging, `locks/${staging.deb}.lock`), why: 'a lock is never deleted' },
    ].map((request) => ({ role: project.role, request }));
    expect(await failures(denied, (r) => r !== 'Allowed')).toEqual([]);
    const allowed = ['s3:GetObject', 's3:PutObject'].map((action) => ({
      role: project.role,
      request: { action, resource: object(staging, `locks/${staging.rpm}.lock`), why: "staging's lock" },
    }));
    expect(await failures(allowed, (r) => r === 'Allowed')).toEqual([]);
  });

  test("the clone role is denied every write and delete on production's buckets and any use of production's key", async () => {
    const { project } = cloneModel();
    const { buckets, secrets } = production();
    const checks = [
      ...buckets.flatMap((b) => writesTo(b, 'production bucket')),
      ...secrets.flatMap((resource) =>
        [
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecret',
          'secretsmanager:DeleteSecret',
        ].map((action) => ({
          action,
          resource,
          why: 'production key',
        })),
      ),
    ].map((request) => ({ role: project.role, request }));
    expect(await failures(checks, (r) => r !== 'Allowed')).toEqual([]);
  });

  test("verify's reads, made by each distribution through origin access control, are allowed on its own bucket only", async () => {
    expect(verified.length).toBeGreaterThan(5);
    const distributions = [...t.resources('AWS::CloudFront::Distribution')].map(({ stack, id }) => {
      const origin = t.resolve(stack, t.resource(stack, id).Properties) as {
        DistributionConfig: { Origins: Array<{ DomainName: string }> };
      };
      return {
        arn: `arn:aws:cloudfront::${TEST_ACCOUNT}:distribution/${t.physicalName(stack, id)}`,
        bucket: origin.DistributionConfig.Origins[0].DomainName.split('.s3.')[0],
      };
    });
    expect(distributions).toHaveLength(4);
    for (const d of distributions) {
      const kind = /-(rpm|deb)-/.exec(d.bucket)![1];
      const reads = verified
        .filter((r) => r.bucket === (kind === 'rpm' ? RUN.rpm : RUN.deb) && r.status !== 404)
        .flatMap((r) => iamRequestsOf(r, () => `arn:aws:s3:::${d.bucket}`));
      expect(reads.length).toBeGreaterThan(0);
      expect(new Set(reads.map((q) => q.action))).toEqual(new Set(['s3:GetObject']));
      const as = (source: string) =>
        reads.map((request) => ({
          ...request,
          context: { ...request.context, 'aws:SourceArn': source, 'aws:SourceAccount': TEST_ACCOUNT },
        }));
      const fail = async (requests: Request[], want: (r: string) => boolean) => {
        const out: string[] = [];
        for (const request of requests) {
          const result = await iam.evaluate('cloudfront.amazonaws.com', request);
          if (!want(result)) out.push(`${result}: ${request.action} ${request.resource} (${request.why})`);
        }
        return out;
      };
      expect(await fail(as(d.arn), (r) => r === 'Allowed')).toEqual([]);
      // Another distribution (of this account) reading this bucket is refused.
      const other = distributions.find((x) => x.arn !== d.arn)!;
      expect(await fail(as(other.arn), (r) => r !== 'Allowed')).toEqual([]);
    }
  });

  test("only the staging clone role can delete from a package (rpm or deb) bucket, only staging's current objects; publish roles cannot delete state", async () => {
    const { project, prod, staging } = cloneModel();
    const deletes = (b: string, actions = ['s3:DeleteObject', 's3:DeleteObjectVersion']) =>
      actions.map((action) => ({ action, resource: `arn:aws:s3:::${b}/rpms/kismatic.rpm`, why: `package delete on ${b}` }));
    const packageBuckets = [...dev.projects, ...master.projects]
      .filter((p) => p.buildSpec.endsWith('publish.yml'))
      .flatMap((p) => [p.env.RPM_REPO, p.env.DEB_REPO]);
    const others = iam.roles.filter((r) => r !== project.role);
    expect(others.length).toBeGreaterThan(5);
    const denied = [
      ...others.flatMap((role) => packageBuckets.flatMap((b) => deletes(b).map((request) => ({ role, request })))),
      ...[prod.rpm, prod.deb].flatMap((b) => deletes(b).map((request) => ({ role: project.role, request }))),
      ...[staging.rpm, staging.deb].flatMap((b) =>
        deletes(b, ['s3:DeleteObjectVersion']).map((request) => ({ role: project.role, request })),
      ),
    ];
    expect(await failures(denied, (r) => r !== 'Allowed')).toEqual([]);
    // The bucket policies alone decide it: even a role whose own policy allowed every action is
    // refused, except the clone role's delete of a current object on staging.
    expect(await failures(denied, (r) => r !== 'Allowed', ALLOW_ALL)).toEqual([]);
    const allowed = [staging.rpm, staging.deb].flatMap((b) =>
      deletes(b, ['s3:DeleteObject']).map((request) => ({ role: project.role, request })),
    );
    expect(await failures(allowed, (r) => r === 'Allowed')).toEqual([]);
    // The lock never deletes: no publish role may delete under the state prefix either.
    const stateDeletes = [...dev.projects, ...master.projects]
      .filter((p) => p.buildSpec.endsWith('publish.yml'))
      .map((p) => ({
        role: p.role,
        request: {
          action: 's3:DeleteObject',
          resource: `${p.env.KET_STATE_URL.replace(/^s3:\/\//, 'arn:aws:s3:::')}/lock`,
          why: 'state delete',
        },
      }));
    expect(await failures(stateDeletes, (r) => r !== 'Allowed')).toEqual([]);
  });

  test("a publish role reads and writes its state prefix's lock objects only (aptly keeps no database there)", async () => {
    const publishers = [...dev.projects, ...master.projects].filter((p) => p.buildSpec.endsWith('publish.yml'));
    expect(publishers).toHaveLength(2);
    const state = (p: (typeof publishers)[number], key: string) => `${p.env.KET_STATE_URL.replace(/^s3:\/\//, 'arn:aws:s3:::')}/${key}`;
    const requests = (p: (typeof publishers)[number], key: string, why: string) =>
      ['s3:GetObject', 's3:PutObject'].map((action) => ({ role: p.role, request: { action, resource: state(p, key), why } }));
    const denied = publishers.flatMap((p) => [
      ...requests(p, `aptly/${p.env.DEB_REPO}/db.tar.zst`, 'the database earlier versions kept'),
      ...requests(p, 'other-key', 'state outside the locks'),
    ]);
    expect(await failures(denied, (r) => r !== 'Allowed')).toEqual([]);
    const allowed = publishers.flatMap((p) => requests(p, `locks/${p.env.DEB_REPO}.lock`, 'its lock'));
    expect(await failures(allowed, (r) => r === 'Allowed')).toEqual([]);
  });
});
