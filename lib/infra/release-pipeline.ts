import { Stack, Token } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as codecommit from 'aws-cdk-lib/aws-codecommit';
import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
import * as actions from 'aws-cdk-lib/aws-codepipeline-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { acknowledgeWildcards, BUCKET_GRANT_ACTIONS } from './nag';
import { ARTIFACT_SHA256_VARIABLE } from './projects';
import { SourceConfig } from '../config/types';

/** Artifact names; CodeBuild sees a secondary input as $CODEBUILD_SRC_DIR_<name>. */
export const ARTIFACTS = { source: 'Source', build: 'BuildOutput' } as const;

export interface ReleasePipelineProps {
  /** Where the code comes from. */
  readonly source: SourceConfig;
  /** Branch the pipeline follows (the push trigger filters on it). */
  readonly branch: string;
  /** Name of the repository it publishes to, for stage and action names. */
  readonly repositoryName: string;
  readonly buildProject: codebuild.IProject;
  readonly publishProject: codebuild.IProject;
  readonly verifyProject: codebuild.IProject;
  /**
   * Stop for a manual approval between Build and Publish.
   * @default false
   */
  readonly requireApproval?: boolean;
  /** Receives approval requests and failure notifications. */
  readonly notificationTopic: sns.ITopic;
  /** This pipeline's own artifact store (S3-managed encryption, no KMS key); no other pipeline may write it. */
  readonly artifactBucket: s3.IBucket;
  /**
   * Pipeline name.
   * @default - generated
   */
  readonly pipelineName?: string;
  /**
   * Text shown with the approval request (URLs to look at, for example).
   * @default - a generic request naming the repository
   */
  readonly approvalInformation?: string;
}

/**
 * Source → Build → [Approve] → Publish → Verify, as a V2 pipeline in QUEUED mode: executions
 * wait for each other instead of superseding one another, so every pushed commit is published in
 * order. Publish and Verify take the artifact that Build produced (what was approved is what
 * ships) next to the source, whose code runs `ket-packages`.
 */
export class ReleasePipeline extends Construct {
  readonly pipeline: codepipeline.Pipeline;

  constructor(scope: Construct, id: string, props: ReleasePipelineProps) {
    super(scope, id);
    const sourceOutput = new codepipeline.Artifact(ARTIFACTS.source);
    const buildOutput = new codepipeline.Artifact(ARTIFACTS.build);
    const { action: sourceAction, commitLink } = sourceActionFor(this, props.source, props.branch, sourceOutput);
    const buildAction = new actions.CodeBuildAction({
      actionName: 'Build',
      project: props.buildProject,
      input: sourceOutput,
      outputs: [buildOutput],
      variablesNamespace: 'BuildVariables',
    });
    // The sha256 of the build output the build exported: shown to the approver, and required by
    // publish, which refuses an artifact with another digest (what was approved is what ships).
    const artifactSha256 = buildAction.variable(ARTIFACT_SHA256_VARIABLE);

    const stages: codepipeline.StageProps[] = [
      { stageName: 'Source', actions: [sourceAction] },
      {
        stageName: 'Build',
        actions: [buildAction],
      },
    ];
    if (props.requireApproval) {
      stages.push({
        stageName: 'Approve',
        actions: [
          new actions.ManualApprovalAction({
            actionName: 'ApprovePublish',
            notificationTopic: props.notificationTopic,
            externalEntityLink: commitLink,
            additionalInformation: `${
              props.approvalInformation ??
              `Approve to publish the packages built from ${props.branch} into the ${props.repositoryName} repository.`
            } Build output sha256: ${artifactSha256} (publish refuses any other).`,
          }),
        ],
      });
    }
    const stageTitle = props.repositoryName.charAt(0).toUpperCase() + props.repositoryName.slice(1);
    stages.push(
      {
        stageName: `Publish${stageTitle}`,
        actions: [
          new actions.CodeBuildAction({
            actionName: 'Publish',
            project: props.publishProject,
            input: sourceOutput,
            extraInputs: [buildOutput],
            environmentVariables: { KET_EXPECTED_SHA256: { value: artifactSha256 } },
          }),
        ],
      },
      {
        stageName: `Verify${stageTitle}`,
        actions: [
          new actions.CodeBuildAction({
            actionName: 'Verify',
            project: props.verifyProject,
            input: sourceOutput,
            extraInputs: [buildOutput],
          }),
        ],
      },
    );

    this.pipeline = new codepipeline.Pipeline(this, 'Pipeline', {
      pipelineName: props.pipelineName,
      pipelineType: codepipeline.PipelineType.V2,
      executionMode: codepipeline.ExecutionMode.QUEUED,
      crossAccountKeys: false,
      artifactBucket: props.artifactBucket,
      restartExecutionOnUpdate: false,
      stages,
      triggers:
        sourceAction instanceof actions.CodeStarConnectionsSourceAction
          ? [
              {
                providerType: codepipeline.ProviderType.CODE_STAR_SOURCE_CONNECTION,
                gitConfiguration: { sourceAction, pushFilter: [{ branchesIncludes: [props.branch] }] },
              },
            ]
          : undefined,
    });

    // The roles CodePipeline generates (its own and one per action) read and write objects of
    // this pipeline's artifact bucket only; acknowledged role by role, for this bucket only.
    for (const role of this.pipeline.node.findAll().filter((c): c is iam.Role => c instanceof iam.Role)) {
      acknowledgeWildcards(role, [
        {
          resources: [props.artifactBucket.arnForObjects('*')],
          actions: BUCKET_GRANT_ACTIONS,
          reason: `Objects of the ${props.branch} pipeline's own artifact bucket (CodePipeline's grant to its roles).`,
        },
      ]);
    }

    new events.Rule(this, 'FailureRule', {
      description: `Notify when the ${props.branch} → ${props.repositoryName} pipeline fails`,
      eventPattern: {
        source: ['aws.codepipeline'],
        detailType: ['CodePipeline Pipeline Execution State Change'],
        resources: [this.pipeline.pipelineArn],
        detail: { state: ['FAILED'] },
      },
      targets: [
        new targets.SnsTopic(props.notificationTopic, {
          message: events.RuleTargetInput.fromText(
            `KET packages pipeline ${events.EventField.fromPath('$.detail.pipeline')} (${props.branch} → ${props.repositoryName}) failed, execution ${events.EventField.fromPath('$.detail.execution-id')}: ` +
              `https://${Stack.of(this).region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/${events.EventField.fromPath('$.detail.pipeline')}/executions/${events.EventField.fromPath('$.detail.execution-id')}/timeline`,
          ),
        }),
      ],
    });
  }
}

