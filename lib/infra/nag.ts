import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';
// cdk-nag's own formatter of references in findings ("<Bucket.Arn>/*"), so the IDs below match its.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';

/** A cdk-nag rule (or one finding, `Rule[Finding]`) accepted on purpose, and why. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
}

/**
 * Acknowledges cdk-nag findings on a construct and everything below it (cdk-nag 3 reads CDK's
 * own validation acknowledgements). Every entry carries its reason; there is no blanket form.
 */
export function acknowledge(scope: IConstruct, rules: readonly NagAcknowledgement[]): void {
  Validations.of(scope).acknowledge(...rules);
}

/** Wildcards one role is meant to hold, each with its reason. */
export interface IntendedWildcards {
  /**
   * Resource ARNs with a wildcard, exactly as granted (tokens welcome: `bucket.arnForObjects('*')`).
   * @default - none
   */
  readonly resources?: readonly string[];
  /**
   * Action wildcards, exactly as granted (`s3:GetObject*`).
   * @default - none
   */
  readonly actions?: readonly string[];
  readonly reason: string;
}

/**
 * AwsSolutions-IAM5 reports one finding per wildcard of a policy, named after the resolved policy
 * text (cross-stack imports included), which exists only once CDK has prepared the app. This
 * acknowledges, at that point and on the policies attached to `role` only, exactly the findings
 * of the given resources and actions: the acknowledgement is tied to this role and these buckets.
 * The same wildcard on another role (a production bucket granted to a staging role), or any
 * other wildcard, stays a finding and fails synthesis.
 */
export function acknowledgeWildcards(role: iam.IRole, intended: readonly IntendedWildcards[]): void {
  const stack = Stack.of(role);
  stack.node.addValidation({
    validate: () => {
      const roleRef = JSON.stringify(stack.resolve(role.roleName));
      for (const c of stack.node.findAll()) {
        if (!(c instanceof iam.CfnPolicy)) continue;
        const roles = (stack.resolve(c.roles) ?? []) as unknown[];
        if (!roles.some((r) => JSON.stringify(r) === roleRef)) continue;
        const doc = stack.resolve(c.policyDocument) as PolicyDocument;
        const found = new Set(wildcardFindings(doc));
        for (const w of intended) {
          const ids = [
            ...(w.resources ?? []).map((r) => `Resource::${flattenCfnReference(stack.resolve(r))}`),
            ...(w.actions ?? []).map((a) => `Action::${a}`),
          ];
          for (const id of ids) if (found.has(id)) acknowledge(c, [{ id: `AwsSolutions-IAM5[${id}]`, reason: w.reason }]);
        }
      }
      return [];
    },
  });
}

interface PolicyDocument {
  Statement?: Array<{ Effect: string; Action: string | string[]; Resource: unknown }>;
}

function wildcardFindings(doc: PolicyDocument): string[] {
  const out = new Set<string>();
  const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
  for (const s of doc.Statement ?? []) {
    if (s.Effect !== 'Allow') continue;
    for (const a of list(s.Action)) if (a.includes('*')) out.add(`Action::${a}`);
    for (const r of list(s.Resource)) {
      const flat = flattenCfnReference(r);
      if (flat.includes('*')) out.add(`Resource::${flat}`);
    }
  }
  return [...out];
}

/** The action families `grantRead`/`grantReadWrite` of a bucket produce. */
export const BUCKET_GRANT_ACTIONS = ['s3:GetObject*', 's3:GetBucket*', 's3:List*', 's3:DeleteObject*', 's3:Abort*'] as const;
