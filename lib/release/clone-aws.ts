import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudFormationClient, DescribeStacksCommand, Stack } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { Build, CodeBuildClient } from '@aws-sdk/client-codebuild';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { buildFailureReason, getBuild } from '../clone/codebuild';
import { checkCloneNames, CLONE_REFUSED } from '../clone/types';
import { DEFAULT_DEPLOYMENT_CONFIG, DEFAULTS } from '../config/defaults';
import { INTERRUPTED_EXIT_CODE, throwIfAborted, UserError } from '../util/errors';
import { Logger } from '../util/log';

/**
 * `ket-packages clone --from A --to B` on AWS: find clone-start through the stack's outputs,
 * invoke it, follow the CodeBuild build it started until it ends. Its own module so that the
 * local clone and the CLI's startup do not load these four SDK clients.
 */

/** The stack output naming clone-start (lib/infra/clone.ts). */
export const CLONE_START_OUTPUT = 'CloneStartFunctionName';

/** The AWS clients the command uses; all in the stack's region. */
export interface CloneAwsClients {
  readonly cloudformation: CloudFormationClient;
  readonly lambda: LambdaClient;
  readonly codebuild: CodeBuildClient;
  readonly logs: CloudWatchLogsClient;
}

export interface AwsCloneOptions {
  readonly from: string;
  readonly to: string;
  /** Name of the stateless stack whose output CloneStartFunctionName names clone-start. */
  readonly stackName: string;
  /** Region of the stack. @default the SDK's default chain (AWS_REGION, the profile's region) */
  readonly region?: string;
  /**
   * Names of the production repositories, for the name guards checked before any AWS call
   * (clone-start checks them all again against what it was deployed with).
   * @default productionRepositoryNames(): from deploy.config.yaml in the working directory
   */
  readonly productionRepositories?: readonly string[];
  /** Progress: the build's phases and log lines (info), retried errors (warn). */
  readonly logger: Logger;
  /** Milliseconds between two looks at the build and its log. @default 5000 */
  readonly pollMs?: number;
  /**
   * Throttling, 5xx and network errors in a row (each after the SDK's own retries) that following
   * survives; the wait grows with each. @default 8
   */
  readonly maxTransientErrors?: number;
  /**
   * Ctrl-C: stops following (never the build) and throws UserError with INTERRUPTED_EXIT_CODE
   * saying the build keeps running and how to stop it.
   */
  readonly signal?: AbortSignal;
  /**
   * Makes the clients for a region (undefined: the SDK's default); tests pass mocked ones. The
   * clients are destroyed at the end. @default SDK v3 clients
   */
  readonly clients?: (region: string | undefined) => CloneAwsClients;
}

export interface AwsCloneResult {
  readonly buildId: string;
  /** The CodeBuild console page of the build's log. */
  readonly logsUrl: string;
  /** The region the stack and the build are in. */
  readonly region: string;
}

/**
 * Invokes clone-start with `{from, to}` and follows the clone build it starts: each phase once
 * as it starts (`phase BUILD`), each log line once in order (indented), until the build ends.
 * @returns the build's id, its log page and the region, once it SUCCEEDED.
 * @throws UserError when the region is unknown, the stack or its output is missing (naming the
 * region asked), clone-start refuses (its message verbatim) or fails (errorType and message),
 * the build ends FAILED/FAULT/STOPPED/TIMED_OUT (its failing phases with their contexts, the
 * clone's last `error:` line, the log URL), or following fails for good (the build keeps
 * running: its URL and the stop-build command); with INTERRUPTED_EXIT_CODE when `signal` aborts.
 */
