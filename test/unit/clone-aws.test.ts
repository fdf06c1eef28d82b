import { spawnSync } from 'node:child_process';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchLogsClient, GetLogEventsCommand, GetLogEventsCommandInput } from '@aws-sdk/client-cloudwatch-logs';
import { BatchGetBuildsCommand, Build, BuildPhase, CodeBuildClient, StartBuildCommand, StopBuildCommand } from '@aws-sdk/client-codebuild';
import { InvokeCommand, InvokeCommandInput, LambdaClient } from '@aws-sdk/client-lambda';
import { HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { CloneDeployment } from '../../lambda/clone-shared';
import { testCloneDeployment } from '../support/clone-deployment';
import { handler } from '../../lambda/clone-start';
import { AwsCloneOptions, CloneAwsClients, cloneOnAws } from '../../lib/release/clone-aws';
import { INTERRUPTED_EXIT_CODE, UserError } from '../../lib/util/errors';
import { ROOT, runCli, TSX } from '../support/cli';

// `ket-packages clone --from A --to B` on AWS, with the four services mocked (no AWS here). The
// Invoke mock runs the real clone-start handler (its S3 and CodeBuild calls mocked too) and
// answers as Lambda does: the result, or FunctionError 'Unhandled' with {errorType: the thrown
// error's name, errorMessage, trace}.

const cfn = mockClient(CloudFormationClient);
const lambda = mockClient(LambdaClient);
const codebuild = mockClient(CodeBuildClient);
const logs = mockClient(CloudWatchLogsClient);
const s3 = mockClient(S3Client);

const STACK = 'KetPackages-Pipelines';
const FUNCTION = 'KetPackages-Pipelines-CloneStartFunction1A2B3C-xyz';
const BUILD_ID = 'CloneStagingProject12AB-abc:0f1e2d3c-aaaa-bbbb-cccc-1234567890ab';
const GROUP = '/aws/codebuild/CloneStagingProject12AB-abc';
const STREAM = '0f1e2d3c-aaaa-bbbb-cccc-1234567890ab';

const deployment: CloneDeployment = testCloneDeployment('CloneStagingProject12AB-abc');

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)) as never;

/** An AWS service error as the SDK throws it (name, HTTP status). */
function awsError(name: string, status: number, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status } });
}

/** Lambda's synchronous Invoke of clone-start, running the real handler. */
async function invokeCloneStart(input: InvokeCommandInput) {
  const event = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8')) as unknown;
  try {
    return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: encode(await handler(event)) };
  } catch (e) {
    const err = e as Error;
    return {
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: encode({ errorType: err.name, errorMessage: err.message, trace: (err.stack ?? '').split('\n') }),
    };
  }
}

const phase = (phaseType: string, phaseStatus?: string, message?: string): BuildPhase =>
  ({ phaseType, phaseStatus, contexts: message ? [{ statusCode: phaseStatus, message }] : undefined }) as BuildPhase;
const RUN = ['SUBMITTED', 'QUEUED', 'PROVISIONING', 'DOWNLOAD_SOURCE', 'INSTALL', 'PRE_BUILD', 'BUILD', 'POST_BUILD', 'UPLOAD_ARTIFACTS'];
/** The phases of a build now in `current`: the ones before it succeeded. */
function phasesUpTo(current: string): BuildPhase[] {
  const i = RUN.indexOf(current);
  return [...RUN.slice(0, i).map((p) => phase(p, 'SUCCEEDED')), phase(current)];
}

/**
 * A build seen through BatchGetBuilds and GetLogEvents, one look at a time. Look i (the i-th
 * BatchGetBuilds) shows `looks[i]` (the last one repeated) and makes its first `lines` log lines
 * readable. The log behaves as the GetLogEvents documentation says: pages of at most 2 events
 * from the token on, nextForwardToken unchanged at the end; the stream does not exist while
 * `lines` is undefined.
 */
