import { BatchGetBuildsCommand, Build, CodeBuildClient } from '@aws-sdk/client-codebuild';

/** Reading the clone's CodeBuild builds: shared by the Lambdas and the `clone` command that follows one. */

/** The console page of a build's log. */
export function buildLogsUrl(region: string, buildId: string): string {
  const project = buildId.split(':')[0];
  return `https://${region}.console.aws.amazon.com/codesuite/codebuild/projects/${encodeURIComponent(project)}/build/${encodeURIComponent(buildId)}/log?region=${region}`;
}

/**
 * One build as BatchGetBuilds describes it (status, phases with their contexts, logs).
 * @param abortSignal cancels the request (Ctrl-C while `ket-packages clone` follows a build).
 * @throws Error when CodeBuild does not know the build; the SDK's error when the call fails.
 */
export async function getBuild(codebuild: CodeBuildClient, buildId: string, abortSignal?: AbortSignal): Promise<Build> {
  const out = await codebuild.send(new BatchGetBuildsCommand({ ids: [buildId] }), { abortSignal });
  const build = out.builds?.[0];
  if (!build) throw new Error(`clone build ${buildId} not found${out.buildsNotFound?.length ? ' (CodeBuild: not found)' : ''}`);
  return build;
}

/** Why a build ended badly: its status, each phase that did not succeed and its message. */
export function buildFailureReason(build: Build): string {
  const failed = (build.phases ?? []).filter((p) => p.phaseStatus && p.phaseStatus !== 'SUCCEEDED');
  const detail = failed
    .map((p) => `${p.phaseType} ${p.phaseStatus}${p.contexts?.length ? `: ${p.contexts.map((c) => c.message).join('; ')}` : ''}`)
    .join(', ');
  return `clone build ${build.id} ${build.buildStatus}${detail ? ` (${detail})` : ''}`;
}
