import { App, Duration, NestedStack, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { LambdaDeploymentGroup } from 'aws-cdk-lib/aws-codedeploy';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Alias, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_ROUTE, ROUTES } from '../../functions/routes.js';
import { appSettings } from '../../infra/context.js';
import { RoamingStack, type RoamingStackProps } from '../../infra/roaming-stack.js';
import { dependencyCycle } from './support/dependencies.js';
import { nestedStackResourceId, nestedStacksOf } from './support/nested.js';
import { cdkJsonContext, synthesize } from './support/stack.js';

/**
 * How the stack is split (infra/constructs/monitoring.ts, infra/constructs/admin-api.ts, docs/aws.md "Stack
 * layout"): CloudFormation refuses a template of more than 500 resources, 200 parameters or 200 outputs. Every
 * user route adds about 10 resources to the top-level stack and 5 alarms (4 outputs) to Monitoring, every admin
 * route 2 to the top-level stack (its route and log group) and 13 to AdminApi, so these budgets fail a test
 * routes before a deploy would fail.
 */
const RESOURCE_BUDGET = 400;
/** The top-level stack keeps room for the routes still to come (about 10 resources per user route). */
const TOP_LEVEL_RESOURCE_BUDGET = 330;
const PARAMETER_BUDGET = 160;
const OUTPUT_BUDGET = 160;

const ADMIN_ROUTES = new Set<string>(
  ROUTES.filter((route) => route.access === 'admin').map((route) => route.name),
);

type TemplateJson = {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: unknown }>;
  Parameters?: Record<string, unknown>;
  Outputs?: Record<string, { Value: unknown }>;
};

interface Size {
  stack: string;
  resources: number;
  parameters: number;
  outputs: number;
}

function sizes(stack: Stack): Size[] {
  const json = Template.fromStack(stack).toJSON() as TemplateJson;
  return [
    {
      stack: stack.node.path,
      resources: Object.keys(json.Resources).length,
      parameters: Object.keys(json.Parameters ?? {}).length,
      outputs: Object.keys(json.Outputs ?? {}).length,
    },
    ...nestedStacksOf(stack).flatMap(sizes),
  ];
}

function overBudget(all: Size[]): string[] {
  return all.flatMap((size, index) => [
    ...(size.resources > (index === 0 ? TOP_LEVEL_RESOURCE_BUDGET : RESOURCE_BUDGET)
      ? [`${size.stack}: ${size.resources} resources`]
      : []),
    ...(size.parameters > PARAMETER_BUDGET ? [`${size.stack}: ${size.parameters} parameters`] : []),
    ...(size.outputs > OUTPUT_BUDGET ? [`${size.stack}: ${size.outputs} outputs`] : []),
  ]);
}

function describeSizes(all: Size[]): string {
  return all
    .map(
      (size) =>
        `${size.stack}: ${size.resources} resources, ${size.parameters} parameters, ${size.outputs} outputs`,
    )
    .join('; ');
}

/** The committed dev stage, built as `npm run synth` builds it (without bundling). */
function devStack(): RoamingStack {
  const settings = appSettings(() => undefined, { CDK_DEFAULT_ACCOUNT: '111122223333' });
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  return new RoamingStack(app, settings.stackName, {
    ...settings.props,
    env: settings.env,
    tags: settings.tags,
  });
}

const EVENT_HOOKS = {
  webhookUrl: 'https://hooks.example.com/roaming/events',
  presendUrl: 'https://hooks.example.com/roaming/presend',
};

/** Every optional part that adds resources or alarms, on. */
const EVERYTHING_ON: Partial<RoamingStackProps> = {
  throughputCaps: { maxReadRequestUnits: 1000, maxWriteRequestUnits: 500 },
  alarms: {
    emails: ['oncall@example.org', 'lead@example.org'],
    slack: { workspaceId: 'T0123', channelId: 'C0456' },
  },
  contributorInsights: true,
  backup: {
    copy: { vaultArn: 'arn:aws:backup:eu-central-1:999999999999:backup-vault:copies', deleteAfterDays: 90 },
  },
  events: EVENT_HOOKS,
};

