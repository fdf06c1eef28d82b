import { runSimulation, EvaluationResult } from '@cloud-copilot/iam-simulate';
import { ResolvedTemplates, TEST_ACCOUNT } from './resolve';

export interface Policy {
  readonly Version?: string;
  readonly Statement: unknown[];
}

/** A request as IAM sees it: who, which action, on which resource, with which condition keys. */
export interface Request {
  readonly action: string;
  readonly resource: string;
  readonly context?: Record<string, string | string[]>;
  /** What made it, for failure messages. */
  readonly why: string;
}

/**
 * AWS managed policies the stacks attach, as AWS documents them (IAM console, the policy's JSON):
 * the Lambda functions' basic execution role lets them write their own logs and nothing else.
 */
const MANAGED_POLICIES: Record<string, Policy> = {
  'service-role/AWSLambdaBasicExecutionRole': {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'], Resource: '*' }],
  },
};

/** An identity policy that allows everything: evaluates what a resource policy alone decides. */
export const ALLOW_ALL: Policy[] = [{ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }];

/**
 * The global condition keys AWS sets on every request of `principal` (IAM User Guide, "AWS global
 * condition context keys"): a role's session carries aws:PrincipalArn = the role's ARN (not the
 * session's), aws:PrincipalAccount and aws:PrincipalType AssumedRole; a service principal carries
 * aws:PrincipalServiceName and aws:PrincipalIsAWSService. Without them a resource policy's
 * `ArnNotEquals aws:PrincipalArn` exception would never match (a missing key makes a negated
 * operator true), and a Deny meant for everyone but one role would hit that role too.
 */
export function principalContext(principal: string): Record<string, string> {
  const role = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(principal);
  if (role)
    return {
      'aws:PrincipalArn': principal,
      'aws:PrincipalAccount': role[1],
      'aws:PrincipalType': 'AssumedRole',
      'aws:PrincipalIsAWSService': 'false',
      'aws:userid': `AROAEXAMPLEROLEID:${role[2]}-session`,
    };
  if (/\.amazonaws\.com$/.test(principal)) return { 'aws:PrincipalServiceName': principal, 'aws:PrincipalIsAWSService': 'true' };
  throw new Error(`unmodelled principal ${principal}`);
}

/**
 * The IAM side of resolved templates: identity policies per role ARN and resource policies per
 * resource ARN (bucket policies, secret resource policies), evaluated with @cloud-copilot/iam-simulate
 * as AWS evaluates a same-account request (identity OR resource policy allows, any explicit deny wins).
 */
export class IamModel {
  readonly identityPolicies = new Map<string, Policy[]>();
  readonly resourcePolicies = new Map<string, Policy>();
  /** Role ARN → the construct path of the role, for messages. */
  readonly rolePaths = new Map<string, string>();

  constructor(readonly t: ResolvedTemplates) {
    for (const { stack, id, resource } of t.resources('AWS::IAM::Role')) {
      const arn = t.arn(stack, id);
      this.rolePaths.set(arn, t.path(stack, id));
      const inline = (resource.Properties?.Policies ?? []) as Array<{ PolicyDocument: unknown }>;
      this.identityPolicies.set(
        arn,
        inline.map((p) => t.resolve(stack, p.PolicyDocument) as Policy),
      );
      for (const managed of (t.resolve(stack, resource.Properties?.ManagedPolicyArns ?? []) as string[]).map(String)) {
        const known = MANAGED_POLICIES[managed.replace(/^arn:[^:]+:iam::aws:policy\//, '')];
        if (!known) throw new Error(`${t.path(stack, id)}: managed policy ${managed} is not modelled by this test`);
        this.identityPolicies.get(arn)!.push(known);
      }
    }
    for (const { stack, resource } of t.resources('AWS::IAM::Policy')) {
      const doc = t.resolve(stack, resource.Properties?.PolicyDocument) as Policy;
      for (const roleName of t.resolve(stack, resource.Properties?.Roles ?? []) as string[]) {
        const arn = `arn:aws:iam::${TEST_ACCOUNT}:role/${roleName}`;
        const list = this.identityPolicies.get(arn);
        if (!list) throw new Error(`policy attached to unknown role ${roleName}`);
        list.push(doc);
      }
    }
    for (const { stack, resource } of t.resources('AWS::S3::BucketPolicy')) {
      const bucket = String(t.resolve(stack, resource.Properties?.Bucket));
      this.resourcePolicies.set(`arn:aws:s3:::${bucket}`, t.resolve(stack, resource.Properties?.PolicyDocument) as Policy);
    }
    for (const { stack, resource } of t.resources('AWS::SecretsManager::ResourcePolicy')) {
      const secret = String(t.resolve(stack, resource.Properties?.SecretId));
      this.resourcePolicies.set(secret, t.resolve(stack, resource.Properties?.ResourcePolicy) as Policy);
    }
  }

  get roles(): string[] {
    return [...this.identityPolicies.keys()];
  }

  /** The resource policy that governs a resource ARN (a bucket's for its objects too). */
  private resourcePolicyFor(resource: string): Policy | undefined {
    const bucket = /^arn:aws:s3:::([^/]+)/.exec(resource);
    return this.resourcePolicies.get(bucket ? `arn:aws:s3:::${bucket[1]}` : resource);
  }

  /**
   * How AWS would answer `principal` (a role ARN, or a service principal) making `request`, with
   * the principal's own identity policies, or `identity` instead (ALLOW_ALL: what the resource
   * policy alone decides).
   */
  async evaluate(principal: string, request: Request, identityOverride?: Policy[]): Promise<EvaluationResult> {
    const identity = identityOverride ?? this.identityPolicies.get(principal);
    const result = await runSimulation(
      {
        request: {
          principal,
          action: request.action,
          resource: { resource: request.resource, accountId: TEST_ACCOUNT },
          contextVariables: { 'aws:SecureTransport': 'true', ...request.context, ...principalContext(principal) },
        },
        identityPolicies: (identity ?? []).map((policy, i) => ({ name: `policy${i}`, policy })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: this.resourcePolicyFor(request.resource),
      },
      {},
    );
    if (result.resultType === 'error')
      throw new Error(`simulation of ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
    return result.overallResult;
  }
}
