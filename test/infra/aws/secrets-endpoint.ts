import * as http from 'node:http';
import { listenOnLoopback } from '../../support/loopback';

export interface SecretsEndpoint {
  /** For AWS_ENDPOINT_URL_SECRETS_MANAGER (the SDK's service-specific endpoint variable). */
  readonly endpoint: string;
  /** Every SecretId asked for, in order, with the answer's status. */
  readonly requests: Array<{ secretId: string; status: number }>;
  close(): Promise<void>;
}

/**
 * A local endpoint speaking the one Secrets Manager operation the CLI uses, GetSecretValue
 * (AWS JSON 1.1: POST /, X-Amz-Target: secretsmanager.GetSecretValue, {"SecretId"}), for the
 * secrets given by full ARN only: the CLI must ask for exactly the ARN its project was given
 * (KET_GPG_KEY_SECRET), so a build that reached for another zone's secret gets
 * ResourceNotFoundException here as it would AccessDenied in AWS. Test support: the CLI's code
 * path (the SDK client and its request) is the real one.
 */
export async function startSecretsEndpoint(secrets: Readonly<Record<string, string>>): Promise<SecretsEndpoint> {
  const requests: Array<{ secretId: string; status: number }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const reply = (status: number, payload: object, errorType?: string) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
        res.end(JSON.stringify(payload));
      };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        reply(
          400,
          { __type: 'UnknownOperationException', message: `not served here: ${String(req.headers['x-amz-target'])}` },
          'UnknownOperationException',
        );
        return;
      }
      const { SecretId: secretId } = JSON.parse(body) as { SecretId: string };
      const value = secrets[secretId];
      requests.push({ secretId, status: value === undefined ? 400 : 200 });
      if (value === undefined) {
        reply(
          400,
          { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." },
          'ResourceNotFoundException',
        );
        return;
      }
      reply(200, {
        ARN: secretId,
        Name: secretId.split(':')[6],
        SecretString: value,
        VersionId: '00000000-0000-0000-0000-000000000001',
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 1_700_000_000,
      });
    });
  });
  return { ...(await listenOnLoopback(server)), requests };
}
