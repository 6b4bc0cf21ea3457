import { NestedStack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Alarms, type AlarmsProps } from './alarms.js';

/**
 * The alarms in a nested stack of their own, deployed with the top-level stack by the same `cdk deploy`.
 * CloudFormation refuses a template of more than 500 resources, and the alarms (five per route) are a third
 * of the stack: here they grow on their own budget (test/infra/stack-layout.test.ts).
 *
 * It takes from the top-level stack only what exists before any alias is shifted: each function's name
 * (the alarms watch the function's metrics, not the alias's), the HTTP API's id, the table's name and the
 * alarm topic. The top-level stack reads back only alarm names, for the CodeDeploy deployment groups. So the
 * order is functions, API, table, topic -> Monitoring -> deployment groups -> `live` aliases (whose
 * UpdatePolicy names their group) -> integrations and routes: no cycle (docs/aws.md "Stack layout").
 */
export class Monitoring extends NestedStack {
  readonly alarms: Alarms;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id, {
      description: 'Roaming: the alarms (a nested stack of the Roaming stack, deployed with it)',
    });
    this.alarms = new Alarms(this, 'Alarms', props);
  }
}
