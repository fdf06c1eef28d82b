import { UserError } from '../util/errors';

/**
 * A package repository as the clone sees it: its two buckets, its private state place and
 * whether it is production (never a clone destination). On AWS these come from the deployment
 * configuration the clone project was deployed with; locally from the embedded store.
 */
export interface CloneRepository {
  /** Repository name, as in deploy.config.yaml (`production`, `staging`, …). */
  readonly name: string;
  readonly rpmBucket: string;
  readonly debBucket: string;
  /** Private state place, where the publish locks are: bucket, and a key prefix that is '' or ends with '/'. */
  readonly state: { readonly bucket: string; readonly prefix: string };
  readonly production: boolean;
  /** Public URL of the yum repository (kismatic.repo's baseurl). @default the bucket's endpoint URL */
  readonly rpmBaseUrl?: string;
  /** Public URL of the apt repository (the final check reads it). @default the bucket's endpoint URL */
  readonly debBaseUrl?: string;
}

/**
 * Finds a repository by name.
 * @throws UserError naming the field and every repository known, when there is no such repository.
 */
export function findRepository(repositories: readonly CloneRepository[], name: string, field: 'from' | 'to'): CloneRepository {
  const r = repositories.find((x) => x.name === name);
  if (r) return r;
  throw new UserError(
    `clone ${field}: no repository named '${name}' (known: ${
      repositories
        .map((x) => x.name)
        .sort()
        .join(', ') || 'none'
    })`,
  );
}

/**
 * The guards every entry point applies before anything is read or written: A and B differ, both
 * exist, and B is not production.
 * @returns the two repositories.
 * @throws UserError with a message naming the field.
 */
export function checkClonePair(
  repositories: readonly CloneRepository[],
  from: string,
  to: string,
): { source: CloneRepository; destination: CloneRepository } {
  checkCloneNames(
    from,
    to,
    repositories.filter((r) => r.production).map((r) => r.name),
  );
  const source = findRepository(repositories, from, 'from');
  const destination = findRepository(repositories, to, 'to');
  return { source, destination };
}

/**
 * The guards that need only the names: both given, A ≠ B, and B not one of `production` (the
 * production repositories' names). checkClonePair applies them first; `ket-packages clone` on
 * AWS applies them before any AWS call, so the obvious refusal never waits for credentials.
 * @throws UserError with a message naming the field (the same messages as checkClonePair).
 */
export function checkCloneNames(from: string, to: string, production: readonly string[]): void {
  if (!from) throw new UserError('clone from: the source repository name is empty');
  if (!to) throw new UserError('clone to: the destination repository name is empty');
  if (from === to) throw new UserError(`clone from and to are both '${from}': a repository cannot be cloned into itself`);
  if (production.includes(to))
    throw new UserError(
      `clone to: '${to}' is a production repository; production is never a clone destination (its packages are only ever added by publish)`,
    );
}

/**
 * `errorType` of clone-start's refusals (a guard, a malformed event, a source with nothing
 * published): Lambda reports a thrown error's `name` as the invocation's errorType, so
 * `ket-packages clone` tells a refusal, printed verbatim, from a failure of the function.
 */
export const CLONE_REFUSED = 'CloneRefused';

/** A clone that was refused before anything was started; the message says why. */
export class CloneRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = CLONE_REFUSED;
  }
}

export interface CloneProgress {
  readonly objectsDone: number;
  readonly objectsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  /** Objects found already identical in the destination (counted in the done figures). */
  readonly objectsSkipped: number;
  /** Their bytes (counted in bytesDone): no part of the copy rate. */
  readonly bytesSkipped: number;
  /** Milliseconds since the copy started. */
  readonly elapsedMs: number;
}