export async function cloneOnAws(opts: AwsCloneOptions): Promise<AwsCloneResult> {
  throwIfAborted(opts.signal);
  // The refusals that need no AWS come first: A = B, B production (same guards as clone-start).
  checkCloneNames(opts.from, opts.to, opts.productionRepositories ?? (await productionRepositoryNames()));
  const clients = (opts.clients ?? sdkClients)(opts.region);
  try {
    const region = await resolveRegion(clients.cloudformation, opts.stackName);
    const functionName = await cloneStartFunction(clients.cloudformation, opts.stackName, region);
    throwIfAborted(opts.signal); // Ctrl-C while the stack was read: nothing started yet.
    const started = await invokeCloneStart(clients.lambda, functionName, region, opts.from, opts.to);
    const build: StartedBuild = { ...started, region };
    opts.logger.info(`clone-start (${functionName}, ${region}) started clone build ${build.buildId}`);
    opts.logger.info(`log: ${build.logsUrl}`);
    // The invocation is not cancelled: once it started a build, the user must learn its id.
    if (opts.signal?.aborted) throw detached(build);
    opts.logger.info('following the build (Ctrl-C stops following; the build keeps running)');
    const ended = await followBuild(clients, build, opts);
    if (ended.build.buildStatus !== 'SUCCEEDED') {
      const said = ended.lastError ? `\nthe clone said: ${ended.lastError}` : '';
      throw new UserError(`${buildFailureReason(ended.build)}${said}\nlog: ${build.logsUrl}`);
    }
    return build;
  } finally {
    for (const c of Object.values(clients) as Array<{ destroy(): void }>) c.destroy();
  }
}

function sdkClients(region: string | undefined): CloneAwsClients {
  const config = region ? { region } : {};
  return {
    cloudformation: new CloudFormationClient(config),
    lambda: new LambdaClient(config),
    codebuild: new CodeBuildClient(config),
    logs: new CloudWatchLogsClient(config),
  };
}

/**
 * The production repositories' names as the deployment declares them: the production pipeline's
 * repository of `file` (lib/config), or the default one ('production') when there is no such file
 * (the command run outside the project's checkout).
 * @throws UserError when the file exists but is not a valid deployment configuration.
 */
export async function productionRepositoryNames(file: string = DEFAULT_DEPLOYMENT_CONFIG): Promise<string[]> {
  if (!existsSync(file)) return [DEFAULTS.pipelines.production.repository];
  // Loaded here only: ajv and the schema are not needed by any other step of the command.
  const { loadDeploymentConfig } = await import('../config/load');
  return [loadDeploymentConfig(file).pipelines.production.repository];
}

/** No region given nor configured: the CLI adds the flag and variable that give one. */
export class CloneRegionError extends UserError {
  constructor(
    readonly stackName: string,
    detail: string,
  ) {
    super(`cannot find stack ${stackName}: no AWS region (${detail}); give the region the stacks were deployed in`);
  }
}

/**
 * An AWS call that failed, as the user can act on it: missing or expired credentials say how to
 * sign in; anything else is named with what was being done.
 */
export function awsCallError(e: unknown, doing: string): UserError {
  const err = e as Error;
  if (err.name === 'CredentialsProviderError' || /Could not load credentials/i.test(err.message))
    return new UserError(
      `${doing}: no AWS credentials (${err.message}); sign in first: \`aws sso login --profile NAME\` and AWS_PROFILE=NAME, ` +
        'or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or a profile in ~/.aws/credentials',
    );
  if (/^(ExpiredToken|ExpiredTokenException|TokenRefreshRequired|UnrecognizedClientException|InvalidClientTokenId)$/.test(err.name))
    return new UserError(
      `${doing}: ${err.name}: ${err.message}; the AWS credentials are expired or invalid: sign in again (\`aws sso login --profile NAME\`)`,
    );
  return new UserError(`${doing}: ${err.name}: ${err.message}`);
}

/** The region the clients will ask: given, or the SDK's default chain. */
async function resolveRegion(cfn: CloudFormationClient, stackName: string): Promise<string> {
  try {
    return await cfn.config.region();
  } catch (e) {
    throw new CloneRegionError(stackName, (e as Error).message);
  }
}

