import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './support';

/** The environment of a CI machine with no AWS account: no credentials, no profile, no metadata service. */
function noAwsEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|CDK_DEFAULT_)/.test(k)) env[k] = v;
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}

function cdk(args: string[]) {
  return spawnSync(path.join(ROOT, 'node_modules/.bin/cdk'), [...args, '--no-notices', '--no-version-reporting'], {
    cwd: ROOT,
    env: noAwsEnv(),
    encoding: 'utf8',
    timeout: 90_000,
  });
}

describe('npx cdk synth (the real CLI, no AWS credentials)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(path.join(os.tmpdir(), 'ket-cdk-cli-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test('synthesizes both stacks, cdk-nag included', () => {
    const started = Date.now();
    const r = cdk(['synth', '--quiet', '-o', path.join(out, 'ok')]);
    // With CI=true the CDK CLI logs to stdout instead of stderr: read both.
    expect(`${r.stdout}${r.stderr}`).toContain('Successfully synthesized');
    expect(r.status).toBe(0);
    process.stderr.write(`cdk synth took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    for (const stack of ['KetPackages-Repositories', 'KetPackages-Pipelines']) {
      const template = JSON.parse(readFileSync(path.join(out, 'ok', `${stack}.template.json`), 'utf8')) as { Resources: object };
      expect(Object.keys(template.Resources).length).toBeGreaterThan(10);
    }
  });

  test('a bad configuration stops synthesis with the field named', () => {
    const bad = path.join(out, 'bad.yaml');
    writeFileSync(bad, readFileSync(path.join(ROOT, 'deploy.config.yaml'), 'utf8').replace(/^ {2}connectionArn: .*$/m, ''));
    const r = cdk(['synth', '--quiet', '-c', `config=${bad}`, '-o', path.join(out, 'bad')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('invalid deployment configuration');
    expect(r.stderr).toContain('missing field "source.connectionArn" (required by source type github)');
    expect(existsSync(path.join(out, 'bad', 'KetPackages-Pipelines.template.json'))).toBe(false);
  });
});
