import { CloudFrontClient, CreateInvalidationCommand, waitUntilInvalidationCompleted } from '@aws-sdk/client-cloudfront';
import { UserError } from '../util/errors';
import { Logger } from '../util/log';

/** Above this many paths one wildcard is cheaper (CloudFront bills per path; `/*` counts as one). */
const MAX_LISTED_PATHS = 100;

/**
 * Invalidates changed paths of a CloudFront distribution and waits until the edge caches have
 * dropped them: packages are cached as immutable, so a reset's replaced bytes must not be served
 * from a cache afterwards.
 * @param paths object keys (no leading slash)
 * @param maxWaitSeconds how long to wait for the invalidation @default 900
 * @throws UserError naming the distribution when CloudFront refuses or the wait times out.
 */
export async function invalidateDistribution(
  client: CloudFrontClient,
  distributionId: string,
  paths: readonly string[],
  logger: Logger,
  maxWaitSeconds = 900,
): Promise<void> {
  const items =
    paths.length > MAX_LISTED_PATHS ? ['/*'] : [...new Set(paths)].map((p) => `/${p.split('/').map(encodeURIComponent).join('/')}`);
  if (items.length === 0) return;
  try {
    const out = await client.send(
      new CreateInvalidationCommand({
        DistributionId: distributionId,
        InvalidationBatch: { CallerReference: `ket-clone-${Date.now()}`, Paths: { Quantity: items.length, Items: items } },
      }),
    );
    const id = out.Invalidation?.Id;
    logger.info(`CloudFront ${distributionId}: invalidating ${items.length === 1 ? items[0] : `${items.length} paths`} (${id}); waiting`);
    await waitUntilInvalidationCompleted({ client, maxWaitTime: maxWaitSeconds }, { DistributionId: distributionId, Id: id });
  } catch (e) {
    throw new UserError(`CloudFront distribution ${distributionId}: invalidation failed: ${(e as Error).message}`);
  }
}
