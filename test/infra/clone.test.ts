import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, parseDocument } from 'yaml';
import { parseDeploymentConfig } from '../../lib/config/load';
import { CloneDeploymentFile, deploymentRepositories } from '../../lib/clone/deployment';
import { CLONE_BUILDSPEC } from '../../lib/infra/clone';
import { PackageRepository } from '../../lib/infra/package-repository';
import { run } from '../../lib/util/exec';
import { committedConfig, list, logicalId, ROOT, Statement, statementsOfRole, synthesize, Synthesized } from './support';

let outdir: string;
let s: Synthesized;
beforeAll(() => {
  outdir = mkdtempSync(path.join(os.tmpdir(), 'ket-cdk-clone-'));
  s = synthesize({ ...committedConfig(), account: '123456789012', region: 'eu-west-1' }, outdir);
}, 240_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

type Bucket = `${'production' | 'staging'}.${'rpm' | 'deb' | 'state'}`;
function bucketIds(): Array<[Bucket, string]> {
  return [...s.repositories.repositories.values()].flatMap((r: PackageRepository) => [
    [`${r.repositoryName}.rpm` as Bucket, logicalId(r.rpmBucket)],
    [`${r.repositoryName}.deb` as Bucket, logicalId(r.debBucket)],
    [`${r.repositoryName}.state` as Bucket, logicalId(r.stateBucket)],
  ]);
}
const bucketsIn = (resource: unknown): Bucket[] =>
  bucketIds()
    .filter(([, id]) => JSON.stringify(resource).includes(id))
    .map(([b]) => b);

/** "action bucket" for every Allow statement of a role on a repository bucket. */
function access(roleLogicalId: string): string[] {
  const out = new Set<string>();
  for (const st of statementsOfRole(s.pipelinesTemplate, roleLogicalId))
    for (const b of bucketsIn(st.Resource)) for (const a of list(st.Action)) out.add(`${a} ${b}`);
  return [...out].sort();
}

const WRITE = /^s3:(Put|Delete|Abort|Restore|\*)/;

describe('deploy.config.yaml: cloneGeneration', () => {
  const withGeneration = (g: unknown) => {
    const doc = parseDocument(readFileSync(path.join(ROOT, 'deploy.config.yaml'), 'utf8'));
    doc.setIn(['repositories', 1, 'cloneGeneration'], g);
    return parseDeploymentConfig(String(doc), 'deploy.config.yaml');
  };
  test('defaults to 1, takes a whole number from 1, and anything else is refused naming the field', () => {
    expect(committedConfig().repositories.find((r) => r.name === 'staging')?.cloneGeneration).toBe(1);
    expect(withGeneration(2).repositories[1].cloneGeneration).toBe(2);
    expect(() => withGeneration(0)).toThrow(/repositories\[1\]\.cloneGeneration/);
    expect(() => withGeneration('again')).toThrow(/repositories\[1\]\.cloneGeneration/);
  });
});

describe('clone machinery', () => {
  test('one clone project, for the staging zone: the bundled asset as source, buildspecs/clone.yml, Node 22+, within the provider time limit', () => {
    const t = s.pipelinesTemplate.toJSON();
    const project = t.Resources[logicalId(s.pipelines.clone.project)];
    expect(project.Properties.Source).toMatchObject({ Type: 'S3', BuildSpec: CLONE_BUILDSPEC });
    expect(project.Properties.TimeoutInMinutes).toBe(100);
    const names = project.Properties.Environment.EnvironmentVariables.map((v: { Name: string }) => v.Name).sort();
    expect(names).toEqual(['KET_CLONE_ENDPOINTS']);
    const spec = parse(readFileSync(path.resolve(__dirname, '../..', CLONE_BUILDSPEC), 'utf8'));
    // Docker's Node 22 image on Debian 12, as every project (runtime-versions exists only on CodeBuild's own images).
    expect(spec.phases.install['runtime-versions']).toBeUndefined();
    for (const c of spec.phases.install.commands) expect(c).toMatch(/^(apt-get update|DEBIAN_FRONTEND=noninteractive apt-get install -y)/);
    expect(spec.phases.build.commands).toEqual([
      'node ket-packages.js clone --from "$KET_CLONE_FROM" --to "$KET_CLONE_TO" --deployment clone-deployment.json',
    ]);
    const projects = Object.values(s.pipelinesTemplate.findResources('AWS::CodeBuild::Project')).filter((p) =>
      String(p.Properties.Description).includes('clone'),
    );
    expect(projects).toHaveLength(1);
  });

  test('clone-start and the provider pair: NodejsFunctions on Node 22 or newer; the provider within two hours; one clone resource for staging', () => {
    const fns = s.pipelinesTemplate.findResources('AWS::Lambda::Function');
    for (const [id, f] of Object.entries(fns))
      expect([id, Number(/^nodejs(\d+)\.x$/.exec(f.Properties.Runtime)?.[1])]).toEqual([id, expect.any(Number)]);
    for (const f of Object.values(fns)) expect(Number(/^nodejs(\d+)/.exec(f.Properties.Runtime)![1])).toBeGreaterThanOrEqual(22);
    const ours = Object.values(fns).filter((f) => f.Properties.Environment?.Variables?.CLONE_DEPLOYMENT);
    expect(ours).toHaveLength(3);
    const resources = s.pipelinesTemplate.findResources('Custom::KetRepositoryClone');
    expect(
      Object.values(resources).map((r) => ({ From: r.Properties.From, To: r.Properties.To, Generation: r.Properties.Generation })),
    ).toEqual([{ From: 'production', To: 'staging', Generation: '1' }]);
    expect(s.pipelinesTemplate.toJSON().Outputs.CloneStartFunctionName).toBeDefined();
    // The console's saved test event production → staging, on clone-start.
    const schemas = Object.values(s.pipelinesTemplate.findResources('AWS::EventSchemas::Schema'));
    expect(schemas).toHaveLength(1);
    expect(schemas[0].Properties).toMatchObject({
      RegistryName: 'lambda-testevent-schemas',
      SchemaName: { 'Fn::Join': ['', ['_', { Ref: logicalId(s.pipelines.clone.startFunction) }, '-schema']] },
    });
    expect(JSON.parse(schemas[0].Properties.Content).components.examples).toEqual({
      'production-to-staging': { value: { from: 'production', to: 'staging' } },
    });
  });

  test('the clone role reads every repository but writes, replaces and deletes only staging, never production', () => {
    const role = logicalId(s.pipelines.clone.role as never);
    const a = access(role);
    expect(a.filter((x) => x.includes('production.') && WRITE.test(x))).toEqual([]);
    expect(a).toEqual(
      expect.arrayContaining([
        's3:GetObject production.rpm',
        's3:GetObject production.deb',
        's3:PutObject staging.rpm',
        's3:DeleteObject staging.deb',
      ]),
    );
    // Of the state places it touches only staging's publish locks (read and conditional PUTs,
    // never a delete) and HeadBucket on staging's state bucket; production's it does not touch.
    expect(a.filter((x) => x.endsWith('.state'))).toEqual([
      's3:GetObject staging.state',
      's3:ListBucket staging.state',
      's3:PutObject staging.state',
    ]);
    const stateObjects = statementsOfRole(s.pipelinesTemplate, role)
      .filter((st) => bucketsIn(st.Resource).includes('staging.state') && list(st.Action).includes('s3:PutObject'))
      .flatMap((st) => list(st.Resource));
    expect(stateObjects).toHaveLength(1);
    expect(JSON.stringify(stateObjects)).toMatch(/"\/staging\/locks\/\*"\]/);
    // It reads the signing key; CloudFront invalidation only on staging's distributions.
    const cf = statementsOfRole(s.pipelinesTemplate, role).filter((st) => list(st.Action).some((x) => x.startsWith('cloudfront:')));
    const staging = s.repositories.repository('staging');
    const prod = s.repositories.repository('production');
    expect(JSON.stringify(cf)).toContain(logicalId(staging.rpmDistribution));
    expect(JSON.stringify(cf)).not.toContain(logicalId(prod.rpmDistribution));
  });

  test('no role of the clone machinery can write production; every other role still deletes nothing from a package bucket', () => {
    const policies = Object.values(s.pipelinesTemplate.findResources('AWS::IAM::Policy'));
    for (const p of policies) {
      for (const st of p.Properties.PolicyDocument.Statement as Statement[]) {
        const buckets = bucketsIn(st.Resource);
        for (const act of list(st.Action)) {
          if (buckets.some((b) => b.startsWith('production.') && b !== 'production.state') && WRITE.test(act)) {
            // Only production's own publisher writes production's package buckets.
            expect(p.Properties.Roles).toEqual([{ Ref: logicalId(s.pipelines.zones.production.publish.project.role as never) }]);
          }
          if (/^s3:Delete/.test(act) && buckets.some((b) => !b.endsWith('.state')))
            expect(p.Properties.Roles).toEqual([{ Ref: logicalId(s.pipelines.clone.role as never) }]);
        }
      }
    }
  });

  test("bucket policies: production's deny on deletes has no exception; staging's excepts only the staging clone role", () => {
    const policies = Object.values(s.repositoriesTemplate.findResources('AWS::S3::BucketPolicy'));
    const deny = (repo: PackageRepository, b: 'rpmBucket' | 'debBucket') =>
      policies
        .find((p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: logicalId(repo[b]) }))!
        .Properties.PolicyDocument.Statement.filter((st: { Sid?: string }) => st.Sid?.startsWith('DenyDeleting'));
    for (const b of ['rpmBucket', 'debBucket'] as const) {
      expect(deny(s.repositories.repository('production'), b)).toEqual([
        expect.objectContaining({ Effect: 'Deny', Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'] }),
      ]);
      expect(deny(s.repositories.repository('production'), b)[0].Condition).toBeUndefined();
      const staging = deny(s.repositories.repository('staging'), b);
      expect(staging).toEqual([
        expect.objectContaining({
          Sid: 'DenyDeletingPackages',
          Condition: {
            ArnNotEquals: {
              'aws:PrincipalArn': {
                'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:role/KetPackages-Clone-staging']],
              },
            },
          },
        }),
        expect.objectContaining({ Sid: 'DenyDeletingVersions', Action: 's3:DeleteObjectVersion' }),
      ]);
      expect(staging[1].Condition).toBeUndefined();
    }
    const roleName = s.pipelinesTemplate.toJSON().Resources[logicalId(s.pipelines.clone.role as never)].Properties.RoleName;
    expect(roleName).toBe('KetPackages-Clone-staging');
  });

  test('the bundled asset runs without a checkout and resolves the same bucket names the repositories stack creates', async () => {
    const assetDir = readdirSync(outdir)
      .map((d) => path.join(outdir, d))
      .find((d) => existsSync(path.join(d, 'clone-deployment.json')))!;
    expect(existsSync(path.join(assetDir, CLONE_BUILDSPEC))).toBe(true);
    const file = JSON.parse(readFileSync(path.join(assetDir, 'clone-deployment.json'), 'utf8')) as CloneDeploymentFile;
    const resolved = deploymentRepositories(file, { account: '123456789012', region: 'eu-west-1' });
    const t = s.repositoriesTemplate.toJSON().Resources;
    const nameOf = (bucket: { node: { defaultChild?: unknown } }) => {
      const n = t[logicalId(bucket)].Properties.BucketName;
      return typeof n === 'string' ? n : (n['Fn::Join'][1] as string[]).join(n['Fn::Join'][0]);
    };
    for (const r of resolved) {
      const repo = s.repositories.repository(r.name);
      expect([r.rpmBucket, r.debBucket, r.state.bucket]).toEqual([
        nameOf(repo.rpmBucket),
        nameOf(repo.debBucket),
        nameOf(repo.stateBucket),
      ]);
    }
    expect(resolved.find((r) => r.name === 'production')?.production).toBe(true);
    // The bundle is the CLI: it runs with nothing but node, and refuses to run outside CodeBuild.
    const help = await run(process.execPath, [path.join(assetDir, 'ket-packages.js'), 'clone', '--help'], { cwd: assetDir });
    expect(help.stdout).toMatch(/--from <repository>/);
    await expect(
      run(
        process.execPath,
        [
          path.join(assetDir, 'ket-packages.js'),
          'clone',
          '--from',
          'production',
          '--to',
          'staging',
          '--deployment',
          'clone-deployment.json',
        ],
        {
          cwd: assetDir,
          env: { PATH: process.env.PATH, HOME: process.env.HOME },
        },
      ),
    ).rejects.toThrow(/CODEBUILD_BUILD_ARN: '' is not a CodeBuild build ARN/);
  }, 60_000);
});