/** clone-start's name from the stack's output. */
async function cloneStartFunction(cfn: CloudFormationClient, stackName: string, region: string): Promise<string> {
  const missing = new UserError(
    `stack ${stackName} does not exist in region ${region}: deploy it with 'npx cdk deploy --all', or give the region it was ` +
      "deployed in (deploy.config.yaml's region, else that of the credentials cdk deploy used) or its name",
  );
  let stack: Stack | undefined;
  try {
    stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (e) {
    const err = e as Error;
    // CloudFormation answers an unknown stack with a ValidationError "Stack with id … does not exist".
    if (err.name === 'ValidationError' && /does not exist/.test(err.message)) throw missing;
    throw awsCallError(err, `cannot read stack ${stackName} in region ${region}`);
  }
  if (!stack) throw missing;
  const name = stack.Outputs?.find((o) => o.OutputKey === CLONE_START_OUTPUT)?.OutputValue;
  if (!name)
    throw new UserError(
      `stack ${stackName} (region ${region}, ${stack.StackStatus ?? 'status unknown'}) has no output ${CLONE_START_OUTPUT}: ` +
        "deploy the current version with 'npx cdk deploy --all'",
    );
  return name;
}

interface StartedBuild {
  readonly buildId: string;
  readonly logsUrl: string;
  readonly region: string;
}

/** What a Lambda invocation returns: clone-start's result, or the runtime's error object. */
interface CloneStartPayload {
  readonly buildId?: unknown;
  readonly logsUrl?: unknown;
  readonly errorType?: unknown;
  readonly errorMessage?: unknown;
}

async function invokeCloneStart(
  lambda: LambdaClient,
  functionName: string,
  region: string,
  from: string,
  to: string,
): Promise<{ buildId: string; logsUrl: string }> {
  const where = `clone-start (${functionName}, ${region})`;
  let out;
  try {
    out = await lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify({ from, to })) }));
  } catch (e) {
    const err = e as Error;
    if (err.name === 'ResourceNotFoundException')
      throw new UserError(`${where} does not exist, although the stack names it: redeploy with 'npx cdk deploy --all'`);
    throw awsCallError(err, `cannot invoke ${where}`);
  }
  const text = Buffer.from(out.Payload ?? new Uint8Array()).toString('utf8');
  let payload: CloneStartPayload;
  try {
    payload = (text ? JSON.parse(text) : {}) as CloneStartPayload;
  } catch {
    throw new UserError(`${where} returned a payload that is not JSON: ${text.slice(0, 200)}`);
  }
  if (out.FunctionError) {
    // Lambda reports a thrown error as {errorType: its name, errorMessage}; a refusal's message
    // is the guard's own, meant for the user as it is.
    if (payload.errorType === CLONE_REFUSED && typeof payload.errorMessage === 'string') throw new UserError(payload.errorMessage);
    const type = typeof payload.errorType === 'string' ? payload.errorType : out.FunctionError;
    const message = typeof payload.errorMessage === 'string' ? payload.errorMessage : text.slice(0, 200);
    throw new UserError(`${where} failed: ${type}: ${message}`);
  }
  if (typeof payload.buildId !== 'string' || !payload.buildId) throw new UserError(`${where} returned no buildId: ${text.slice(0, 200)}`);
  return { buildId: payload.buildId, logsUrl: typeof payload.logsUrl === 'string' ? payload.logsUrl : '' };
}

/** How many GetLogEvents pages one look reads at most (10,000 events or 1 MB each). */
const MAX_LOG_PAGES = 20;

interface FollowState {
  /** Phases already printed (a prefix of build.phases, which CodeBuild lists in order). */
  phases: number;
  /** Where the next GetLogEvents starts: the last nextForwardToken. */
  logToken?: string;
  /** The last `error: …` line the clone printed (the CLI's way of failing). */
  lastError?: string;
  /** Set when the log cannot be read (e.g. no logs:GetLogEvents): the status is still followed. */
  logUnreadable?: boolean;
}

async function followBuild(
  clients: CloneAwsClients,
  started: StartedBuild,
  opts: AwsCloneOptions,
): Promise<{ build: Build; lastError?: string }> {
  const pollMs = opts.pollMs ?? 5000;
  const maxErrors = opts.maxTransientErrors ?? 8;
  const state: FollowState = { phases: 0 };
  let errors = 0;
  for (;;) {
    if (opts.signal?.aborted) throw detached(started);
    let build: Build;
    try {
      build = await getBuild(clients.codebuild, started.buildId, opts.signal);
      printPhases(build, state, opts.logger);
      await printLogLines(clients.logs, build, state, opts.logger, opts.signal).catch((e: Error) => {
        if (retryable(e) || opts.signal?.aborted) throw e;
        state.logUnreadable = true;
        opts.logger.warn(`cannot read the build's log (${errorText(e)}); following its status only`);
      });
    } catch (e) {
      if (opts.signal?.aborted) throw detached(started);
      errors += 1;
      if (!retryable(e) || errors > maxErrors) throw lostTrack(started, e as Error, errors);
      opts.logger.warn(`following the build: ${errorText(e as Error)}; trying again (${errors} of ${maxErrors})`);
      await pause(pollMs * Math.min(2 ** errors, 32), opts.signal);
      continue;
    }
    errors = 0;
    if (build.buildStatus && build.buildStatus !== 'IN_PROGRESS') {
      // CloudWatch Logs receives the last lines a few seconds after the build ends: one more read.
      await pause(pollMs, opts.signal);
      if (!opts.signal?.aborted)
        await printLogLines(clients.logs, build, state, opts.logger, opts.signal).catch((e: Error) =>
          opts.logger.warn(`could not read the end of the build's log: ${errorText(e)}`),
        );
      return { build, lastError: state.lastError };
    }
    await pause(pollMs, opts.signal);
  }
}

