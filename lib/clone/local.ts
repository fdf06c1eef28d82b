import { LOCAL_BUCKETS } from '../local/names';
import { REPOSITORY_NAME } from '../config/schema';
import { bucketOf, getObjectBytes, isS3Error, S3Target } from '../publish/s3';
import { putBytes } from '../publish/upload';
import { UserError } from '../util/errors';
import { CloneRepository } from './types';

/**
 * The repositories of the embedded store (`ket-packages local`): staging and production under the
 * old process's bucket names, and every repository a local clone created, recorded in the state
 * bucket (`ket-state/repositories.json`) the way `cdk deploy` records one in its stack.
 */
export const LOCAL_REGISTRY_KEY = 'repositories.json';

export function builtInLocalRepositories(): CloneRepository[] {
  return [
    {
      name: 'staging',
      rpmBucket: LOCAL_BUCKETS.staging.rpm,
      debBucket: LOCAL_BUCKETS.staging.deb,
      state: { bucket: LOCAL_BUCKETS.state, prefix: 'staging/' },
      production: false,
    },
    {
      name: 'production',
      rpmBucket: LOCAL_BUCKETS.production.rpm,
      debBucket: LOCAL_BUCKETS.production.deb,
      state: { bucket: LOCAL_BUCKETS.state, prefix: 'production/' },
      production: true,
    },
  ];
}

/** Buckets of a new local repository: `kismatic-packages-NAME-{rpm,deb}`, state under ket-state/NAME/. */
export function newLocalRepository(name: string): CloneRepository {
  if (!new RegExp(REPOSITORY_NAME).test(name))
    throw new UserError(`clone to: '${name}' is not a repository name (1-20 lowercase letters, digits and -, starting with a letter)`);
  return {
    name,
    rpmBucket: `kismatic-packages-${name}-rpm`,
    debBucket: `kismatic-packages-${name}-deb`,
    state: { bucket: LOCAL_BUCKETS.state, prefix: `${name}/` },
    production: false,
  };
}

/** Every repository the store holds: the built-in two and those recorded by earlier clones. */
export async function localRepositories(target: S3Target): Promise<CloneRepository[]> {
  const recorded = await getObjectBytes(bucketOf(target, LOCAL_BUCKETS.state, 'local state'), LOCAL_REGISTRY_KEY).catch((e: unknown) => {
    if (isS3Error(e, 'NoSuchBucket')) return undefined;
    throw e;
  });
  const names: string[] = recorded ? (JSON.parse(recorded.body.toString('utf8')) as { repositories: string[] }).repositories : [];
  return [...builtInLocalRepositories(), ...names.map(newLocalRepository)];
}

/**
 * Records a new local repository (its buckets are created by the caller, which owns the store).
 * @returns the repository.
 */
export async function recordLocalRepository(target: S3Target, name: string): Promise<CloneRepository> {
  const repo = newLocalRepository(name);
  const current = await localRepositories(target);
  if (current.some((r) => r.name === name)) return current.find((r) => r.name === name)!;
  const builtIn = new Set(builtInLocalRepositories().map((r) => r.name));
  const names = [...current.filter((r) => !builtIn.has(r.name)).map((r) => r.name), name].sort();
  await putBytes(
    bucketOf(target, LOCAL_BUCKETS.state, 'local state'),
    LOCAL_REGISTRY_KEY,
    JSON.stringify({ repositories: names }, null, 2),
    {
      cacheControl: 'no-store',
      contentType: 'application/json',
    },
  );
  return repo;
}
