import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { S3Client } from '@aws-sdk/client-s3';
import { CloneRefusedError } from '../lib/clone/types';
import { buildLogsUrl, readDeployment, resolveClone, sourceIsPublished, startCloneBuild } from './clone-shared';

/**
 * clone-start: `{ "from": "production", "to": "staging" }` → starts the clone build of the
 * destination's trust zone and returns `{ buildId, logsUrl }`. The console test event
 * "production-to-staging" is the one-click path; `ket-packages clone --from … --to …` invokes it.
 * Refuses, before starting anything, what the engine refuses: A = B, unknown A or B, B
 * production, A with nothing published; a refusal is thrown as CloneRefusedError (errorType
 * `CloneRefused`), anything else (AWS errors, a missing configuration) as it came.
 */
export interface CloneStartEvent {
  readonly from: string;
  readonly to: string;
}

export interface CloneStartResult {
  readonly buildId: string;
  readonly logsUrl: string;
}

const codebuild = new CodeBuildClient({});
const s3 = new S3Client({});

/** @throws Error naming the field of a malformed event. */
export function parseCloneStartEvent(event: unknown): CloneStartEvent {
  if (!event || typeof event !== 'object' || Array.isArray(event))
    throw new Error('clone-start: the event must be a JSON object {"from": "<repository>", "to": "<repository>"}');
  const e = event as Record<string, unknown>;
  for (const field of ['from', 'to'] as const) {
    if (typeof e[field] !== 'string' || !e[field])
      throw new Error(`clone-start: field "${field}" must be a repository name, got ${JSON.stringify(e[field])}`);
  }
  const extra = Object.keys(e).filter((k) => k !== 'from' && k !== 'to');
  if (extra.length)
    throw new Error(`clone-start: unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}; the event takes "from" and "to"`);
  return { from: e.from as string, to: e.to as string };
}

export async function handler(event: unknown): Promise<CloneStartResult> {
  const deployment = readDeployment();
  const { from, to } = refusing(() => parseCloneStartEvent(event));
  const { source, projectName } = refusing(() => resolveClone(deployment, from, to));
  if (!(await sourceIsPublished(s3, source)))
    throw new CloneRefusedError(
      `clone from '${from}': nothing is published there yet (no repodata/repomd.xml, no InRelease); nothing was started`,
    );
  const buildId = await startCloneBuild(codebuild, projectName, from, to);
  const region = process.env.AWS_REGION ?? 'us-east-1';
  return { buildId, logsUrl: buildLogsUrl(region, buildId) };
}

/** Runs a guard; what it throws is a refusal, with the guard's message unchanged. */
function refusing<T>(guard: () => T): T {
  try {
    return guard();
  } catch (e) {
    throw new CloneRefusedError((e as Error).message);
  }
}