describe('resource budgets', () => {
  it.each([
    ['the dev stage', devStack],
    ['every option on', () => synthesize({ props: EVERYTHING_ON }).stack],
  ] as const)('%s: each template stays under its budget (resources, parameters, outputs)', (_, build) => {
    const all = sizes(build());
    const top = all[0]?.stack;
    expect(all.map((size) => size.stack)).toEqual([
      top,
      `${top}/Api/AdminApi`,
      `${top}/Events`,
      `${top}/Monitoring`,
    ]);
    expect(overBudget(all), describeSizes(all)).toEqual([]);
  });

  it('the budget check names the template and its count (the top-level one against its own budget)', () => {
    const all = [
      { stack: 'Top', resources: TOP_LEVEL_RESOURCE_BUDGET + 1, parameters: 0, outputs: 0 },
      { stack: 'Big', resources: RESOURCE_BUDGET + 1, parameters: 0, outputs: OUTPUT_BUDGET + 2 },
      { stack: 'Fits', resources: TOP_LEVEL_RESOURCE_BUDGET + 1, parameters: 0, outputs: 0 },
    ];
    expect(overBudget(all)).toEqual([
      `Top: ${TOP_LEVEL_RESOURCE_BUDGET + 1} resources`,
      `Big: ${RESOURCE_BUDGET + 1} resources`,
      `Big: ${OUTPUT_BUDGET + 2} outputs`,
    ]);
  });
});

