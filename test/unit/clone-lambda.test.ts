import { BatchGetBuildsCommand, CodeBuildClient, StartBuildCommand, StopBuildCommand } from '@aws-sdk/client-codebuild';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { CloneDeployment } from '../../lambda/clone-shared';
import { testCloneDeployment } from '../support/clone-deployment';
import { handler, parseCloneStartEvent } from '../../lambda/clone-start';
import { CLONE_REFUSED } from '../../lib/clone/types';
import { isComplete, onEvent } from '../../lambda/clone-provider';

const codebuild = mockClient(CodeBuildClient);
const s3 = mockClient(S3Client);

const deployment: CloneDeployment = testCloneDeployment('KetClone-staging');

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

  // Lambda reports a thrown error's name as the invocation's errorType: `ket-packages clone`
  // prints a CloneRefused message as it is, and anything else as a failure of the function.
  test.each([
    [{ from: 'staging', to: 'production' }, /production is never a clone destination/],
    [{ from: 'production' }, /field "to" must be a repository name/],
    [{ from: 'production', to: 'staging', force: true }, /unknown field\(s\) "force"/],
    ['{"from":"production","to":"staging"}', /must be a JSON object/],
  ])('the handler refuses %j as CloneRefused, before any AWS call', async (event, message) => {
    const error = (await handler(event).catch((e: Error) => e)) as Error;
    expect(error.name).toBe(CLONE_REFUSED);
    expect(error.message).toMatch(message);
    expect(s3.calls()).toHaveLength(0);
    expect(codebuild.calls()).toHaveLength(0);
  });

  test('a source with nothing published is a CloneRefused; its top files are looked for where publish writes them', async () => {
    s3.on(HeadObjectCommand).rejects(notFound());
    await expect(handler({ from: 'production', to: 'staging' })).rejects.toMatchObject({ name: CLONE_REFUSED });
    expect(s3.commandCalls(HeadObjectCommand).map((c) => c.args[0].input)).toEqual(
      expect.arrayContaining([
        { Bucket: 'prod-rpm', Key: 'repodata/repomd.xml' },
        { Bucket: 'prod-deb', Key: 'dists/kismatic-xenial/InRelease' },
      ]),
    );
  });

  test('a source that has published only its DEB repository is cloned', async () => {
    s3.on(HeadObjectCommand, { Bucket: 'prod-rpm' }).rejects(notFound());
    await expect(handler({ from: 'production', to: 'staging' })).resolves.toMatchObject({ buildId: 'KetClone-staging:1111-2222' });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(1);
  });

  test('a denied HEAD is not "nothing published": the error is the function failing, not a refusal, and nothing starts', async () => {
    s3.on(HeadObjectCommand).rejects(
      new S3ServiceException({ name: 'Forbidden', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Forbidden' }),
    );
    const error = (await handler({ from: 'production', to: 'staging' }).catch((e: Error) => e)) as Error;
    expect(error.name).toBe('Forbidden');
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
  });

  test("no clone project for the destination's trust zone: refused", async () => {
    process.env.CLONE_DEPLOYMENT = JSON.stringify({ ...deployment, projects: {} });
    await expect(handler({ from: 'production', to: 'staging' })).rejects.toMatchObject({
      name: CLONE_REFUSED,
      message: "clone to: no clone project can write repository 'staging' (trust zone staging)",
    });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
  });

  test('a function deployed without CLONE_DEPLOYMENT fails as such (not a refusal)', async () => {
    delete process.env.CLONE_DEPLOYMENT;
    const error = (await handler({ from: 'production', to: 'staging' }).catch((e: Error) => e)) as Error;
    expect(error.name).toBe('Error');
    expect(error.message).toMatch(/CLONE_DEPLOYMENT is not set/);
  });

  test('StartBuild failing is the function failing, with the SDK error', async () => {
    codebuild
      .on(StartBuildCommand)
      .rejects(Object.assign(new Error('not authorized to perform: codebuild:StartBuild'), { name: 'AccessDeniedException' }));
    await expect(handler({ from: 'production', to: 'staging' })).rejects.toMatchObject({ name: 'AccessDeniedException' });
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

  test.each([
    [{ ServiceToken: 'x', From: 'production', To: 'staging' }, /property Generation must be a non-empty string/],
    [{ ServiceToken: 'x', To: 'staging', Generation: '1' }, /property From must be a non-empty string/],
    [{ ServiceToken: 'x', From: 'production', To: 7, Generation: '1' }, /property To must be a non-empty string/],
    [{ ServiceToken: 'x', From: 'production', To: 'staging', Generation: '' }, /property Generation must be a non-empty string/],
  ])('malformed properties %j are refused naming the property, nothing read or started', async (properties, message) => {
    await expect(onEvent({ ...create, ResourceProperties: properties } as never)).rejects.toThrow(message);
    expect(s3.calls()).toHaveLength(0);
    expect(codebuild.calls()).toHaveLength(0);
  });

  test.each([
    [{ To: 'production', From: 'staging' }, /production is never a clone destination/],
    [{ From: 'nope' }, /clone from: no repository named 'nope'/],
    [{ From: 'staging' }, /cannot be cloned into itself/],
  ])('the guards fail the deployment: %j', async (p, message) => {
    s3.on(GetObjectCommand).rejects(notFound('NoSuchKey'));
    await expect(onEvent({ ...create, ResourceProperties: { ...props, ...p } })).rejects.toThrow(message);
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  test('create starts the build of the staging zone project with only the two names', async () => {
    s3.on(GetObjectCommand).rejects(notFound('NoSuchKey'));
    await onEvent(create);
    expect(s3.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({ Bucket: 'stag-state', Key: 'staging/clone-record.json' });
    expect(codebuild.commandCalls(StartBuildCommand)[0].args[0].input).toEqual({
      projectName: 'KetClone-staging',
      environmentVariablesOverride: [
        { name: 'KET_CLONE_FROM', value: 'production', type: 'PLAINTEXT' },
        { name: 'KET_CLONE_TO', value: 'staging', type: 'PLAINTEXT' },
      ],
    });
  });

  test('a record of another source or generation does not stop a clone', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(JSON.stringify({ from: 'production', generation: '0', at: '2026-01-01' })) as never });
    await expect(onEvent(create)).resolves.toMatchObject({ PhysicalResourceId: 'KetClone-staging:1111-2222' });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(1);
  });

  test('a record that cannot be read (denied) fails the deployment rather than cloning again', async () => {
    s3.on(GetObjectCommand).rejects(
      new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }),
    );
    await expect(onEvent(create)).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(codebuild.commandCalls(StartBuildCommand)).toHaveLength(0);
  });

  test('an update that changes From clones again', async () => {
    s3.on(GetObjectCommand).rejects(notFound('NoSuchKey'));
    const update = {
      ...base,
      RequestType: 'Update',
      PhysicalResourceId: 'old',
      ResourceProperties: { ...props, From: 'other' },
      OldResourceProperties: props,
    } as CloudFormationCustomResourceEvent;
    const withOther = { ...deployment, repositories: [...deployment.repositories, { ...deployment.repositories[0], name: 'other' }] };
    process.env.CLONE_DEPLOYMENT = JSON.stringify(withOther);
    await expect(onEvent(update)).resolves.toMatchObject({ PhysicalResourceId: 'KetClone-staging:1111-2222' });
    expect(codebuild.commandCalls(StartBuildCommand)[0].args[0].input.environmentVariablesOverride?.[0]).toMatchObject({
      value: 'other',
    });
  });

  test('delete of a resource that never had a build, or whose build CodeBuild no longer knows, calls nothing it need not', async () => {
    const del = (id: string) =>
      ({ ...base, RequestType: 'Delete', PhysicalResourceId: id, ResourceProperties: props }) as CloudFormationCustomResourceEvent;
    await expect(onEvent(del('clone:staging:1:source-empty'))).resolves.toEqual({ PhysicalResourceId: 'clone:staging:1:source-empty' });
    expect(codebuild.calls()).toHaveLength(0);
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [], buildsNotFound: ['KetClone-staging:gone'] });
    await expect(onEvent(del('KetClone-staging:gone'))).resolves.toEqual({ PhysicalResourceId: 'KetClone-staging:gone' });
    expect(codebuild.commandCalls(StopBuildCommand)).toHaveLength(0);
    await expect(isComplete({ ...del('KetClone-staging:gone') })).resolves.toEqual({ IsComplete: true });
    expect(s3.calls()).toHaveLength(0);
  });

  test('isComplete: a build CodeBuild does not know fails the deployment naming it', async () => {
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [], buildsNotFound: ['KetClone-staging:gone'] });
    await expect(isComplete({ ...create, PhysicalResourceId: 'KetClone-staging:gone' })).rejects.toThrow(
      /clone build KetClone-staging:gone not found/,
    );
  });
});
