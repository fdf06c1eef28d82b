#!/usr/bin/env node
// CDK app (cdk.json "app"): the stacks described by the deployment configuration.
// `npx cdk synth` needs no AWS account: account and region are optional in the configuration.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadDeploymentConfig } from '../lib/config/load';
import { DEFAULT_DEPLOYMENT_CONFIG } from '../lib/config/defaults';
import { addKetStacks } from '../lib/infra/stacks';
import { UserError } from '../lib/util/errors';

const app = new App();
// `-c config=FILE` or KET_DEPLOY_CONFIG picks another configuration file.
const file = (app.node.tryGetContext('config') as string | undefined) ?? process.env.KET_DEPLOY_CONFIG ?? DEFAULT_DEPLOYMENT_CONFIG;
try {
  addKetStacks(app, loadDeploymentConfig(file));
} catch (e) {
  if (!(e instanceof UserError)) throw e;
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