describe('the Monitoring nested stack', () => {
  let stack: RoamingStack;
  let parent: TemplateJson;
  let monitoring: TemplateJson;
  let monitoringId: string;

  beforeAll(() => {
    const synthesized = synthesize();
    stack = synthesized.stack;
    parent = synthesized.template.toJSON() as TemplateJson;
    monitoring = synthesized.monitoring.toJSON() as TemplateJson;
    monitoringId = nestedStackResourceId(stack.monitoring);
  });

  const ofType = (template: TemplateJson, type: string) =>
    Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

  it('is one of the three nested stacks (with AdminApi and Events), deployed with the top-level stack', () => {
    expect(nestedStacksOf(stack)).toEqual([stack.api.adminApi, stack.events, stack.monitoring]);
    expect(parent.Resources[monitoringId]?.Type).toBe('AWS::CloudFormation::Stack');
  });

  it("holds every alarm but the sweep's four and the erasure's two (with their constructs at the top level); the topic, deployment groups, aliases and dashboard stay at the top level", () => {
    const topLevelAlarms = [...stack.retention.alarms, ...stack.erasure.alarms].map((alarm) =>
      stack.getLogicalId(alarm.node.defaultChild as never),
    );
    expect(
      ofType(parent, 'AWS::CloudWatch::Alarm')
        .map(([id]) => id)
        .sort(),
    ).toEqual([...topLevelAlarms].sort());
    expect(ofType(monitoring, 'AWS::CloudWatch::Alarm').length).toBe(stack.alarms.alarms.length - 4);
    expect(Object.values(monitoring.Resources).every((r) => r.Type === 'AWS::CloudWatch::Alarm')).toBe(true);
    for (const type of [
      'AWS::SNS::Topic',
      'AWS::KMS::Key',
      'AWS::CodeDeploy::DeploymentGroup',
      'AWS::Lambda::Alias',
      'AWS::CloudWatch::Dashboard',
    ]) {
      expect(ofType(parent, type).length, type).toBeGreaterThan(0);
    }
  });

  it('takes as parameters only what exists before any alias shifts: functions, the HTTP API, the table, the alarm topic', () => {
    const parameters = (parent.Resources[monitoringId]?.Properties?.Parameters ?? {}) as Record<
      string,
      unknown
    >;
    expect(Object.keys(parameters).sort()).toEqual(Object.keys(monitoring.Parameters ?? {}).sort());
    const types = new Set<string>();
    const functions = new Set<string>();
    for (const [name, value] of Object.entries(parameters)) {
      const ref = (value as { Ref?: string }).Ref;
      expect(ref, `parameter ${name} is not a Ref of a resource: ${JSON.stringify(value)}`).toBeDefined();
      const type = parent.Resources[ref as string]?.Type as string;
      types.add(type);
      if (type === 'AWS::Lambda::Function') functions.add(ref as string);
    }
    expect([...types].sort()).toEqual([
      'AWS::ApiGatewayV2::Api',
      'AWS::DynamoDB::Table',
      'AWS::Lambda::Function',
      'AWS::SNS::Topic',
    ]);
    // Every function with alarms: the user routes' functions, the 404 function and the sweep (the admin
    // routes' alarms are in AdminApi, with their functions).
    const alarmed = [
      ...[...stack.api.routeFunctions].filter(([name]) => !ADMIN_ROUTES.has(name)).map(([, fn]) => fn),
      stack.api.notFoundFunction,
      stack.retention.sweepFunction,
    ];
    expect([...functions].sort()).toEqual(
      alarmed.map((fn) => stack.getLogicalId(fn.function.node.defaultChild as never)).sort(),
    );
  });

  it('gives back only alarm names, read only by the deployment groups', () => {
    for (const [name, output] of Object.entries(monitoring.Outputs ?? {})) {
      const ref = (output.Value as { Ref?: string }).Ref as string;
      expect(monitoring.Resources[ref]?.Type, name).toBe('AWS::CloudWatch::Alarm');
    }
    const readers = new Set<string>();
    for (const [id, resource] of Object.entries(parent.Resources)) {
      if (JSON.stringify(resource).includes(`"Fn::GetAtt":["${monitoringId}"`)) readers.add(resource.Type);
      if (resource.Type === 'AWS::CodeDeploy::DeploymentGroup')
        expect(JSON.stringify(resource), id).toContain(monitoringId);
    }
    expect([...readers]).toEqual(['AWS::CodeDeploy::DeploymentGroup']);
  });

  it('no template has a dependency cycle, counting references in UpdatePolicy', () => {
    expect(dependencyCycle(parent)).toBeUndefined();
    expect(dependencyCycle(monitoring)).toBeUndefined();
    const dev = devStack();
    expect(dependencyCycle(Template.fromStack(dev).toJSON())).toBeUndefined();
    expect(dependencyCycle(Template.fromStack(dev.monitoring).toJSON())).toBeUndefined();
    expect(dependencyCycle(Template.fromStack(stack.api.adminApi).toJSON())).toBeUndefined();
    expect(dependencyCycle(Template.fromStack(dev.api.adminApi).toJSON())).toBeUndefined();
    expect(dependencyCycle(Template.fromStack(stack.events).toJSON())).toBeUndefined();
    expect(dependencyCycle(Template.fromStack(dev.events).toJSON())).toBeUndefined();
  });
});

