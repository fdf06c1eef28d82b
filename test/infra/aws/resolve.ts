/**
 * Resolves synthesized CloudFormation templates to concrete values for one test account and
 * region, as CloudFormation would at deploy time: Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
 * Fn::Split and Fn::ImportValue (across the templates given) over the templates' own resources.
 * Physical names that CloudFormation would generate are derived from the logical ID, so they are
 * stable and distinct; ARNs follow each service's documented ARN format.
 */
export const TEST_ACCOUNT = '111122223333';
export const TEST_REGION = 'eu-west-1';
export const PARTITION = 'aws';

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
  readonly Parameters?: Record<string, { Default?: unknown }>;
}

export class ResolvedTemplates {
  private readonly exports = new Map<string, unknown>();

  constructor(readonly templates: Readonly<Record<string, CfnTemplate>>) {
    for (const [stack, t] of Object.entries(templates)) {
      for (const o of Object.values(t.Outputs ?? {})) {
        if (o.Export) this.exports.set(String(this.resolve(stack, o.Export.Name)), { stack, value: o.Value });
      }
    }
  }

  /** Every resource of every stack, with its stack name. */
  *resources(type?: string): Generator<{ stack: string; id: string; resource: CfnResource }> {
    for (const [stack, t] of Object.entries(this.templates))
      for (const [id, resource] of Object.entries(t.Resources)) if (!type || resource.Type === type) yield { stack, id, resource };
  }

  resource(stack: string, id: string): CfnResource {
    const r = this.templates[stack]?.Resources[id];
    if (!r) throw new Error(`${stack}: no resource ${id}`);
    return r;
  }

  /** The construct path CDK recorded for a resource (aws:cdk:path). */
  path(stack: string, id: string): string {
    return String(this.resource(stack, id).Metadata?.['aws:cdk:path'] ?? `${stack}/${id}`);
  }

