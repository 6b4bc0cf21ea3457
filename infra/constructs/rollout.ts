import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import {
  type ILambdaDeploymentConfig,
  LambdaApplication,
  LambdaDeploymentConfig,
  LambdaDeploymentGroup,
} from 'aws-cdk-lib/aws-codedeploy';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { HandlerFunction } from './handler-function.js';

/** How a deploy moves each function's `live` alias to the new version. */
export type DeploymentStyle = 'allAtOnce' | 'canary10Percent5Minutes' | 'linear10PercentEvery1Minute';

const CONFIGS: Record<DeploymentStyle, ILambdaDeploymentConfig> = {
  allAtOnce: LambdaDeploymentConfig.ALL_AT_ONCE,
  canary10Percent5Minutes: LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES,
  linear10PercentEvery1Minute: LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
};

export interface RolloutProps {
  /** Each function with the alarms that judge a deploy of it. */
  readonly functions: ReadonlyMap<HandlerFunction, readonly Alarm[]>;
  /**
   * @default 'canary10Percent5Minutes'
   */
  readonly style?: DeploymentStyle;
}

/**
 * Safe rollouts: one CodeDeploy application, and per function a deployment group that shifts its `live`
 * alias to the newly published version (canary, linear or all at once) and rolls back by itself when a
 * deploy fails, is stopped, or one of the function's alarms fires during the shift.
 */
export class Rollout extends Construct {
  readonly application: LambdaApplication;
  /** Every function's group, wherever it is (the admin routes' are in AdminApi). */
  get groups(): ReadonlyMap<HandlerFunction, LambdaDeploymentGroup> {
    return this.groupsByFunction;
  }
  private readonly groupsByFunction = new Map<HandlerFunction, LambdaDeploymentGroup>();
  private readonly config: ILambdaDeploymentConfig;
  /** The service role every group deploys with. */
  readonly role: Role;

  constructor(scope: Construct, id: string, props: RolloutProps) {
    super(scope, id);
    this.application = new LambdaApplication(this, 'Application');
    // One role for every group (CodeDeploy's managed policy for Lambda, added by each group once).
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('codedeploy.amazonaws.com'),
      description: 'CodeDeploy: shifts the live aliases of the Roaming functions',
    });
    this.config = CONFIGS[props.style ?? 'canary10Percent5Minutes'];
    for (const [fn, alarms] of props.functions) this.addGroup(this, fn, alarms);
  }

  /**
   * A deployment group for `fn`, made in `scope`, which must be in the function's own stack: its alias's
   * UpdatePolicy names the group, and the group its alarms. The admin routes' groups are in AdminApi.
   */
  addGroup(scope: Construct, fn: HandlerFunction, alarms: readonly Alarm[]): LambdaDeploymentGroup {
    const group = new LambdaDeploymentGroup(scope, fn.node.id, {
      application: this.application,
      alias: fn.alias,
      deploymentConfig: this.config,
      alarms: [...alarms],
      role: this.role,
      autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
    });
    this.groupsByFunction.set(fn, group);
    return group;
  }
}