describe('the AdminApi nested stack', () => {
  let stack: RoamingStack;
  let parent: TemplateJson;
  let admin: TemplateJson;
  let adminId: string;

  beforeAll(() => {
    const synthesized = synthesize();
    stack = synthesized.stack;
    parent = synthesized.template.toJSON() as TemplateJson;
    admin = Template.fromStack(stack.api.adminApi).toJSON() as TemplateJson;
    adminId = nestedStackResourceId(stack.api.adminApi);
  });

  const typesOf = (template: TemplateJson) =>
    Object.values(template.Resources).reduce<Record<string, number>>((counts, resource) => {
      counts[resource.Type] = (counts[resource.Type] ?? 0) + 1;
      return counts;
    }, {});
  const logicalId = (of: { node: { defaultChild?: unknown } }, within: Stack) =>
    within.getLogicalId(of.node.defaultChild as never);

  it("holds each admin route's function, role, policy, version, live alias, integration, invoke permission, five alarms and deployment group, and nothing else", () => {
    const n = ADMIN_ROUTES.size;
    expect(n).toBeGreaterThan(0);
    expect(typesOf(admin)).toEqual({
      'AWS::Lambda::Function': n,
      'AWS::IAM::Role': n,
      'AWS::IAM::Policy': n,
      'AWS::Lambda::Version': n,
      'AWS::Lambda::Alias': n,
      'AWS::ApiGatewayV2::Integration': n,
      'AWS::Lambda::Permission': n,
      'AWS::CloudWatch::Alarm': 5 * n,
      'AWS::CodeDeploy::DeploymentGroup': n,
    });
    const names = Object.values(admin.Resources)
      .filter((resource) => resource.Type === 'AWS::Lambda::Function')
      .map((resource) => String(resource.Properties?.Description).split(' ')[0]);
    expect(names.sort()).toEqual([...ADMIN_ROUTES].sort());
    expect([...stack.api.adminApi.routeFunctions.keys()].sort()).toEqual([...ADMIN_ROUTES].sort());
    for (const [name, fn] of stack.api.adminApi.routeFunctions) {
      expect(stack.rollout.groups.get(fn)?.node.scope?.node.scope, name).toBe(stack.api.adminApi);
    }
  });

  it("keeps at the top level every route (route keys are unique in an API), each admin function's log group, the authorizer, and no admin function", () => {
    const routeKeys = Object.values(parent.Resources)
      .filter((resource) => resource.Type === 'AWS::ApiGatewayV2::Route')
      .map((resource) => resource.Properties?.RouteKey);
    expect(routeKeys.sort()).toEqual(
      ['$default', ...[...ROUTES, HEALTH_ROUTE].map((route) => `${route.method} ${route.path}`)].sort(),
    );
    const topLevelFunctions = Object.values(parent.Resources)
      .filter((resource) => resource.Type === 'AWS::Lambda::Function')
      .map((resource) => String(resource.Properties?.Description).split(' ')[0] as string);
    expect(topLevelFunctions.length).toBeGreaterThan(0);
    expect(topLevelFunctions.filter((name) => ADMIN_ROUTES.has(name))).toEqual([]);
    expect(typesOf(parent)['AWS::ApiGatewayV2::Authorizer']).toBe(1);
    const parameters = (parent.Resources[adminId]?.Properties?.Parameters ?? {}) as Record<string, unknown>;
    for (const [name, fn] of stack.api.adminApi.routeFunctions) {
      const logGroupId = logicalId(fn.logGroup, stack);
      expect(parent.Resources[logGroupId]?.Type, name).toBe('AWS::Logs::LogGroup');
      // The function logs to it: its LoggingConfig names a parameter the parent fills with that log group.
      const config = admin.Resources[logicalId(fn.function, stack.api.adminApi)]?.Properties
        ?.LoggingConfig as {
        LogGroup: { Ref: string };
      };
      expect(parameters[config.LogGroup.Ref], name).toEqual({ Ref: logGroupId });
    }
  });

  it("takes as parameters only what exists before any alias shifts: the tables, the HTTP API, log groups, the alarm topic, CodeDeploy's application and role, the workers' functions, the export bucket", () => {
    const parameters = (parent.Resources[adminId]?.Properties?.Parameters ?? {}) as Record<string, unknown>;
    expect(Object.keys(parameters).sort()).toEqual(Object.keys(admin.Parameters ?? {}).sort());
    const types = new Set<string>();
    const functions = new Set<string>();
    const roles = new Set<string>();
    for (const [name, value] of Object.entries(parameters)) {
      const node = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      const id = node.Ref ?? node['Fn::GetAtt']?.[0];
      expect(
        id,
        `parameter ${name} is not a Ref or GetAtt of a resource: ${JSON.stringify(value)}`,
      ).toBeDefined();
      const type = parent.Resources[id as string]?.Type as string;
      types.add(type);
      if (type === 'AWS::Lambda::Function') functions.add(id as string);
      if (type === 'AWS::IAM::Role') roles.add(id as string);
    }
    expect([...types].sort()).toEqual([
      'AWS::ApiGatewayV2::Api',
      'AWS::CodeDeploy::Application',
      'AWS::DynamoDB::Table',
      'AWS::IAM::Role',
      'AWS::Lambda::Function',
      'AWS::Logs::LogGroup',
      'AWS::S3::Bucket',
      'AWS::SNS::Topic',
    ]);
    // The workers the admin routes start: each named by its function's ARN, never its alias.
    const workers = [
      stack.retention.sweepFunction,
      stack.exports.workerFunction,
      stack.erasure.erasureFunction,
    ];
    expect([...functions].sort()).toEqual(workers.map((fn) => logicalId(fn.function, stack)).sort());
    expect([...roles]).toEqual([logicalId(stack.rollout.role, stack)]);
  });

  it('gives back only the integration ids, read by the routes, and the function names, read by the dashboard', () => {
    const outputTypes = new Set<string>();
    for (const [name, output] of Object.entries(admin.Outputs ?? {})) {
      const ref = (output.Value as { Ref?: string }).Ref as string;
      expect(ref, name).toBeDefined();
      outputTypes.add(admin.Resources[ref]?.Type as string);
    }
    expect([...outputTypes].sort()).toEqual(['AWS::ApiGatewayV2::Integration', 'AWS::Lambda::Function']);
    const readers = new Set<string>();
    for (const resource of Object.values(parent.Resources)) {
      if (JSON.stringify(resource).includes(`"Fn::GetAtt":["${adminId}"`)) readers.add(resource.Type);
    }
    expect([...readers].sort()).toEqual(['AWS::ApiGatewayV2::Route', 'AWS::CloudWatch::Dashboard']);
    // Nothing it takes waits for Monitoring, and Monitoring takes nothing from it.
    const monitoringId = nestedStackResourceId(stack.monitoring);
    expect(JSON.stringify(parent.Resources[adminId])).not.toContain(monitoringId);
    expect(JSON.stringify(parent.Resources[monitoringId])).not.toContain(adminId);
  });
});

