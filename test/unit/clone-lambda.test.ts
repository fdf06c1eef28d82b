import { BatchGetBuildsCommand, CodeBuildClient, StartBuildCommand, StopBuildCommand } from '@aws-sdk/client-codebuild';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { CloneDeployment } from '../../lambda/clone-shared';
import { handler, parseCloneStartEvent } from '../../lambda/clone-start';
import { isComplete, onEvent } from '../../lambda/clone-provider';

const codebuild = mockClient(CodeBuildClient);
const s3 = mockClient(S3Client);

const deployment: CloneDeployment = {
  repositories: [
    {
      name: 'production',
      zone: 'production',
      production: true,
      rpmBucket: 'prod-rpm',
      debBucket: 'prod-deb',
      stateBucket: 'prod-state',
      statePrefix: 'production/',
    },
    {
      name: 'staging',
      zone: 'staging',
      production: false,
      rpmBucket: 'stag-rpm',
      debBucket: 'stag-deb',
      stateBucket: 'stag-state',
      statePrefix: 'staging/',
    },
  ],
  projects: { staging: 'KetClone-staging' },
};

function notFound(name = 'NotFound'): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 404 }, message: name });
}

/** A GetObject body as the SDK hands it over (only what the handler reads). */
function body(text: string) {
  return { transformToString: async () => text };
}

beforeEach(() => {
  codebuild.reset();
  s3.reset();
  process.env.CLONE_DEPLOYMENT = JSON.stringify(deployment);
  process.env.AWS_REGION = 'eu-west-1';
  s3.on(HeadObjectCommand).resolves({});
  codebuild.on(StartBuildCommand).resolves({ build: { id: 'KetClone-staging:1111-2222' } });
});

describe('clone-start', () => {
  test('starts the staging zone project with only the two names and returns the build id and its log URL', async () => {
    await expect(handler({ from: 'production', to: 'staging' })).resolves.toEqual({
      buildId: 'KetClone-staging:1111-2222',
      logsUrl: expect.stringMatching(
        /^https:\/\/eu-west-1\.console\.aws\.amazon\.com\/codesuite\/codebuild\/projects\/KetClone-staging\/build\/KetClone-staging%3A1111-2222\/log/,
      ),
    });
    const calls = codebuild.commandCalls(StartBuildCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input).toEqual({
      projectName: 'KetClone-staging',
      environmentVariablesOverride: [
        { name: 'KET_CLONE_FROM', value: 'production', type: 'PLAINTEXT' },
        { name: 'KET_CLONE_TO', value: 'staging', type: 'PLAINTEXT' },
      ],
    });
  });

  test.each([
    [{ from: 'staging', to: 'staging' }, /a repository cannot be cloned into itself/],
    [{ from: 'nope', to: 'staging' }, /clone from: no repository named 'nope' \(known: production, staging\)/],
    [{ from: 'production', to: 'nope' }, /clone to: no repository named 'nope'/],
    [{ from: 'staging', to: 'production' }, /production is never a clone destination/],
  ])('guard %j: refused, nothing started', async (event, message) => {
    await expect(handler(event)).rejects.toThrow(message);
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
  });

  test('a source with nothing published is refused before starting anything', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    await expect(handler({ from: 'production', to: 'staging' })).rejects.toThrow(/clone from 'production': nothing is published there yet/);
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
  });

  test.each([
    [null, /must be a JSON object/],
    ['production', /must be a JSON object/],
    [[1], /must be a JSON object/],
    [{ to: 'staging' }, /field "from" must be a repository name, got undefined/],
    [{ from: 'production', to: 7 }, /field "to" must be a repository name, got 7/],
    [{ from: 'production', to: 'staging', force: true }, /unknown field\(s\) "force"/],
  ])('malformed event %j', (event, message) => {
    expect(() => parseCloneStartEvent(event)).toThrow(message);
  });
});

