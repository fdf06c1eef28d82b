import { CfnResource, Stack, Validations } from 'aws-cdk-lib';
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

/** Wildcards that grants produce on purpose: object keys of a named bucket, CodeBuild's own log and report groups, grantReadWrite's action families. */
export const EXPECTED_WILDCARDS: readonly RegExp[] = [
  /^Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*$/,
  /^Resource::[^*]+\/\*$/, // BUCKET/* or BUCKET/PREFIX/*: objects of one bucket
  // Region and account are tokens in an environment-agnostic stack, literals in a pinned one.
  /^Resource::arn:<AWS::Partition>:logs:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):log-group:\/aws\/codebuild\/<[A-Za-z0-9]+>:\*$/,
  /^Resource::arn:<AWS::Partition>:codebuild:(<AWS::Region>|[a-z0-9-]+):(<AWS::AccountId>|[0-9]{12}):report-group\/<[A-Za-z0-9]+>-\*$/,
];

/**
 * AwsSolutions-IAM5 reports one finding per wildcard, named after the resolved (cross-stack
 * included) policy text, which only exists after CDK has prepared the app. This acknowledges, at
 * that point, exactly the findings that match `expected`, one by one with the reason; any other
 * wildcard (an `s3:*`, a `Resource::*`) stays a finding and fails synthesis.
 */
export function acknowledgeExpectedWildcards(scope: IConstruct, reason: string, expected: readonly RegExp[] = EXPECTED_WILDCARDS): void {
  scope.node.addValidation({
    validate: () => {
      for (const c of scope.node.findAll()) {
        if (!(c instanceof iam.CfnPolicy) && !(c instanceof iam.Policy)) continue;
        const policy = c instanceof iam.Policy ? (c.node.defaultChild as CfnResource | undefined) : c;
        if (!(policy instanceof iam.CfnPolicy)) continue;
        const doc = Stack.of(policy).resolve(policy.policyDocument) as {
          Statement?: Array<{ Effect: string; Action: string | string[]; Resource: unknown }>;
        };
        for (const finding of wildcardFindings(doc)) {
          if (expected.some((re) => re.test(finding))) acknowledge(policy, [{ id: `AwsSolutions-IAM5[${finding}]`, reason }]);
        }
      }
      return [];
    },
  });
}

function wildcardFindings(doc: { Statement?: Array<{ Effect: string; Action: string | string[]; Resource: unknown }> }): string[] {
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