describe('the Events nested stack', () => {
  let stack: RoamingStack;
  let parent: TemplateJson;
  let events: TemplateJson;
  let eventsId: string;

  beforeAll(() => {
    // Everything on: the webhook's queue and sender, and the send route reading the signing secret.
    stack = synthesize({ props: { events: EVENT_HOOKS } }).stack;
    parent = Template.fromStack(stack).toJSON() as TemplateJson;
    events = Template.fromStack(stack.events).toJSON() as TemplateJson;
    eventsId = nestedStackResourceId(stack.events);
  });

  it('holds the pipes, the bus, the queues, the secret, its functions and their alarms; no new function or queue is at the top level', () => {
    const types = new Set(Object.values(events.Resources).map((resource) => resource.Type));
    for (const type of [
      'AWS::Pipes::Pipe',
      'AWS::Events::EventBus',
      'AWS::SQS::Queue',
      'AWS::SecretsManager::Secret',
      'AWS::Lambda::Function',
      'AWS::Lambda::EventSourceMapping',
      'AWS::CloudWatch::Alarm',
    ]) {
      expect(types.has(type), type).toBe(true);
    }
    const topLevelFunctions = Object.values(parent.Resources)
      .filter((resource) => resource.Type === 'AWS::Lambda::Function')
      .map((resource) => String(resource.Properties?.Description).split(' ')[0]);
    expect(topLevelFunctions).not.toContain('deliverEvents');
    expect(topLevelFunctions).not.toContain('eventsForBus');
    expect(Object.values(parent.Resources).some((resource) => resource.Type === 'AWS::Pipes::Pipe')).toBe(
      false,
    );
  });

  it('takes as parameters only the table (name, stream) and the alarm topic', () => {
    const parameters = (parent.Resources[eventsId]?.Properties?.Parameters ?? {}) as Record<string, unknown>;
    expect(Object.keys(parameters).sort()).toEqual(Object.keys(events.Parameters ?? {}).sort());
    const sources = new Set<string>();
    for (const value of Object.values(parameters)) {
      const node = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
      const id = node.Ref ?? node['Fn::GetAtt']?.[0];
      sources.add(`${parent.Resources[id as string]?.Type} ${node.Ref ? 'Ref' : node['Fn::GetAtt']?.[1]}`);
    }
    expect([...sources].sort()).toEqual([
      'AWS::DynamoDB::Table Ref',
      'AWS::DynamoDB::Table StreamArn',
      'AWS::SNS::Topic Ref',
    ]);
  });

  it('gives back the secret (the send route, the outputs) and names for the dashboard; Monitoring and AdminApi take nothing of it', () => {
    const readers = new Set<string>();
    for (const resource of Object.values(parent.Resources)) {
      if (JSON.stringify(resource).includes(`"Fn::GetAtt":["${eventsId}"`)) readers.add(resource.Type);
    }
    expect([...readers].sort()).toEqual([
      'AWS::CloudWatch::Dashboard',
      'AWS::IAM::Policy',
      'AWS::Lambda::Function',
    ]);
    for (const nested of [stack.monitoring, stack.api.adminApi]) {
      expect(JSON.stringify(parent.Resources[nestedStackResourceId(nested)])).not.toContain(eventsId);
    }
    expect(JSON.stringify(parent.Resources[eventsId])).not.toContain(nestedStackResourceId(stack.monitoring));
    expect(dependencyCycle(parent)).toBeUndefined();
    expect(dependencyCycle(events)).toBeUndefined();
  });
});

