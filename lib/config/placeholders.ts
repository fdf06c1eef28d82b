import { DeploymentConfig } from './types';

/**
 * Values of the committed example deploy.config.yaml that must be replaced before a deployment
 * can work: the all-zero connection ARN and example.com addresses (RFC 2606 reserves example.com,
 * example.net, example.org; mail to them goes nowhere, so nobody would ever approve a release).
 * Returns one message per placeholder, naming the field; empty when the configuration is real.
 */
export function placeholderFields(config: DeploymentConfig): string[] {
  const out: string[] = [];
  if (config.source.type === 'github' && /connection\/0{8}-0{4}-0{4}-0{4}-0{12}$/.test(config.source.connectionArn))
    out.push(`field "source.connectionArn" is the example's all-zero connection ARN (${config.source.connectionArn})`);
  config.notificationEmails.forEach((e, i) => {
    if (/@(.+\.)?example\.(com|net|org)$/i.test(e)) out.push(`field "notificationEmails[${i}]" is an example address (${e})`);
  });
  return out;
}