describe('clone custom resource', () => {
  const props = { ServiceToken: 'x', From: 'production', To: 'staging', Generation: '1' };
  const base = {
    ServiceToken: 'x',
    ResponseURL: 'https://example.invalid',
    StackId: 'stack',
    RequestId: 'req',
    LogicalResourceId: 'Clone',
    ResourceType: 'Custom::KetClone',
  };
  const create = { ...base, RequestType: 'Create', ResourceProperties: props } as CloudFormationCustomResourceEvent;

  test('create starts one build; its id is the physical id', async () => {
    s3.on(GetObjectCommand).rejects(notFound('NoSuchKey'));
    await expect(onEvent(create)).resolves.toMatchObject({ PhysicalResourceId: 'KetClone-staging:1111-2222' });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(1);
  });

  test('a re-created stack does not clone again: the record in the state place says it was done', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(JSON.stringify({ from: 'production', generation: '1', at: '2026-01-01' })) as never });
    const out = await onEvent(create);
    expect(out.Data?.Message).toMatch(/already cloned from 'production'.*not cloned again/);
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
  });

  test('an empty source succeeds without a build, says so, and is recorded', async () => {
    s3.on(GetObjectCommand).rejects(notFound('NoSuchKey'));
    s3.on(HeadObjectCommand).rejects(notFound());
    const out = await onEvent(create);
    expect(out).toMatchObject({
      PhysicalResourceId: 'clone:staging:1:source-empty',
      Data: { Message: expect.stringMatching(/nothing published yet/) },
    });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
    const put = s3.commandCalls(PutObjectCommand)[0].args[0].input;
    expect(put).toMatchObject({ Bucket: 'stag-state', Key: 'staging/clone-record.json' });
    expect(JSON.parse(String(put.Body))).toMatchObject({ from: 'production', generation: '1', sourceEmpty: true });
    await expect(isComplete({ ...create, PhysicalResourceId: out.PhysicalResourceId })).resolves.toEqual({ IsComplete: true });
  });

  test('an update clones again only when From or Generation changes', async () => {
    s3.on(GetObjectCommand).rejects(notFound('NoSuchKey'));
    const update = (p: Record<string, string>) =>
      ({
        ...base,
        RequestType: 'Update',
        PhysicalResourceId: 'old',
        ResourceProperties: { ...props, ...p },
        OldResourceProperties: props,
      }) as CloudFormationCustomResourceEvent;
    await expect(onEvent(update({}))).resolves.toMatchObject({ PhysicalResourceId: 'old' });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
    await expect(onEvent(update({ Generation: '2' }))).resolves.toMatchObject({ PhysicalResourceId: 'KetClone-staging:1111-2222' });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(1);
  });

  test('isComplete: in progress, then success writes the record', async () => {
    const event = { ...create, PhysicalResourceId: 'KetClone-staging:1111-2222' };
    codebuild.on(BatchGetBuildsCommand).resolvesOnce({ builds: [{ id: event.PhysicalResourceId, buildStatus: 'IN_PROGRESS' }] });
    await expect(isComplete(event)).resolves.toEqual({ IsComplete: false });
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [{ id: event.PhysicalResourceId, buildStatus: 'SUCCEEDED' }] });
    await expect(isComplete(event)).resolves.toMatchObject({ IsComplete: true, Data: { BuildId: event.PhysicalResourceId } });
    expect(JSON.parse(String(s3.commandCalls(PutObjectCommand)[0].args[0].input.Body))).toMatchObject({
      from: 'production',
      generation: '1',
      buildId: event.PhysicalResourceId,
    });
  });

  test.each(['FAILED', 'FAULT', 'STOPPED', 'TIMED_OUT'])('isComplete: a %s build fails the deployment with its reason', async (status) => {
    const event = { ...create, PhysicalResourceId: 'KetClone-staging:1111-2222' };
    codebuild.on(BatchGetBuildsCommand).resolves({
      builds: [
        {
          id: event.PhysicalResourceId,
          buildStatus: status as never,
          phases: [
            { phaseType: 'INSTALL', phaseStatus: 'SUCCEEDED' },
            {
              phaseType: 'BUILD',
              phaseStatus: status as never,
              contexts: [{ message: 'Error while executing command: node ket-packages.js clone' }],
            },
          ],
        },
      ],
    });
    await expect(isComplete(event)).rejects.toThrow(
      new RegExp(`clone build KetClone-staging:1111-2222 ${status} \\(BUILD ${status}: Error while executing command`),
    );
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  test('delete deletes no data; a rollback while the build runs stops it', async () => {
    const del = {
      ...base,
      RequestType: 'Delete',
      PhysicalResourceId: 'KetClone-staging:1111-2222',
      ResourceProperties: props,
    } as CloudFormationCustomResourceEvent;
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [{ id: 'KetClone-staging:1111-2222', buildStatus: 'IN_PROGRESS' }] });
    await expect(onEvent(del)).resolves.toEqual({ PhysicalResourceId: 'KetClone-staging:1111-2222' });
    expect(codebuild.commandCalls(StopBuildCommand)[0].args[0].input).toEqual({ id: 'KetClone-staging:1111-2222' });
    codebuild.reset();
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [{ id: 'KetClone-staging:1111-2222', buildStatus: 'SUCCEEDED' }] });
    await onEvent(del);
    expect(codebuild.commandCalls(StopBuildCommand)).toHaveLength(0);
    expect(s3.calls().filter((c) => !(c.args[0] instanceof GetObjectCommand))).toHaveLength(0);
  });

  test('malformed properties are refused naming the property', async () => {
    await expect(
      onEvent({ ...create, ResourceProperties: { ServiceToken: 'x', From: 'production', To: 'staging' } } as never),
    ).rejects.toThrow(/property Generation must be a non-empty string/);
  });
});