describe('the dependency cycle check', () => {
  /**
   * In miniature, what Retention.allowStart does: a starter function may invoke a worker's `live` alias, the
   * worker's deployment group is judged by an alarm in a nested stack, and that nested stack also watches
   * the starter function.
   */
  function starterAndWorker(grant: 'alias resource' | 'alias ARN from the function ARN'): TemplateJson {
    const app = new App({ context: cdkJsonContext() });
    const stack = new Stack(app, 'Miniature', { env: { account: '123456789012', region: 'eu-west-1' } });
    const fn = (id: string) =>
      new LambdaFunction(stack, id, {
        runtime: Runtime.NODEJS_22_X,
        handler: 'index.handler',
        code: Code.fromInline('exports.handler = async () => {}'),
      });
    const starter = fn('Starter');
    const worker = fn('Worker');
    const alias = new Alias(stack, 'WorkerLive', { aliasName: 'live', version: worker.currentVersion });
    if (grant === 'alias resource') alias.grantInvoke(starter);
    else {
      starter.addToRolePolicy(
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [`${worker.functionArn}:live`],
        }),
      );
    }
    const nested = new NestedStack(stack, 'Monitoring');
    const alarm = (id: string, of: LambdaFunction) =>
      new Alarm(nested, id, {
        metric: of.metricErrors({ period: Duration.minutes(5) }),
        threshold: 1,
        evaluationPeriods: 1,
      });
    alarm('StarterErrors', starter);
    new LambdaDeploymentGroup(stack, 'WorkerGroup', { alias, alarms: [alarm('WorkerErrors', worker)] });
    return Template.fromStack(stack).toJSON() as TemplateJson;
  }

  it("finds the cycle a grant on another function's alias resource makes, through the alias's UpdatePolicy", () => {
    const template = starterAndWorker('alias resource');
    const cycle = dependencyCycle(template);
    const types = new Set(cycle?.map((id) => template.Resources[id]?.Type));
    // Alias -(UpdatePolicy)-> group -(alarm name)-> nested stack -(function name)-> starter -(DependsOn)->
    // its policy -(Resource)-> alias. aws-cdk-lib/assertions' own check, which skips UpdatePolicy, passed it.
    expect(types).toEqual(
      new Set([
        'AWS::Lambda::Alias',
        'AWS::CodeDeploy::DeploymentGroup',
        'AWS::CloudFormation::Stack',
        'AWS::Lambda::Function',
        'AWS::IAM::Policy',
      ]),
    );
  });

  it("finds none when the grant names the alias by an ARN built from the function's (what allowStart does)", () => {
    expect(dependencyCycle(starterAndWorker('alias ARN from the function ARN'))).toBeUndefined();
  });
});
