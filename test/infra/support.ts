import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { parseDeploymentConfig } from '../../lib/config/load';
import { DeploymentConfig } from '../../lib/config/types';
import { addKetStacks, KetStacks } from '../../lib/infra/stacks';

export const ROOT = path.resolve(__dirname, '../..');

/** The committed deploy.config.yaml, parsed like bin/app.ts does. */
export function committedConfig(): DeploymentConfig {
  return parseDeploymentConfig(readFileSync(path.join(ROOT, 'deploy.config.yaml'), 'utf8'), 'deploy.config.yaml');
}

/** An App with cdk.json's feature flags, as `cdk synth` would build it. */
export function newApp(outdir?: string): App {
  const cdkJson = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return new App({ context: cdkJson.context, outdir });
}

export interface Synthesized extends KetStacks {
  readonly app: App;
  readonly repositoriesTemplate: Template;
  readonly pipelinesTemplate: Template;
}

/** Both stacks of a configuration, with the AwsSolutions pack active (synthesis throws on any unacknowledged error). */
export function synthesize(config: DeploymentConfig = committedConfig(), outdir?: string): Synthesized {
  const app = newApp(outdir);
  const stacks = addKetStacks(app, config);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
  return {
    ...stacks,
    app,
    repositoriesTemplate: Template.fromStack(stacks.repositories),
    pipelinesTemplate: Template.fromStack(stacks.pipelines),
  };
}

export function logicalId(c: { node: { defaultChild?: unknown } } | CfnElement): string {
  const element = (c instanceof CfnElement ? c : c.node.defaultChild) as CfnElement;
  return Stack.of(element).getLogicalId(element);
}

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Every Allow statement attached to a role (by logical id) in a template. */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleLogicalId })))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

export const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** The committed config with real-looking values in place of the placeholders. */
export function editedConfig(): DeploymentConfig {
  const c = committedConfig();
  if (c.source.type !== 'github') throw new Error('the committed configuration uses GitHub');
  return {
    ...c,
    source: {
      ...c.source,
      connectionArn: 'arn:aws:codeconnections:eu-west-1:111122223333:connection/3f1c2a9e-5b7d-4e21-9c0a-1d2e3f4a5b6c',
    },
    notificationEmails: ['release-engineering@kismatic.io'],
  };
}
