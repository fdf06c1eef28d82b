import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { DeploymentConfigError, parseDeploymentConfig } from '../../lib/config/load';
import { placeholderFields } from '../../lib/config/placeholders';
import { ROOT } from './support';

const committed = readFileSync(path.join(ROOT, 'deploy.config.yaml'), 'utf8');

/** The committed file with one edit applied at a YAML path (undefined deletes the key). */
function edited(edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(committed);
  edit(doc);
  return doc.toString();
}

function problemsOf(text: string): string[] {
  try {
    parseDeploymentConfig(text, 'deploy.config.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(DeploymentConfigError);
    expect((e as Error).message).toMatch(/^deploy\.config\.yaml: invalid deployment configuration:/);
    return [...(e as DeploymentConfigError).problems];
  }
  throw new Error('configuration was accepted');
}

describe('deployment configuration', () => {
  test('the committed file loads with defaults filled in and no account or region', () => {
    const c = parseDeploymentConfig(committed, 'deploy.config.yaml');
    expect(c.account).toBeUndefined();
    expect(c.region).toBeUndefined();
    expect(c.source).toEqual({
      type: 'github',
      owner: 'apprenda',
      repository: 'kismatic-distro-packages',
      connectionArn: expect.stringMatching(/^arn:aws:codeconnections:/),
    });
    expect(c.pipelines).toEqual({
      staging: { branch: 'dev', repository: 'staging' },
      production: { branch: 'master', repository: 'production' },
    });
    expect(c.repositories.map((r) => [r.name, r.noncurrentVersionRetentionDays, r.cloneFrom])).toEqual([
      ['production', 365, undefined],
      ['staging', 30, 'production'],
    ]);
    expect(c.signingKeySecretName).toBe('ket-packages/gpg-signing-key');
    // Each repository its own key; production keeps the name of the one secret earlier versions made.
    expect(c.repositories.map((r) => [r.name, r.signingKeySecretName])).toEqual([
      ['production', 'ket-packages/gpg-signing-key'],
      ['staging', 'ket-packages/gpg-signing-key/staging'],
    ]);
  });

  test('signing-key secrets: named per repository, never shared', () => {
    const named = parseDeploymentConfig(
      edited((d) => d.setIn(['repositories', 1, 'signingKeySecretName'], 'ket/staging-key')),
      'deploy.config.yaml',
    );
    expect(named.repositories[1].signingKeySecretName).toBe('ket/staging-key');
    expect(problemsOf(edited((d) => d.setIn(['repositories', 1, 'signingKeySecretName'], 'ket-packages/gpg-signing-key')))).toEqual([
      'repository "staging": field "signingKeySecretName" uses secret "ket-packages/gpg-signing-key" of repository "production" again; each repository needs its own key',
    ]);
    expect(problemsOf(edited((d) => d.setIn(['repositories', 1, 'signingKeySecretName'], 'no spaces allowed')))).toEqual([
      'field "repositories[1].signingKeySecretName" must be a Secrets Manager secret name (letters, digits and /_+=.@-), got "no spaces allowed"',
    ]);
  });

  test('placeholders: the example connection ARN and example.com addresses are named; real values are not', () => {
    const c = parseDeploymentConfig(committed, 'deploy.config.yaml');
    expect(placeholderFields(c)).toEqual([
      'field "source.connectionArn" is the example\'s all-zero connection ARN (arn:aws:codeconnections:us-east-1:123456789012:connection/00000000-0000-0000-0000-000000000000)',
      'field "notificationEmails[0]" is an example address (release-engineering@example.com)',
    ]);
    const real = parseDeploymentConfig(
      edited((d) => {
        d.setIn(
          ['source', 'connectionArn'],
          'arn:aws:codeconnections:eu-west-1:111122223333:connection/3f1c2a9e-5b7d-4e21-9c0a-1d2e3f4a5b6c',
        );
        d.setIn(['notificationEmails'], ['releases@kismatic.io', 'ops@mail.example.org']);
      }),
      'deploy.config.yaml',
    );
    expect(placeholderFields(real)).toEqual(['field "notificationEmails[1]" is an example address (ops@mail.example.org)']);
  });

  test('minimal file: defaults for prefix, pipelines, retention and secret', () => {
    const c = parseDeploymentConfig(
      [
        'source: {type: codecommit, repository: kismatic-distro-packages}',
        'repositories: [{name: production}, {name: staging}]',
        'notificationEmails: [a@example.com]',
      ].join('\n'),
      'min.yaml',
    );
    expect(c.stackPrefix).toBe('KetPackages');
    expect(c.bucketNamePrefix).toBe('kismatic-packages');
    expect(c.repositories[0].noncurrentVersionRetentionDays).toBe(90);
    expect(c.source).toEqual({ type: 'codecommit', repository: 'kismatic-distro-packages' });
  });

  test('GitHub source without a connection ARN says how to get one', () => {
    const problems = problemsOf(edited((d) => d.deleteIn(['source', 'connectionArn'])));
    expect(problems).toEqual([
      expect.stringMatching(
        /^missing field "source\.connectionArn" \(required by source type github\): create a connection to GitHub .*paste its ARN$/,
      ),
    ]);
  });

  test('a malformed connection ARN names the field and the value', () => {
    expect(problemsOf(edited((d) => d.setIn(['source', 'connectionArn'], 'arn:aws:iam::123:role/x')))).toEqual([
      expect.stringMatching(/^field "source\.connectionArn" must be a CodeConnections connection ARN .*got "arn:aws:iam::123:role\/x"$/),
    ]);
  });

  test('fields of another source type are refused', () => {
    expect(problemsOf(edited((d) => d.setIn(['source', 'bucket'], 'my-source-bucket')))).toEqual([
      'field "source.bucket" is not used by source type github (it takes owner, repository, connectionArn)',
    ]);
  });

  test('duplicate repository names', () => {
    const problems = problemsOf(edited((d) => d.setIn(['repositories', 1, 'name'], 'production')));
    expect(problems).toContain('repository "production": field "repositories[1].name" duplicates repositories[0]');
  });

  test('invalid email', () => {
    expect(problemsOf(edited((d) => d.setIn(['notificationEmails', 0], 'release-engineering(at)example.com')))).toEqual([
      'field "notificationEmails[0]" must be an email address, got "release-engineering(at)example.com"',
    ]);
  });

  test('no email at all', () => {
    expect(problemsOf(edited((d) => d.setIn(['notificationEmails'], [])))).toEqual(['field "notificationEmails" needs at least 1 entries']);
  });

  test('unknown keys, at the top and nested', () => {
    const problems = problemsOf(
      edited((d) => {
        d.setIn(['regoin'], 'us-east-1');
        d.setIn(['repositories', 0, 'retentionDays'], 3);
      }),
    );
    expect(problems).toEqual(['unknown key "regoin"', 'unknown key "repositories[0].retentionDays"']);
  });

  test('account must be a quoted 12-digit string', () => {
    expect(problemsOf(edited((d) => d.setIn(['account'], 123456789012)))).toEqual(['field "account" must be a string, got 123456789012']);
    expect(problemsOf(edited((d) => d.setIn(['account'], '1234')))).toEqual([
      expect.stringMatching(/^field "account" must be a 12-digit AWS account id/),
    ]);
  });

  test('cloneFrom must name another repository, and never target production', () => {
    expect(problemsOf(edited((d) => d.setIn(['repositories', 1, 'cloneFrom'], 'prod')))).toEqual([
      'repository "staging": field "cloneFrom" names no repository: "prod" (declared: production, staging)',
    ]);
    expect(problemsOf(edited((d) => d.setIn(['repositories', 1, 'cloneFrom'], 'staging')))).toEqual([
      'repository "staging": field "cloneFrom" names the repository itself',
    ]);
    expect(problemsOf(edited((d) => d.setIn(['repositories', 0, 'cloneFrom'], 'staging')))).toEqual([
      'repository "production": field "cloneFrom" would overwrite the production repository with "staging"; clone into another repository',
    ]);
  });

  test('pipelines must publish to declared, distinct repositories from distinct branches', () => {
    expect(problemsOf(edited((d) => d.setIn(['pipelines', 'staging', 'repository'], 'qa')))).toEqual([
      'field "pipelines.staging.repository" names no repository: "qa" (declared: production, staging)',
    ]);
    expect(problemsOf(edited((d) => d.setIn(['pipelines', 'staging', 'repository'], 'production')))).toEqual([
      expect.stringMatching(/^fields "pipelines\.staging\.repository" and "pipelines\.production\.repository" must differ/),
    ]);
    expect(problemsOf(edited((d) => d.setIn(['pipelines', 'staging', 'branch'], 'master')))).toEqual([
      'fields "pipelines.staging.branch" and "pipelines.production.branch" must differ, both are "master"',
    ]);
  });

  test('bucket names: explicit ones are checked, reused ones refused, long defaults caught', () => {
    expect(problemsOf(edited((d) => d.setIn(['repositories', 0, 'buckets'], { rpm: 'Kismatic_RPM' })))).toEqual([
      `field "repositories[0].buckets.rpm" must be a valid S3 bucket name: bucket name 'Kismatic_RPM' contains 'K', '_', 'R', 'P', 'M'; S3 bucket names hold only lowercase letters, digits, dots and hyphens`,
    ]);
    // Each broken rule is named (lib/util/bucket-name), here one the old pattern let through.
    expect(problemsOf(edited((d) => d.setIn(['repositories', 0, 'buckets'], { state: '10.0.0.1' })))).toEqual([
      `field "repositories[0].buckets.state" must be a valid S3 bucket name: bucket name '10.0.0.1' is formatted as an IP address; S3 bucket names must not look like one`,
    ]);
    expect(
      problemsOf(
        edited((d) => {
          d.setIn(['repositories', 0, 'buckets'], { rpm: 'kismatic-packages-rpm' });
          d.setIn(['repositories', 1, 'buckets'], { deb: 'kismatic-packages-rpm' });
        }),
      ),
    ).toEqual(['repository "staging": field "buckets.deb" uses bucket "kismatic-packages-rpm" again (already production.buckets.rpm)']);
    expect(problemsOf(edited((d) => d.setIn(['bucketNamePrefix'], 'kismatic-enterprise-toolkit-pkgs')))).toContain(
      'repository "production": the default rpm bucket name "kismatic-enterprise-toolkit-pkgs-production-rpm-ACCOUNT-REGION" can reach 75 characters, S3 allows 63: shorten "bucketNamePrefix" or the name, or set "buckets.rpm"',
    );
  });

  test('YAML syntax errors and duplicate keys: line, column, the reason and the offending line', () => {
    expect(problemsOf('source: [\n')).toEqual([
      'YAML syntax error at line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]\n  source: [\n\n  ^',
    ]);
    const line = committed.split('\n').length + 1;
    expect(problemsOf(`${committed}\nstackPrefix: Again\n`)).toEqual([
      expect.stringMatching(
        new RegExp(`^YAML syntax error at line ${line}, column 1: Map keys must be unique\n(.*\n)?  stackPrefix: Again\n  \\^`),
      ),
    ]);
    // The whole message: the file, then the problem with its code frame indented under it.
    expect(() => parseDeploymentConfig('source:\n  owner: a: b\n', 'deploy.config.yaml')).toThrow(
      new DeploymentConfigError('deploy.config.yaml', [
        'YAML syntax error at line 2, column 10: Nested mappings are not allowed in compact mappings\n    owner: a: b\n           ^',
      ]),
    );
    expect(new DeploymentConfigError('deploy.config.yaml', ['first\n  frame\n\n  ^']).message).toBe(
      'deploy.config.yaml: invalid deployment configuration:\n  - first\n      frame\n\n      ^',
    );
  });
});
