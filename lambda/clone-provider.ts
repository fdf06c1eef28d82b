import { CodeBuildClient, StopBuildCommand } from '@aws-sdk/client-codebuild';
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { buildFailureReason, getBuild, readDeployment, resolveClone, sourceIsPublished, startCloneBuild } from './clone-shared';

/**
 * The custom resource behind a repository declared with `cloneFrom` (cr.Provider: onEvent starts,
 * isComplete polls; the model is cdklabs/cdk-docker-image-deployment).
 *
 * - Create clones once. A record in B's state place (`PREFIX/clone-record.json`: from, generation)
 *   says it was done, so re-creating the stateless stack does not clone again; only a change of
 *   `From` or `Generation` does (an update).
 * - A source with nothing published (a fresh account) succeeds at once without a build, says so
 *   in the resource's `Message`, and is recorded like a clone.
 * - The physical id is the build id: a rollback (Delete) of a resource whose build still runs
 *   stops it. Delete never removes data.
 * - isComplete: a failed, faulted, stopped or timed-out build fails the deployment with its
 *   reason; success writes the record.
 */
export interface CloneResourceProperties {
  readonly From: string;
  readonly To: string;
  /** Bumped by hand (cloneGeneration) to clone again with the same source. */
  readonly Generation: string;
}

export interface OnEventResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

export interface IsCompleteResponse {
  readonly IsComplete: boolean;
  readonly Data?: Record<string, string>;
}

const codebuild = new CodeBuildClient({});
const s3 = new S3Client({});

export const RECORD_NAME = 'clone-record.json';

interface CloneRecord {
  readonly from: string;
  readonly generation: string;
  readonly buildId?: string;
  readonly sourceEmpty?: boolean;
  readonly at: string;
}

/** Physical ids that are not builds: nothing to poll or stop. */
const NO_BUILD = /^clone:/;

function properties(p: Record<string, unknown>): CloneResourceProperties {
  for (const field of ['From', 'To', 'Generation'])
    if (typeof p[field] !== 'string' || !p[field]) throw new Error(`clone resource: property ${field} must be a non-empty string`);
  return { From: p.From as string, To: p.To as string, Generation: p.Generation as string };
}

function recordLocation(to: string) {
  const r = readDeployment().repositories.find((x) => x.name === to);
  if (!r) throw new Error(`clone resource: no repository named '${to}'`);
  return { Bucket: r.stateBucket, Key: `${r.statePrefix}${RECORD_NAME}` };
}

async function readRecord(to: string): Promise<CloneRecord | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand(recordLocation(to)));
    return JSON.parse(await out.Body!.transformToString()) as CloneRecord;
  } catch (e) {
    if (e instanceof S3ServiceException && (e.name === 'NoSuchKey' || e.$metadata.httpStatusCode === 404)) return undefined;
    throw e;
  }
}

async function writeRecord(to: string, record: CloneRecord): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      ...recordLocation(to),
      Body: JSON.stringify(record, null, 2),
      ContentType: 'application/json',
      CacheControl: 'no-store',
    }),
  );
}

async function cloneUnlessDone(p: CloneResourceProperties, previous: string | undefined): Promise<OnEventResponse> {
  const { source, projectName } = resolveClone(readDeployment(), p.From, p.To);
  const record = await readRecord(p.To);
  if (record && record.from === p.From && record.generation === p.Generation) {
    const message = `'${p.To}' was already cloned from '${p.From}' (generation ${p.Generation}, ${record.at}); not cloned again`;
    return { PhysicalResourceId: previous ?? `clone:${p.To}:${p.Generation}`, Data: { Message: message } };
  }
  if (!(await sourceIsPublished(s3, source))) {
    await writeRecord(p.To, { from: p.From, generation: p.Generation, sourceEmpty: true, at: new Date().toISOString() });
    const message = `'${p.From}' has nothing published yet: '${p.To}' was left as it is (nothing to clone)`;
    return { PhysicalResourceId: `clone:${p.To}:${p.Generation}:source-empty`, Data: { Message: message } };
  }
  const buildId = await startCloneBuild(codebuild, projectName, p.From, p.To);
  return { PhysicalResourceId: buildId, Data: { Message: `cloning '${p.From}' into '${p.To}' (build ${buildId})`, BuildId: buildId } };
}

export async function onEvent(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  switch (event.RequestType) {
    case 'Create':
      return cloneUnlessDone(properties(event.ResourceProperties), undefined);
    case 'Update': {
      const now = properties(event.ResourceProperties);
      const old = event.OldResourceProperties as Record<string, unknown>;
      if (old.From === now.From && old.Generation === now.Generation && old.To === now.To)
        return {
          PhysicalResourceId: event.PhysicalResourceId,
          Data: { Message: 'cloneFrom and cloneGeneration unchanged: not cloned again' },
        };
      return cloneUnlessDone(now, undefined);
    }
    case 'Delete': {
      // Never deletes data. A rollback while the clone still runs stops the build.
      if (!NO_BUILD.test(event.PhysicalResourceId)) {
        const build = await getBuild(codebuild, event.PhysicalResourceId).catch(() => undefined);
        if (build?.buildStatus === 'IN_PROGRESS') await codebuild.send(new StopBuildCommand({ id: event.PhysicalResourceId }));
      }
      return { PhysicalResourceId: event.PhysicalResourceId };
    }
  }
}

export async function isComplete(event: CloudFormationCustomResourceEvent & { PhysicalResourceId?: string }): Promise<IsCompleteResponse> {
  const id = event.PhysicalResourceId ?? '';
  if (event.RequestType === 'Delete' || NO_BUILD.test(id) || !id) return { IsComplete: true };
  const build = await getBuild(codebuild, id);
  switch (build.buildStatus) {
    case 'IN_PROGRESS':
      return { IsComplete: false };
    case 'SUCCEEDED': {
      const p = properties(event.ResourceProperties);
      await writeRecord(p.To, { from: p.From, generation: p.Generation, buildId: id, at: new Date().toISOString() });
      return { IsComplete: true, Data: { Message: `cloned '${p.From}' into '${p.To}' (build ${id})`, BuildId: id } };
    }
    default:
      throw new Error(buildFailureReason(build));
  }
}