interface Look {
  readonly build: Build;
  readonly lines?: number;
  /** Lines readable once this look's log was read to its end (CloudWatch Logs lags the build). */
  readonly later?: number;
}
function scenario(looks: readonly Look[], logLines: readonly string[]) {
  let look = -1;
  let endReached = -1;
  const answers = {
    build: () => {
      look = Math.min(look + 1, looks.length - 1);
      return { builds: [{ id: BUILD_ID, logs: { groupName: GROUP, streamName: STREAM }, ...looks[look].build }] };
    },
    log: (input: GetLogEventsCommandInput) => {
      expect(input).toMatchObject({ logGroupName: GROUP, logStreamName: STREAM, startFromHead: true });
      const now = looks[look];
      const available = endReached === look ? (now.later ?? now.lines) : now.lines;
      if (available === undefined) throw awsError('ResourceNotFoundException', 400, 'The specified log stream does not exist.');
      const from = input.nextToken ? Number(input.nextToken.slice(2)) : 0;
      const to = Math.min(from + 2, available);
      if (to === from) endReached = look;
      return {
        events: logLines.slice(from, to).map((message, i) => ({ timestamp: from + i, message: `${message}\n`, ingestionTime: from + i })),
        nextForwardToken: `f/${to}`,
        nextBackwardToken: `b/${from}`,
      };
    },
  };
  codebuild.on(BatchGetBuildsCommand).callsFake(answers.build);
  logs.on(GetLogEventsCommand).callsFake(answers.log);
  return answers;
}

const inProgress = (current: string): Build => ({ buildStatus: 'IN_PROGRESS', currentPhase: current, phases: phasesUpTo(current) });

/** What the command printed: info lines as they are, warnings prefixed. */
function recorder() {
  const lines: string[] = [];
  return { lines, logger: { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(`warning: ${m}`) } };
}

let regionsAsked: Array<string | undefined>;
function options(extra: Partial<AwsCloneOptions> = {}): AwsCloneOptions & { lines: string[] } {
  const { lines, logger } = recorder();
  return {
    from: 'production',
    to: 'staging',
    stackName: STACK,
    region: 'eu-west-1',
    logger,
    pollMs: 1,
    lines,
    clients: (region): CloneAwsClients => {
      regionsAsked.push(region);
      const config = { region, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'example' } };
      return {
        cloudformation: new CloudFormationClient(config),
        lambda: new LambdaClient(config),
        codebuild: new CodeBuildClient(config),
        logs: new CloudWatchLogsClient(config),
      };
    },
    ...extra,
  };
}

const stackWith = (outputs: Array<{ OutputKey: string; OutputValue: string }>) => ({
  Stacks: [{ StackName: STACK, StackStatus: 'UPDATE_COMPLETE' as const, CreationTime: new Date(0), Outputs: outputs }],
});

beforeEach(() => {
  for (const m of [cfn, lambda, codebuild, logs, s3]) m.reset();
  regionsAsked = [];
  process.env.CLONE_DEPLOYMENT = JSON.stringify(deployment);
  process.env.AWS_REGION = 'eu-west-1';
  cfn.on(DescribeStacksCommand).resolves(stackWith([{ OutputKey: 'CloneStartFunctionName', OutputValue: FUNCTION }]));
  lambda.on(InvokeCommand).callsFake(invokeCloneStart);
  s3.on(HeadObjectCommand).resolves({});
  codebuild.on(StartBuildCommand).resolves({ build: { id: BUILD_ID } });
});

const LOG = [
  '[Container] 2026/05/01 10:00:01 Entering phase INSTALL',
  '[Container] 2026/05/01 10:00:09 Entering phase BUILD',
  '[Container] 2026/05/01 10:00:09 Running command node ket-packages.js clone --deployment clone-deployment.json',
  'clone: 1200/2400 objects, 1.1 GiB/2.3 GiB, 45.0 MiB/s',
  'clone: 2400/2400 objects, 2.3 GiB/2.3 GiB, 44.1 MiB/s',
  "cloned 'production' into 'staging'",
];

