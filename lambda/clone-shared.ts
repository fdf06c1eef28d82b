import { CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { checkClonePair, CloneRepository } from '../lib/clone/types';

export { buildFailureReason, buildLogsUrl, getBuild } from '../lib/clone/codebuild';

/**
 * What the clone functions know of the deployment, from their CLONE_DEPLOYMENT environment
 * variable (written by lib/infra/clone.ts): the repositories by name, and the clone project of
 * each trust zone that may be written (none for production). Only names travel to the build; the
 * build resolves buckets itself from what it was deployed with.
 */
export interface CloneDeployment {
  readonly repositories: ReadonlyArray<{
    readonly name: string;
    readonly zone: string;
    readonly production: boolean;
    readonly rpmBucket: string;
    readonly debBucket: string;
    readonly stateBucket: string;
    readonly statePrefix: string;
  }>;
  /** Clone project name per destination trust zone. */
  readonly projects: Readonly<Record<string, string>>;
}

export function readDeployment(env: NodeJS.ProcessEnv = process.env): CloneDeployment {
  const text = env.CLONE_DEPLOYMENT;
  if (!text) throw new Error('CLONE_DEPLOYMENT is not set: the function was deployed without its configuration');
  return JSON.parse(text) as CloneDeployment;
}

function asCloneRepositories(d: CloneDeployment): CloneRepository[] {
  return d.repositories.map((r) => ({
    name: r.name,
    rpmBucket: r.rpmBucket,
    debBucket: r.debBucket,
    state: { bucket: r.stateBucket, prefix: r.statePrefix },
    production: r.production,
  }));
}

/**
 * The guards of the clone engine (A = B, unknown A or B, B production), plus: a project must
 * exist for B's trust zone.
 * @returns the destination repository and the project that may write it.
 * @throws Error with the engine's message.
 */
export function resolveClone(d: CloneDeployment, from: string, to: string) {
  const { source, destination } = checkClonePair(asCloneRepositories(d), from, to);
  const zone = d.repositories.find((r) => r.name === to)!.zone;
  const projectName = d.projects[zone];
  if (!projectName) throw new Error(`clone to: no clone project can write repository '${to}' (trust zone ${zone})`);
  return { source, destination, projectName };
}

/** Whether the source has anything published: repomd.xml or InRelease (HEAD only). */
export async function sourceIsPublished(s3: S3Client, source: CloneRepository): Promise<boolean> {
  const exists = async (Bucket: string, Key: string) => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket, Key }));
      return true;
    } catch (e) {
      if (e instanceof S3ServiceException && (e.name === 'NotFound' || e.$metadata.httpStatusCode === 404)) return false;
      throw e;
    }
  };
  const [rpm, deb] = await Promise.all([
    exists(source.rpmBucket, 'repodata/repomd.xml'),
    exists(source.debBucket, 'dists/kismatic-xenial/InRelease'),
  ]);
  return rpm || deb;
}

/** Starts the clone build: only the two names are passed. @returns the build id. */
export async function startCloneBuild(codebuild: CodeBuildClient, projectName: string, from: string, to: string): Promise<string> {
  const out = await codebuild.send(
    new StartBuildCommand({
      projectName,
      environmentVariablesOverride: [
        { name: 'KET_CLONE_FROM', value: from, type: 'PLAINTEXT' },
        { name: 'KET_CLONE_TO', value: to, type: 'PLAINTEXT' },
      ],
    }),
  );
  if (!out.build?.id) throw new Error(`StartBuild of ${projectName} returned no build id`);
  return out.build.id;
}
