import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../functions/routes.js';
import { aliasIdOf, functionId, onlyResource, resources, synthesize } from './support/stack.js';

const ENTRY_NAMES = [...ROUTES.map((route) => route.name), 'notFound', 'sweep'];
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

let template: Template;
let applicationId: string;

beforeAll(() => {
  // The deployment groups are in the top-level stack, their alarms in the Monitoring nested stack: the whole
  // template reads each group's alarm names through the nested stack's outputs.
  template = synthesize().whole;
  applicationId = onlyResource(template, 'AWS::CodeDeploy::Application')[0];
});

/** The logical id of the alarm with this construct id under Alarms (or Retention for the sweep's errors). */
function alarmId(prefix: string): string {
  const ids = resources(template, 'AWS::CloudWatch::Alarm')
    .map(([id]) => id)
    .filter((id) => id.startsWith(prefix) && /^[0-9A-F]{8}$/.test(id.slice(prefix.length)));
  if (ids.length !== 1) throw new Error(`Expected one alarm ${prefix}*, found ${ids.length}`);
  return ids[0] as string;
}

describe('versions and aliases', () => {
  it.each(ENTRY_NAMES)("%s publishes a version and a 'live' alias on it, shifted by CodeDeploy", (name) => {
    const fn = functionId(template, name);
    const alias = aliasIdOf(template, fn);
    const versions = resources(template, 'AWS::Lambda::Version').filter(
      ([, version]) => (version.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref === fn,
    );
    expect(versions).toHaveLength(1);
    const [versionId] = versions[0] as [string, unknown];
    template.hasResource('AWS::Lambda::Alias', {
      Properties: {
        FunctionName: { Ref: fn },
        Name: 'live',
        FunctionVersion: { 'Fn::GetAtt': [versionId, 'Version'] },
      },
      UpdatePolicy: {
        CodeDeployLambdaAliasUpdate: {
          ApplicationName: { Ref: applicationId },
          DeploymentGroupName: { Ref: Match.stringLikeRegexp(`^Rollout${pascal(name)}`) },
        },
      },
    });
    expect(alias).toMatch(/Live/);
  });
});

describe('deployment groups', () => {
  it('one per function, in one application, with one CodeDeploy role', () => {
    template.resourceCountIs('AWS::CodeDeploy::DeploymentGroup', ENTRY_NAMES.length);
    const roles = new Set(
      resources(template, 'AWS::CodeDeploy::DeploymentGroup').map(([, group]) =>
        JSON.stringify(group.Properties?.ServiceRoleArn),
      ),
    );
    expect(roles.size).toBe(1);
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Principal: { Service: 'codedeploy.amazonaws.com' } })],
      },
      ManagedPolicyArns: [
        {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited',
            ],
          ],
        },
      ],
    });
  });

  it.each(ROUTES.map((route) => route.name))(
    '%s: canary 10% for 5 minutes by default, rolled back on its errors, duration, 5xx-rate or latency alarm',
    (name) => {
      const label = pascal(name);
      template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
        ApplicationName: { Ref: applicationId },
        DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
        DeploymentStyle: { DeploymentOption: 'WITH_TRAFFIC_CONTROL', DeploymentType: 'BLUE_GREEN' },
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: ['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_REQUEST', 'DEPLOYMENT_STOP_ON_ALARM'],
        },
        AlarmConfiguration: {
          Enabled: true,
          Alarms: [
            { Name: { Ref: alarmId(`Alarms${label}Errors`) } },
            { Name: { Ref: alarmId(`Alarms${label}NearTimeout`) } },
            { Name: { Ref: alarmId(`Alarms${label}5xxRate`) } },
            { Name: { Ref: alarmId(`Alarms${label}P99Latency`) } },
          ],
        },
      });
    },
  );

  it('the sweep and notFound roll back on their errors and duration alarms', () => {
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AlarmConfiguration: {
        Enabled: true,
        Alarms: [
          { Name: { Ref: alarmId('RetentionSweepErrorsAlarm') } },
          { Name: { Ref: alarmId('AlarmsSweepNearTimeout') } },
        ],
      },
    });
    template.hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      AlarmConfiguration: {
        Enabled: true,
        Alarms: [
          { Name: { Ref: alarmId('AlarmsNotFoundErrors') } },
          { Name: { Ref: alarmId('AlarmsNotFoundNearTimeout') } },
        ],
      },
    });
  });

  it.each([
    ['allAtOnce', 'CodeDeployDefault.LambdaAllAtOnce'],
    ['linear10PercentEvery1Minute', 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute'],
  ] as const)('deployment %s uses %s for every group', (style, configName) => {
    const custom = synthesize({ props: { deployment: style } }).whole;
    custom.allResourcesProperties('AWS::CodeDeploy::DeploymentGroup', { DeploymentConfigName: configName });
  });
});