/** Each phase once, as it appears (a phase that began and ended between two looks included). */
function printPhases(build: Build, state: FollowState, logger: Logger): void {
  const phases = build.phases ?? [];
  for (const p of phases.slice(state.phases)) if (p.phaseType !== 'COMPLETED') logger.info(`phase ${p.phaseType}`);
  state.phases = Math.max(state.phases, phases.length);
}

/**
 * Prints the log lines written since the last look. GetLogEvents with startFromHead pages
 * forward; at the end of what exists it returns the token it was given, so a page whose token did
 * not move ends this look (the next look starts there: nothing is printed twice). A log stream
 * that does not exist yet (the build's first seconds) has no lines.
 */
async function printLogLines(
  logs: CloudWatchLogsClient,
  build: Build,
  state: FollowState,
  logger: Logger,
  abortSignal: AbortSignal | undefined,
): Promise<void> {
  const logGroupName = build.logs?.groupName;
  const logStreamName = build.logs?.streamName;
  if (!logGroupName || !logStreamName || state.logUnreadable) return;
  for (let page = 0; page < MAX_LOG_PAGES; page++) {
    let out;
    try {
      out = await logs.send(new GetLogEventsCommand({ logGroupName, logStreamName, startFromHead: true, nextToken: state.logToken }), {
        abortSignal,
      });
    } catch (e) {
      if ((e as Error).name === 'ResourceNotFoundException') return;
      throw e;
    }
    for (const event of out.events ?? []) {
      for (const line of (event.message ?? '').replace(/\r?\n$/, '').split(/\r?\n/)) {
        logger.info(`  ${line}`);
        if (line.startsWith('error: ')) state.lastError = line;
      }
    }
    const next = out.nextForwardToken;
    if (!next || next === state.logToken) return;
    state.logToken = next;
  }
}

/** Throttling, a 5xx or a network failure: worth another look later. */
function retryable(e: unknown): boolean {
  const err = e as Parameters<typeof isTransientError>[0];
  return isThrottlingError(err) || isTransientError(err) || isServerError(err);
}

function errorText(e: Error): string {
  return `${e.name}: ${e.message}`;
}

function stopCommand(b: StartedBuild): string {
  return `aws codebuild stop-build --id ${b.buildId} --region ${b.region}`;
}

/**
 * Ctrl-C while following: the build is left running. Stopping a clone half-way is the riskier
 * choice: during a reset, B's replaced objects may no longer match its top files until a re-run,
 * and B's publish lock stays held until it expires.
 */
function detached(b: StartedBuild): UserError {
  return new UserError(
    `stopped following clone build ${b.buildId}; the build keeps running and completes the clone (log: ${b.logsUrl})\n` +
      `to stop it (the destination then needs a re-run of the clone): ${stopCommand(b)}`,
    INTERRUPTED_EXIT_CODE,
  );
}

function lostTrack(b: StartedBuild, e: Error, attempts: number): UserError {
  const tries = attempts > 1 ? ` (${attempts} tries)` : '';
  return new UserError(
    `lost track of clone build ${b.buildId}: ${errorText(e)}${tries}; the build keeps running: follow it at ${b.logsUrl}\n` +
      `to stop it: ${stopCommand(b)}`,
  );
}

/** Waits, or returns early when the signal aborts (the caller then stops following). */
async function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // Aborted: the caller checks the signal.
  }
}
