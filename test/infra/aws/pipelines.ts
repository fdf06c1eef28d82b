import { ResolvedTemplates, TEST_ACCOUNT, TEST_REGION } from './resolve';
import { Request } from './iam';

/** A CodeBuild project as deployed: its role, environment and cache. */
export interface ProjectModel {
  readonly name: string;
  readonly arn: string;
  readonly role: string;
  readonly path: string;
  readonly buildSpec: string;
  readonly env: Readonly<Record<string, string>>;
  /** S3 cache location BUCKET/PREFIX, if any. */
  readonly cache?: { readonly bucket: string; readonly prefix: string };
}

export interface ActionModel {
  readonly stage: string;
  readonly name: string;
  readonly category: string;
  readonly provider: string;
  /** The role the action runs as (the pipeline's own role when the action has none). */
  readonly role: string;
  readonly configuration: Readonly<Record<string, string>>;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly project?: ProjectModel;
}

/** A pipeline as deployed: its role, artifact store and actions in order. */
export interface PipelineModel {
  readonly name: string;
  readonly arn: string;
  readonly role: string;
  readonly artifactBucket: string;
  readonly actions: readonly ActionModel[];
  /** Every role the pipeline's execution uses: its own, its actions', its projects'. */
  readonly roles: readonly string[];
  readonly projects: readonly ProjectModel[];
}

export function projects(t: ResolvedTemplates): ProjectModel[] {
  return [...t.resources('AWS::CodeBuild::Project')].map(({ stack, id }) => {
    const p = t.resolve(stack, t.resource(stack, id).Properties) as {
      ServiceRole: string;
      Source: { BuildSpec: string };
      Environment: { EnvironmentVariables?: Array<{ Name: string; Value: string }> };
      Cache?: { Type: string; Location?: string };
    };
    const [bucket, ...prefix] = p.Cache?.Type === 'S3' ? String(p.Cache.Location).split('/') : [];
    return {
      name: t.physicalName(stack, id),
      arn: t.arn(stack, id),
      role: p.ServiceRole.startsWith('arn:') ? p.ServiceRole : `arn:aws:iam::${TEST_ACCOUNT}:role/${p.ServiceRole}`,
      path: t.path(stack, id),
      buildSpec: p.Source.BuildSpec,
      env: Object.fromEntries((p.Environment.EnvironmentVariables ?? []).map((v) => [v.Name, String(v.Value)])),
      cache: bucket ? { bucket, prefix: prefix.join('/') } : undefined,
    };
  });
}

export function pipelines(t: ResolvedTemplates): PipelineModel[] {
  const all = projects(t);
  return [...t.resources('AWS::CodePipeline::Pipeline')].map(({ stack, id }) => {
    const p = t.resolve(stack, t.resource(stack, id).Properties) as {
      Name: string;
      RoleArn: string;
      ArtifactStore: { Location: string };
      Stages: Array<{
        Name: string;
        Actions: Array<{
          Name: string;
          ActionTypeId: { Category: string; Provider: string };
          RoleArn?: string;
          Configuration?: Record<string, string>;
          InputArtifacts?: Array<{ Name: string }>;
          OutputArtifacts?: Array<{ Name: string }>;
        }>;
      }>;
    };
    const actions = p.Stages.flatMap((s) =>
      s.Actions.map((a): ActionModel => {
        const configuration = a.Configuration ?? {};
        const project = a.ActionTypeId.Provider === 'CodeBuild' ? all.find((x) => x.name === configuration.ProjectName) : undefined;
        if (a.ActionTypeId.Provider === 'CodeBuild' && !project) throw new Error(`${p.Name}: no project ${configuration.ProjectName}`);
        return {
          stage: s.Name,
          name: a.Name,
          category: a.ActionTypeId.Category,
          provider: a.ActionTypeId.Provider,
          role: a.RoleArn ?? p.RoleArn,
          configuration,
          inputs: (a.InputArtifacts ?? []).map((x) => x.Name),
          outputs: (a.OutputArtifacts ?? []).map((x) => x.Name),
          project,
        };
      }),
    );
    const projectsOf = actions.flatMap((a) => (a.project ? [a.project] : []));
    return {
      name: p.Name,
      arn: t.arn(stack, id),
      role: p.RoleArn,
      artifactBucket: p.ArtifactStore.Location,
      actions,
      roles: [...new Set([p.RoleArn, ...actions.map((a) => a.role), ...projectsOf.map((x) => x.role)])],
      projects: [...new Map(projectsOf.map((x) => [x.arn, x])).values()],
    };
  });
}

/** Key of an artifact in the pipeline's artifact store, as CodePipeline lays it out: PIPELINE(20)/ARTIFACT(10)/ID. */
export function artifactKey(pipeline: PipelineModel, artifact: string): string {
  return `${pipeline.name.slice(0, 20)}/${artifact.slice(0, 10)}/AbC1234`;
}

/** What CodeBuild itself does with a project's role around the buildspec: logs, artifacts, cache. */
export function codeBuildServiceRequests(
  pipeline: PipelineModel,
  project: ProjectModel,
  io: { readonly inputs: readonly string[]; readonly outputs: readonly string[] },
): Request[] {
  const logGroup = `arn:aws:logs:${TEST_REGION}:${TEST_ACCOUNT}:log-group:/aws/codebuild/${project.name}`;
  const out: Request[] = [
    { action: 'logs:CreateLogGroup', resource: logGroup, why: 'CodeBuild creates the log group' },
    { action: 'logs:CreateLogStream', resource: `${logGroup}:log-stream:build-1`, why: 'CodeBuild opens the build log' },
    { action: 'logs:PutLogEvents', resource: `${logGroup}:log-stream:build-1`, why: 'CodeBuild writes the build log' },
  ];
  const bucket = `arn:aws:s3:::${pipeline.artifactBucket}`;
  for (const a of io.inputs)
    out.push({ action: 's3:GetObject', resource: `${bucket}/${artifactKey(pipeline, a)}`, why: `CodeBuild downloads input artifact ${a}` });
  for (const a of io.outputs)
    out.push({ action: 's3:PutObject', resource: `${bucket}/${artifactKey(pipeline, a)}`, why: `CodeBuild uploads output artifact ${a}` });
  if (project.cache) {
    const cache = `arn:aws:s3:::${project.cache.bucket}/${project.cache.prefix ? `${project.cache.prefix}/` : ''}cache-archive`;
    out.push({ action: 's3:GetObject', resource: cache, why: 'CodeBuild restores the S3 cache' });
    out.push({ action: 's3:PutObject', resource: cache, why: 'CodeBuild saves the S3 cache' });
  }
  return out;
}