  /** A value of a template with every intrinsic function evaluated. */
  resolve(stack: string, value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(stack, v));
    if (value === null || typeof value !== 'object') return value;
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = o[k];
      switch (k) {
        case 'Ref':
          return this.ref(stack, String(arg));
        case 'Fn::GetAtt': {
          const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split(/\.(.*)/s);
          return this.getAtt(stack, id, attr);
        }
        case 'Fn::Join': {
          const [sep, parts] = arg as [string, unknown[]];
          return (this.resolve(stack, parts) as unknown[]).map(String).join(sep);
        }
        case 'Fn::Select': {
          const [i, list] = arg as [unknown, unknown];
          return (this.resolve(stack, list) as unknown[])[Number(this.resolve(stack, i))];
        }
        case 'Fn::Split': {
          const [sep, s] = arg as [string, unknown];
          return String(this.resolve(stack, s)).split(sep);
        }
        case 'Fn::Sub': {
          const [text, vars] = (Array.isArray(arg) ? arg : [arg, {}]) as [string, Record<string, unknown>];
          return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
            if (name in vars) return String(this.resolve(stack, vars[name]));
            const [id, attr] = name.split(/\.(.*)/s);
            return String(attr ? this.getAtt(stack, id, attr) : this.ref(stack, id));
          });
        }
        case 'Fn::ImportValue': {
          const name = String(this.resolve(stack, arg));
          const e = this.exports.get(name) as { stack: string; value: unknown } | undefined;
          if (!e) throw new Error(`${stack}: imports ${name}, which no template exports`);
          return this.resolve(e.stack, e.value);
        }
        case 'Fn::If':
        case 'Fn::Equals':
        case 'Fn::And':
        case 'Fn::Or':
        case 'Fn::Not':
        case 'Condition':
          throw new Error(`${stack}: ${k} is not resolved by this test resolver`);
      }
    }
    return Object.fromEntries(keys.map((k) => [k, this.resolve(stack, o[k])]));
  }

  private ref(stack: string, id: string): unknown {
    switch (id) {
      case 'AWS::AccountId':
        return TEST_ACCOUNT;
      case 'AWS::Region':
        return TEST_REGION;
      case 'AWS::Partition':
        return PARTITION;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return stack;
      case 'AWS::NoValue':
        return undefined;
    }
    const t = this.templates[stack];
    if (t.Parameters?.[id]) return t.Parameters[id].Default;
    const r = this.resource(stack, id);
    const name = this.physicalName(stack, id);
    switch (r.Type) {
      case 'AWS::SecretsManager::Secret':
      case 'AWS::SNS::Topic':
        return this.arn(stack, id);
      default:
        return name;
    }
  }

  private getAtt(stack: string, id: string, attr: string): unknown {
    const r = this.resource(stack, id);
    if (attr === 'Arn') return this.arn(stack, id);
    switch (`${r.Type}.${attr}`) {
      case 'AWS::S3::Bucket.RegionalDomainName':
        return `${this.physicalName(stack, id)}.s3.${TEST_REGION}.amazonaws.com`;
      case 'AWS::S3::Bucket.DomainName':
        return `${this.physicalName(stack, id)}.s3.amazonaws.com`;
      case 'AWS::CloudFront::Distribution.DomainName':
        return `${id.toLowerCase()}.cloudfront.net`;
      case 'AWS::CloudFront::Distribution.Id':
      case 'AWS::CloudFront::OriginAccessControl.Id':
      case 'AWS::CloudFront::CachePolicy.Id':
        return this.physicalName(stack, id);
      case 'AWS::IAM::Role.RoleId':
        return `AROA${id.toUpperCase().slice(0, 17)}`;
      case 'AWS::CodeBuild::Project.Arn':
        return this.arn(stack, id);
      default:
        return `${stack}:${id}.${attr}`;
    }
  }

  /** The name CloudFormation gives a resource: its name property, or one derived from the logical ID. */
  physicalName(stack: string, id: string): string {
    const r = this.resource(stack, id);
    const p = r.Properties ?? {};
    const nameProp: Record<string, string> = {
      'AWS::S3::Bucket': 'BucketName',
      'AWS::IAM::Role': 'RoleName',
      'AWS::SecretsManager::Secret': 'Name',
      'AWS::CodeBuild::Project': 'Name',
      'AWS::CodePipeline::Pipeline': 'Name',
      'AWS::SNS::Topic': 'TopicName',
    };
    const prop = nameProp[r.Type];
    if (prop && p[prop] !== undefined) return String(this.resolve(stack, p[prop]));
    const generated = `${stack}-${id}`.slice(0, 60);
    return r.Type === 'AWS::S3::Bucket' ? generated.toLowerCase() : generated;
  }

  /** The ARN of a resource, in its service's documented format. */
  arn(stack: string, id: string): string {
    const r = this.resource(stack, id);
    const name = this.physicalName(stack, id);
    const ra = `${TEST_REGION}:${TEST_ACCOUNT}`;
    switch (r.Type) {
      case 'AWS::S3::Bucket':
        return `arn:${PARTITION}:s3:::${name}`;
      case 'AWS::IAM::Role':
        return `arn:${PARTITION}:iam::${TEST_ACCOUNT}:role/${name}`;
      case 'AWS::SecretsManager::Secret':
        // Secrets Manager appends six random characters to the name.
        return `arn:${PARTITION}:secretsmanager:${ra}:secret:${name}-AbCdEf`;
      case 'AWS::CodeBuild::Project':
        return `arn:${PARTITION}:codebuild:${ra}:project/${name}`;
      case 'AWS::CodePipeline::Pipeline':
        return `arn:${PARTITION}:codepipeline:${ra}:${name}`;
      case 'AWS::SNS::Topic':
        return `arn:${PARTITION}:sns:${ra}:${name}`;
      case 'AWS::Events::Rule':
        return `arn:${PARTITION}:events:${ra}:rule/${name}`;
      default:
        return `arn:${PARTITION}:${r.Type.split('::')[1].toLowerCase()}:${ra}:${name}`;
    }
  }
}