/** The source action of one branch and a link to the commit it delivers, for the approval. */
function sourceActionFor(
  scope: Construct,
  source: SourceConfig,
  branch: string,
  output: codepipeline.Artifact,
): { action: codepipeline.IAction; commitLink?: string } {
  switch (source.type) {
    case 'github': {
      const action = new ConnectionSourceAction({
        actionName: 'GitHub',
        connectionArn: source.connectionArn,
        owner: source.owner,
        repo: source.repository,
        branch,
        output,
        variablesNamespace: 'SourceVariables',
      });
      return { action, commitLink: `https://github.com/${source.owner}/${source.repository}/commit/${action.variables.commitId}` };
    }
    case 'codecommit': {
      const repository = codecommit.Repository.fromRepositoryName(scope, 'SourceRepository', source.repository);
      const action = new actions.CodeCommitSourceAction({
        actionName: 'CodeCommit',
        repository,
        branch,
        output,
        trigger: actions.CodeCommitTrigger.EVENTS,
        variablesNamespace: 'SourceVariables',
      });
      return {
        action,
        commitLink: `https://${Stack.of(scope).region}.console.aws.amazon.com/codesuite/codecommit/repositories/${source.repository}/commit/${action.variables.commitId}?region=${Stack.of(scope).region}`,
      };
    }
    case 's3': {
      const bucket = s3.Bucket.fromBucketName(scope, 'SourceBucket', source.bucket);
      const key = `${source.prefix}${branch}.zip`;
      const action = new actions.S3SourceAction({
        actionName: 'S3',
        bucket,
        bucketKey: key,
        output,
        trigger: actions.S3Trigger.EVENTS,
        variablesNamespace: 'SourceVariables',
      });
      return {
        action,
        commitLink: `https://s3.console.aws.amazon.com/s3/object/${source.bucket}?prefix=${encodeURIComponent(key)}&versionId=${action.variables.versionId}`,
      };
    }
  }
}

/**
 * The IAM actions that let a role use a connection: the action prefix must be the ARN's service
 * ("codeconnections" for connections created since 2024, "codestar-connections" for older ones);
 * both when the ARN is only known at deploy time.
 */
export function useConnectionActions(connectionArn: string): string[] {
  if (Token.isUnresolved(connectionArn)) return ['codeconnections:UseConnection', 'codestar-connections:UseConnection'];
  // arn:PARTITION:SERVICE:REGION:ACCOUNT:connection/ID
  const service = connectionArn.split(':')[2];
  if (service !== 'codeconnections' && service !== 'codestar-connections') throw new Error(`not a connection ARN: ${connectionArn}`);
  return [`${service}:UseConnection`];
}

const CODESTAR_USE_CONNECTION = 'codestar-connections:UseConnection';

/**
 * CodeStarConnectionsSourceAction, granting the UseConnection action that matches the
 * connection ARN's service. aws-cdk-lib 2.276 always grants codestar-connections:UseConnection,
 * which does not authorize a codeconnections ARN (the source stage then fails with insufficient
 * permissions). Its own grant is filtered out on the way to the role and the right one added.
 */
class ConnectionSourceAction extends actions.CodeStarConnectionsSourceAction {
  private readonly connectionArn: string;

  constructor(props: actions.CodeStarConnectionsSourceActionProps) {
    super(props);
    this.connectionArn = props.connectionArn;
  }

  protected bound(scope: Construct, stage: codepipeline.IStage, options: codepipeline.ActionBindOptions): codepipeline.ActionConfig {
    const role = options.role;
    const dropsCodeStarGrant = (statement: iam.PolicyStatement) => {
      const json = statement.toStatementJson() as { Action?: string | string[] };
      return [json.Action ?? []].flat().includes(CODESTAR_USE_CONNECTION);
    };
    const filtered = new Proxy(role, {
      get(target, prop, receiver) {
        if (prop === 'addToPolicy' || prop === 'addToPrincipalPolicy') {
          return (statement: iam.PolicyStatement) =>
            dropsCodeStarGrant(statement) ? { statementAdded: true } : Reflect.get(target, prop, receiver).call(target, statement);
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const config = super.bound(scope, stage, { ...options, role: filtered });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: useConnectionActions(this.connectionArn), resources: [this.connectionArn] }),
    );
    return config;
  }
}