describe('finding and invoking clone-start', () => {
  test('the stack does not exist in the region asked: says which region, nothing invoked', async () => {
    cfn.on(DescribeStacksCommand).rejects(awsError('ValidationError', 400, `Stack with id ${STACK} does not exist`));
    const opts = options({ region: 'ap-southeast-2' });
    await expect(cloneOnAws(opts)).rejects.toThrow(
      new UserError(
        `stack ${STACK} does not exist in region ap-southeast-2: deploy it with 'npx cdk deploy --all', or give the region it was deployed in ` +
          "(deploy.config.yaml's region, else that of the credentials cdk deploy used) or its name",
      ),
    );
    expect(regionsAsked).toEqual(['ap-southeast-2']);
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  test('no region given or configured: says so', async () => {
    const opts = options({ region: undefined });
    const make = opts.clients!;
    // A client whose region provider fails as the SDK's does when no region is configured.
    const clients = (r: string | undefined) => {
      const c = make(r);
      Object.assign(c.cloudformation.config, { region: () => Promise.reject(new Error('Region is missing')) });
      return c;
    };
    await expect(cloneOnAws({ ...opts, clients })).rejects.toThrow(
      /cannot find stack KetPackages-Pipelines: no AWS region \(Region is missing\)/,
    );
    expect(cfn.calls()).toHaveLength(0);
  });

  test('the stack lacks the output: says so with its status, nothing invoked', async () => {
    cfn.on(DescribeStacksCommand).resolves(stackWith([{ OutputKey: 'Other', OutputValue: 'x' }]));
    await expect(cloneOnAws(options())).rejects.toThrow(
      `stack ${STACK} (region eu-west-1, UPDATE_COMPLETE) has no output CloneStartFunctionName: deploy the current version`,
    );
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  test('other CloudFormation errors are named with the region', async () => {
    cfn
      .on(DescribeStacksCommand)
      .rejects(awsError('AccessDenied', 403, 'User is not authorized to perform: cloudformation:DescribeStacks'));
    await expect(cloneOnAws(options())).rejects.toThrow(
      `cannot read stack ${STACK} in region eu-west-1: AccessDenied: User is not authorized to perform: cloudformation:DescribeStacks`,
    );
  });

  test('invokes clone-start with only the two names; it starts the staging project', async () => {
    scenario([{ build: { buildStatus: 'SUCCEEDED', phases: [] }, lines: 0 }], []);
    await expect(cloneOnAws(options())).resolves.toEqual({
      buildId: BUILD_ID,
      logsUrl: expect.stringMatching(
        /^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/codesuite\/codebuild\/projects\/CloneStagingProject12AB-abc\//,
      ),
      region: 'eu-west-1',
    });
    const invoke = lambda.commandCalls(InvokeCommand)[0].args[0].input;
    expect(invoke.FunctionName).toBe(FUNCTION);
    expect(JSON.parse(Buffer.from(invoke.Payload as Uint8Array).toString('utf8'))).toEqual({ from: 'production', to: 'staging' });
    expect(codebuild.commandCalls(StartBuildCommand)[0].args[0].input.projectName).toBe('CloneStagingProject12AB-abc');
  });

  test.each([
    [
      'staging',
      'production',
      "clone to: 'production' is a production repository; production is never a clone destination (its packages are only ever added by publish)",
    ],
    ['nope', 'staging', "clone from: no repository named 'nope' (known: production, staging)"],
    ['staging', 'staging', "clone from and to are both 'staging': a repository cannot be cloned into itself"],
  ])('clone-start refuses %s → %s: its message reaches the user verbatim, no build', async (from, to, message) => {
    const opts = options({ from, to });
    await expect(cloneOnAws(opts)).rejects.toThrow(new UserError(message));
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
    expect(codebuild.commandCalls(BatchGetBuildsCommand)).toHaveLength(0);
  });

  test('clone-start refuses a source with nothing published: verbatim', async () => {
    s3.on(HeadObjectCommand).rejects(
      new S3ServiceException({ name: 'NotFound', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'NotFound' }),
    );
    await expect(cloneOnAws(options())).rejects.toThrow(
      new UserError("clone from 'production': nothing is published there yet (no repodata/repomd.xml, no InRelease); nothing was started"),
    );
  });

  test('a failure of the function itself (not a refusal) gives its errorType and message', async () => {
    codebuild.on(StartBuildCommand).rejects(awsError('AccessDeniedException', 400, 'not authorized to perform: codebuild:StartBuild'));
    await expect(cloneOnAws(options())).rejects.toThrow(
      `clone-start (${FUNCTION}, eu-west-1) failed: AccessDeniedException: not authorized to perform: codebuild:StartBuild`,
    );
    lambda.on(InvokeCommand).resolves({
      FunctionError: 'Unhandled',
      Payload: encode({ errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 30.03 seconds' }),
    });
    await expect(cloneOnAws(options())).rejects.toThrow(
      `clone-start (${FUNCTION}, eu-west-1) failed: Sandbox.Timedout: Task timed out after 30.03 seconds`,
    );
  });

  test('Invoke itself fails: a missing function, a denied invocation, a payload without buildId', async () => {
    lambda.on(InvokeCommand).rejects(awsError('ResourceNotFoundException', 404, `Function not found: ${FUNCTION}`));
    await expect(cloneOnAws(options())).rejects.toThrow(`clone-start (${FUNCTION}, eu-west-1) does not exist, although the stack names it`);
    lambda.on(InvokeCommand).rejects(awsError('AccessDeniedException', 403, 'not authorized to perform: lambda:InvokeFunction'));
    await expect(cloneOnAws(options())).rejects.toThrow(
      `cannot invoke clone-start (${FUNCTION}, eu-west-1): AccessDeniedException: not authorized to perform: lambda:InvokeFunction`,
    );
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: encode({ ok: true }) });
    await expect(cloneOnAws(options())).rejects.toThrow(`clone-start (${FUNCTION}, eu-west-1) returned no buildId: {"ok":true}`);
  });
});

describe('following the build', () => {
  test('each phase and each log line printed once, in order; no stream yet at first; SUCCEEDED', async () => {
    scenario(
      [
        { build: inProgress('SUBMITTED') },
        { build: inProgress('PROVISIONING') }, // QUEUED came and went between two looks
        { build: inProgress('INSTALL'), lines: 1 },
        { build: inProgress('BUILD'), lines: 1 }, // nothing new in the log
        { build: inProgress('BUILD'), lines: 5 }, // more than one page
        {
          build: {
            buildStatus: 'SUCCEEDED',
            phases: [...RUN.map((p) => phase(p, 'SUCCEEDED')), phase('FINALIZING', 'SUCCEEDED'), phase('COMPLETED')],
          },
          lines: 6,
        },
      ],
      LOG,
    );
    const opts = options();
    await expect(cloneOnAws(opts)).resolves.toMatchObject({ buildId: BUILD_ID });
    expect(opts.lines).toEqual([
      `clone-start (${FUNCTION}, eu-west-1) started clone build ${BUILD_ID}`,
      expect.stringMatching(/^log: https:\/\/eu-west-1\.console\.aws\.amazon\.com\/.*\/log\?region=eu-west-1$/),
      'following the build (Ctrl-C stops following; the build keeps running)',
      'phase SUBMITTED',
      'phase QUEUED',
      'phase PROVISIONING',
      'phase DOWNLOAD_SOURCE',
      'phase INSTALL',
      `  ${LOG[0]}`,
      'phase PRE_BUILD',
      'phase BUILD',
      ...LOG.slice(1, 5).map((l) => `  ${l}`),
      'phase POST_BUILD',
      'phase UPLOAD_ARTIFACTS',
      'phase FINALIZING',
      `  ${LOG[5]}`,
    ]);
    // Each look reads pages until the token stops moving, and no further: 1 + 1 (no stream yet),
    // 2 (a line, then the end), 1 (nothing new), 3 (two pages, the end), 2 + 1 (the end; the tail).
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(11);
  });

  test.each([
    [
      'FAILED',
      'BUILD',
      'Error while executing command: node ket-packages.js clone --deployment clone-deployment.json. Reason: exit status 1',
    ],
    ['FAULT', 'PROVISIONING', 'CLIENT_ERROR: Failed to pull image'],
    ['STOPPED', 'BUILD', 'Build was stopped by a user'],
    ['TIMED_OUT', 'BUILD', 'Build has timed out.'],
  ])(
    "a %s build: exit with its failing phase and reason, the clone's last error line and the log URL",
    async (status, failedPhase, reason) => {
      const failedAt = RUN.indexOf(failedPhase);
      const lines = [
        'clone: 100/2400 objects',
        'clone: 200/2400 objects',
        "error: clone to: cannot take the publish lock of 'staging' (held by publish-4711)",
      ];
      scenario(
        [
          { build: inProgress('BUILD'), lines: 1 },
          {
            build: {
              buildStatus: status as never,
              phases: [...RUN.slice(0, failedAt).map((p) => phase(p, 'SUCCEEDED')), phase(failedPhase, status, reason), phase('COMPLETED')],
            },
            lines: 2,
            later: 3, // the clone's error line reaches CloudWatch Logs after the status changed
          },
        ],
        lines,
      );
      const opts = options();
      const failure = cloneOnAws(opts);
      await expect(failure).rejects.toBeInstanceOf(UserError);
      const error = (await failure.catch((e: UserError) => e)) as UserError;
      expect(error.exitCode).toBe(1);
      expect(error.message.split('\n')).toEqual([
        `clone build ${BUILD_ID} ${status} (${failedPhase} ${status}: ${reason})`,
        `the clone said: ${lines[2]}`,
        expect.stringMatching(
          /^log: https:\/\/eu-west-1\.console\.aws\.amazon\.com\/codesuite\/codebuild\/projects\/CloneStagingProject12AB-abc\/build\//,
        ),
      ]);
      // The log's last lines, written after the status changed, were read once more before exiting.
      expect(opts.lines.filter((l) => l.startsWith('  '))).toEqual(lines.map((l) => `  ${l}`));
    },
  );

  test('throttling and a 503 while following are retried without printing anything twice', async () => {
    const answers = scenario(
      [
        { build: inProgress('BUILD'), lines: 2 },
        { build: inProgress('BUILD'), lines: 4 },
        { build: { buildStatus: 'SUCCEEDED', phases: [...RUN.map((p) => phase(p, 'SUCCEEDED'))] }, lines: 6 },
      ],
      LOG,
    );
    codebuild
      .on(BatchGetBuildsCommand)
      .rejectsOnce(awsError('ThrottlingException', 400, 'Rate exceeded'))
      .callsFake(answers.build);
    logs
      .on(GetLogEventsCommand)
      .rejectsOnce(awsError('ServiceUnavailableException', 503, 'Service Unavailable'))
      .callsFake(answers.log);
    const opts = options();
    await expect(cloneOnAws(opts)).resolves.toMatchObject({ buildId: BUILD_ID });
    expect(opts.lines.filter((l) => l.startsWith('warning: '))).toEqual([
      'warning: following the build: ThrottlingException: Rate exceeded; trying again (1 of 8)',
      // The same stretch of failed looks: the 503 came on the look right after the throttled one.
      'warning: following the build: ServiceUnavailableException: Service Unavailable; trying again (2 of 8)',
    ]);
    expect(opts.lines.filter((l) => l.startsWith('  '))).toEqual(LOG.map((l) => `  ${l}`));
    expect(opts.lines.filter((l) => l === 'phase BUILD')).toHaveLength(1);
  });

  test('errors that persist, or are not transient, end following: the build keeps running, and how to stop it', async () => {
    scenario([{ build: inProgress('BUILD'), lines: 0 }], []);
    codebuild.on(BatchGetBuildsCommand).rejects(awsError('ThrottlingException', 400, 'Rate exceeded'));
    const opts = options({ maxTransientErrors: 3 });
    await expect(cloneOnAws(opts)).rejects.toThrow(
      new UserError(
        `lost track of clone build ${BUILD_ID}: ThrottlingException: Rate exceeded (4 tries); the build keeps running: follow it at ` +
          `https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/projects/CloneStagingProject12AB-abc/build/${encodeURIComponent(BUILD_ID)}/log?region=eu-west-1\n` +
          `to stop it: aws codebuild stop-build --id ${BUILD_ID} --region eu-west-1`,
      ),
    );
    expect(opts.lines.filter((l) => l.startsWith('warning: '))).toHaveLength(3);
    codebuild
      .on(BatchGetBuildsCommand)
      .rejects(awsError('AccessDeniedException', 400, 'not authorized to perform: codebuild:BatchGetBuilds'));
    await expect(cloneOnAws(options())).rejects.toThrow(
      `lost track of clone build ${BUILD_ID}: AccessDeniedException: not authorized to perform: codebuild:BatchGetBuilds; the build keeps running`,
    );
    expect(codebuild.commandCalls(StopBuildCommand)).toHaveLength(0);
  });

  test('a log that cannot be read (denied) is said once; the status is still followed to the end', async () => {
    scenario([{ build: inProgress('BUILD') }, { build: { buildStatus: 'SUCCEEDED', phases: [] } }], []);
    logs.on(GetLogEventsCommand).rejects(awsError('AccessDeniedException', 400, 'not authorized to perform: logs:GetLogEvents'));
    const opts = options();
    await expect(cloneOnAws(opts)).resolves.toMatchObject({ buildId: BUILD_ID });
    expect(opts.lines.filter((l) => l.startsWith('warning: '))).toEqual([
      "warning: cannot read the build's log (AccessDeniedException: not authorized to perform: logs:GetLogEvents); following its status only",
    ]);
    expect(logs.commandCalls(GetLogEventsCommand)).toHaveLength(1);
  });
});

describe('Ctrl-C', () => {
  test('while following: stops following, never the build; says it keeps running and how to stop it (exit 130)', async () => {
    const controller = new AbortController();
    let looks = 0;
    const answers = scenario([{ build: inProgress('BUILD'), lines: 2 }], LOG);
    codebuild.on(BatchGetBuildsCommand).callsFake(() => {
      looks += 1;
      if (looks === 3) controller.abort('SIGINT');
      return answers.build();
    });
    const opts = options({ signal: controller.signal });
    const error = (await cloneOnAws(opts).catch((e: UserError) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.exitCode).toBe(INTERRUPTED_EXIT_CODE);
    expect(error.message).toMatch(
      new RegExp(`^stopped following clone build ${escape(BUILD_ID)}; the build keeps running and completes the clone`),
    );
    expect(error.message).toContain(`aws codebuild stop-build --id ${BUILD_ID} --region eu-west-1`);
    expect(codebuild.commandCalls(StopBuildCommand)).toHaveLength(0);
    expect(looks).toBe(3);
  });

  test('during the invocation: the invocation completes, so the build it started is named', async () => {
    const controller = new AbortController();
    lambda.on(InvokeCommand).callsFake(async (input: InvokeCommandInput) => {
      controller.abort('SIGTERM');
      return invokeCloneStart(input);
    });
    const error = (await cloneOnAws(options({ signal: controller.signal })).catch((e: UserError) => e)) as UserError;
    expect(error.exitCode).toBe(INTERRUPTED_EXIT_CODE);
    expect(error.message).toContain(`stop-build --id ${BUILD_ID}`);
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(1);
    expect(codebuild.commandCalls(BatchGetBuildsCommand)).toHaveLength(0);
  });

  test('while the stack is read: clone-start is not invoked', async () => {
    const controller = new AbortController();
    cfn.on(DescribeStacksCommand).callsFake(() => {
      controller.abort('SIGINT');
      return stackWith([{ OutputKey: 'CloneStartFunctionName', OutputValue: FUNCTION }]);
    });
    await expect(cloneOnAws(options({ signal: controller.signal }))).rejects.toMatchObject({
      message: 'interrupted',
      exitCode: INTERRUPTED_EXIT_CODE,
    });
    expect(lambda.calls()).toHaveLength(0);
  });

  test('before anything: nothing is asked of AWS', async () => {
    const controller = new AbortController();
    controller.abort('SIGINT');
    await expect(cloneOnAws(options({ signal: controller.signal }))).rejects.toMatchObject({ exitCode: INTERRUPTED_EXIT_CODE });
    expect(cfn.calls()).toHaveLength(0);
    expect(regionsAsked).toEqual([]);
  });
});

describe('guidance before and around AWS', () => {
  test("no credentials: the SDK's CredentialsProviderError gains how to sign in", async () => {
    const { CredentialsProviderError } = await import('@smithy/core/config');
    cfn.on(DescribeStacksCommand).rejects(new CredentialsProviderError('Could not load credentials from any providers'));
    const error = (await cloneOnAws(options()).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^cannot read stack KetPackages-Pipelines in region eu-west-1: no AWS credentials \(Could not load credentials from any providers\); sign in first: `aws sso login --profile NAME` and AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID/,
    );
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  test('expired credentials at the invocation: says to sign in again', async () => {
    lambda.on(InvokeCommand).rejects(awsError('ExpiredTokenException', 403, 'The security token included in the request is expired'));
    await expect(cloneOnAws(options())).rejects.toThrow(
      /cannot invoke clone-start .*ExpiredTokenException.*sign in again \(`aws sso login/,
    );
  });

  test.each([
    ['staging', 'staging', "clone from and to are both 'staging': a repository cannot be cloned into itself"],
    [
      'staging',
      'production',
      "clone to: 'production' is a production repository; production is never a clone destination (its packages are only ever added by publish)",
    ],
  ])('%s → %s is refused before any AWS call (no region, no credentials asked)', async (from, to, message) => {
    await expect(cloneOnAws(options({ from, to }))).rejects.toThrow(new UserError(message));
    expect(regionsAsked).toEqual([]);
    expect(cfn.calls()).toHaveLength(0);
    expect(lambda.calls()).toHaveLength(0);
  });

  test("the production repositories are deploy.config.yaml's, else the default 'production'", async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { productionRepositoryNames } = await import('../../lib/release/clone-aws');
    const dir = await mkdtemp(path.join(tmpdir(), 'ket-clone-aws-'));
    try {
      expect(await productionRepositoryNames(path.join(dir, 'absent.yaml'))).toEqual(['production']);
      expect(await productionRepositoryNames(path.join(ROOT, 'deploy.config.yaml'))).toEqual(['production']);
      await expect(cloneOnAws(options({ from: 'staging', to: 'prod-eu', productionRepositories: ['prod-eu'] }))).rejects.toThrow(
        /clone to: 'prod-eu' is a production repository/,
      );
      await writeFile(path.join(dir, 'bad.yaml'), 'repositories: 3\n');
      await expect(productionRepositoryNames(path.join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(cfn.calls()).toHaveLength(0);
  });

  /** The CLI with no AWS configuration at all: no region, no credentials, no profile files. */
  const bareAws = {
    cleanEnv: true,
    env: {
      AWS_CONFIG_FILE: '/nonexistent/aws-config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  };

  test('ket-packages clone with no region: names --region and AWS_REGION', async () => {
    const r = await runCli(['clone', '--from', 'production', '--to', 'staging'], bareAws);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot find stack KetPackages-Pipelines: no AWS region .*: give --region REGION or set AWS_REGION/);
  }, 60_000);

  test('ket-packages clone --to production (or A = B) without --local: the refusal comes first, not AWS', async () => {
    for (const [from, to, message] of [
      ['staging', 'production', /production is never a clone destination/],
      ['staging', 'staging', /a repository cannot be cloned into itself/],
    ] as const) {
      const r = await runCli(['clone', '--from', from, '--to', to], bareAws);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/region|credentials/i);
    }
  }, 60_000);
});

test('the CLI loads the AWS follow path only for an AWS clone: not at startup (every command registered), not for --local', () => {
  const out = spawnSync(
    TSX,
    [
      '-e',
      `require(${JSON.stringify(`${ROOT}/lib/cli/program.ts`)}).buildProgram(); require(${JSON.stringify(`${ROOT}/lib/release/clone.ts`)});` +
        'console.log(JSON.stringify(Object.keys(require.cache)))',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  expect(out.stderr).toBe('');
  const loaded = JSON.parse(out.stdout) as string[];
  expect(loaded.some((f) => f.includes('/lib/release/clone.ts'))).toBe(true);
  for (const client of ['client-cloudformation', 'client-lambda', 'client-codebuild', 'client-cloudwatch-logs', 'release/clone-aws'])
    expect(loaded.filter((f) => f.includes(client))).toEqual([]);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
