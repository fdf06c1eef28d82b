import type { Output } from '@aws-sdk/client-cloudformation';
import { UserError } from '../util/errors';
import { StackRegionError } from './errors';
import { RepositoryUrls } from './group-vars';

/**
 * Where the repository URLs come from:
 * - urls: given as they are (what a KET maintainer without AWS credentials has);
 * - stack: the outputs of the deployed repositories stack (REPOSITORY's RpmBaseUrl and DebBaseUrl);
 * - local: the embedded store of `ket-packages local` (ENDPOINT/BUCKET, path style).
 */
export type RepositorySource =
  | { readonly kind: 'urls'; readonly rpm: string; readonly deb: string }
  | { readonly kind: 'stack'; readonly repository: string; readonly stackName: string; readonly region?: string }
  | {
      readonly kind: 'local';
      readonly repository: string;
      readonly endpoint: string;
      /** Repository name → its buckets in the embedded store. */
      readonly buckets: Readonly<Record<string, { readonly rpm: string; readonly deb: string }>>;
    };

/** Resolves a repository source to the two base URLs (no trailing slash), checking they are http(s). */
export async function resolveRepositoryUrls(source: RepositorySource): Promise<RepositoryUrls & { readonly described: string }> {
  switch (source.kind) {
    case 'urls':
      return { rpm: checkUrl(source.rpm, 'rpm'), deb: checkUrl(source.deb, 'deb'), described: 'the given URLs' };
    case 'local': {
      const buckets = source.buckets[source.repository];
      if (!buckets)
        throw new UserError(
          `repository "${source.repository}": the embedded store has ${Object.keys(source.buckets).join(' and ')} repositories only`,
        );
      const base = source.endpoint.replace(/\/+$/, '');
      return { rpm: `${base}/${buckets.rpm}`, deb: `${base}/${buckets.deb}`, described: `the embedded store at ${base}` };
    }
    case 'stack': {
      const outputs = await describeStackOutputs(source.stackName, source.region);
      return { ...urlsFromStackOutputs(outputs, source.repository, source.stackName), described: `stack ${source.stackName}` };
    }
  }
}

function checkUrl(url: string, field: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`${field} repository URL: '${url}' is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UserError(`${field} repository URL: '${url}' is not http(s)`);
  return url.replace(/\/+$/, '');
}

/**
 * Picks REPOSITORY's RpmBaseUrl and DebBaseUrl from the stack outputs. Output keys are the
 * repository name in PascalCase followed by the output name (ProductionRpmBaseUrl, see
 * lib/infra/package-repository.ts); each output's description starts with "NAME: ".
 * @throws UserError naming the repositories the stack does have.
 */
export function urlsFromStackOutputs(outputs: readonly Output[], repository: string, stackName: string): RepositoryUrls {
  const pick = (suffix: string) =>
    outputs.find((o) => o.OutputKey?.endsWith(suffix) && o.Description?.startsWith(`${repository}: `))?.OutputValue;
  const rpm = pick('RpmBaseUrl');
  const deb = pick('DebBaseUrl');
  if (!rpm || !deb) {
    const names = [...new Set(outputs.filter((o) => o.OutputKey?.endsWith('RpmBaseUrl')).map((o) => o.Description?.split(':')[0]))];
    throw new UserError(
      `stack ${stackName} has no repository "${repository}" (RpmBaseUrl/DebBaseUrl outputs)${names.length ? `; it has: ${names.join(', ')}` : ''}`,
    );
  }
  return { rpm: checkUrl(rpm, 'rpm'), deb: checkUrl(deb, 'deb') };
}

async function describeStackOutputs(stackName: string, region: string | undefined): Promise<Output[]> {
  // Loaded here, not at the CLI's startup: only this source needs CloudFormation.
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient(region ? { region, maxAttempts: 3 } : { maxAttempts: 3 });
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = out.Stacks?.[0];
    if (!stack) throw new UserError(`stack ${stackName} not found`);
    return stack.Outputs ?? [];
  } catch (e) {
    if (e instanceof UserError) throw e;
    const err = e as Error;
    if (/does not exist/.test(err.message))
      throw new UserError(`stack ${stackName} does not exist in this account and region (${err.message})`);
    if (/region is missing/i.test(err.message)) throw new StackRegionError(stackName, err.message);
    if (err.name === 'CredentialsProviderError' || /credential/i.test(err.message))
      throw new UserError(
        `cannot read stack ${stackName}: no AWS credentials (${err.message}); without AWS access, give the repository URLs instead`,
      );
    throw new UserError(`cannot read stack ${stackName}: ${err.name}: ${err.message}`);
  } finally {
    client.destroy();
  }
}
