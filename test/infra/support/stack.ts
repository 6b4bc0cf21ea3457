import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PROJECT_ROOT } from '../../../infra/paths.js';
import { RoamingStack, type RoamingStackProps } from '../../../infra/roaming-stack.js';
import { wholeTemplate } from '../../../infra/whole-template.js';

export const TEST_ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1';
export const TEST_AUDIENCE = ['test-app-client'];

/** The feature flags and settings of cdk.json, so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: object };
  return { ...cdkJson.context };
}

export interface Synthesized {
  app: App;
  stack: RoamingStack;
  /** The top-level stack's template. */
  template: Template;
  /** The Monitoring nested stack's template (the alarms). */
  monitoring: Template;
  /** The top-level template with the nested stacks spliced in, in its own terms (infra/whole-template.ts). */
  whole: Template;
}

/**
 * Synthesizes the stack once. Without `bundle`, asset bundling is skipped (the entries must still exist):
 * the template is the same apart from asset hashes, and synthesis takes about a second instead of esbuild per function.
 */
export function synthesize(
  options: { bundle?: boolean; props?: Partial<RoamingStackProps> } = {},
): Synthesized {
  const context = cdkJsonContext();
  if (options.bundle) context['aws:cdk:enable-asset-metadata'] = true;
  else context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ context });
  const stack = new RoamingStack(app, 'RoamingTest', {
    env: { account: '123456789012', region: 'eu-west-1' },
    jwtIssuer: TEST_ISSUER,
    jwtAudience: TEST_AUDIENCE,
    ...options.props,
  });
  return {
    app,
    stack,
    template: Template.fromStack(stack),
    monitoring: Template.fromStack(stack.monitoring),
    whole: wholeTemplate(stack),
  };
}

type Resource = { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> };
export type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

export function resources(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.findResources(type)) as [string, Resource][];
}

export function onlyResource(template: Template, type: string): [string, Resource] {
  const found = resources(template, type);
  if (found.length !== 1) throw new Error(`Expected one ${type}, found ${found.length}`);
  return found[0] as [string, Resource];
}

/** The sweep's dead-letter queue (the erasure has its own: infra/constructs/erasure.ts). */
export function sweepQueue(template: Template): [string, Resource] {
  const found = resources(template, 'AWS::SQS::Queue').filter(([id]) => id.startsWith('Retention'));
  if (found.length !== 1) throw new Error(`Expected one sweep queue, found ${found.length}`);
  return found[0] as [string, Resource];
}

/** Logical ids of the Lambda functions by entry name (each function's description starts with it). */
export function functionIds(template: Template): Map<string, string> {
  const ids = new Map<string, string>();
  for (const [id, resource] of resources(template, 'AWS::Lambda::Function')) {
    const name = String(resource.Properties?.Description ?? '').split(' ')[0] ?? '';
    if (ids.has(name)) throw new Error(`Two functions for ${name}`);
    ids.set(name, id);
  }
  return ids;
}

export function functionId(template: Template, name: string): string {
  const id = functionIds(template).get(name);
  if (!id) throw new Error(`No function for ${name}`);
  return id;
}

export function functionProps(template: Template, name: string): Record<string, unknown> {
  const id = functionId(template, name);
  return template.findResources('AWS::Lambda::Function')[id]?.Properties as Record<string, unknown>;
}

/** The logical id of a function's `live` alias. */
export function aliasIdOf(template: Template, functionLogicalId: string): string {
  const aliases = resources(template, 'AWS::Lambda::Alias').filter(
    ([, alias]) =>
      (alias.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref === functionLogicalId,
  );
  if (aliases.length !== 1)
    throw new Error(`Expected one alias of ${functionLogicalId}, found ${aliases.length}`);
  return (aliases[0] as [string, Resource])[0];
}

/** The logical id of the function behind an alias. */
export function functionOfAlias(template: Template, aliasId: string): string {
  const alias = template.findResources('AWS::Lambda::Alias')[aliasId];
  const fn = (alias?.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref;
  if (!fn) throw new Error(`${aliasId} is not an alias of a function of this stack`);
  return fn;
}

/** The index ARNs a grant names: one per index of functions/store/table.ts, never `index/*`. */
export function indexArns(tableLogicalId: string, indexNames: readonly string[]) {
  return indexNames.map((name) => ({ 'Fn::Join': ['', [getAtt(tableLogicalId), `/index/${name}`]] }));
}

/**
 * The logical id of the function an API route invokes (route -> integration -> the function's `live`
 * alias -> function).
 */
export function routeFunctionId(template: Template, routeKey: string): string {
  const routes = resources(template, 'AWS::ApiGatewayV2::Route').filter(
    ([, r]) => r.Properties?.RouteKey === routeKey,
  );
  if (routes.length !== 1) throw new Error(`Expected one route ${routeKey}, found ${routes.length}`);
  const target = (routes[0]?.[1].Properties?.Target ?? {}) as { 'Fn::Join'?: [string, unknown[]] };
  const integrationRef = target['Fn::Join']?.[1]?.[1] as { Ref?: string } | undefined;
  const integration = integrationRef?.Ref
    ? template.findResources('AWS::ApiGatewayV2::Integration')[integrationRef.Ref]
    : undefined;
  const uri = integration?.Properties?.IntegrationUri as { Ref?: string } | undefined;
  if (!uri?.Ref) throw new Error(`Route ${routeKey} does not integrate an alias of this stack`);
  return functionOfAlias(template, uri.Ref);
}

/** The logical id of the role a function runs as. */
export function roleIdOf(template: Template, functionLogicalId: string): string {
  const fn = template.findResources('AWS::Lambda::Function')[functionLogicalId];
  const role = fn?.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
  const id = role?.['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`Function ${functionLogicalId} has no role of this stack`);
  return id;
}

/** Every statement of every policy attached to a role (AWS::IAM::Policy resources and inline policies). */
export function roleStatements(template: Template, roleId: string): Statement[] {
  const statements: Statement[] = [];
  for (const [, policy] of resources(template, 'AWS::IAM::Policy')) {
    const roles = (policy.Properties?.Roles ?? []) as { Ref?: string }[];
    if (!roles.some((role) => role.Ref === roleId)) continue;
    statements.push(...policyStatements(policy.Properties?.PolicyDocument));
  }
  const role = template.findResources('AWS::IAM::Role')[roleId];
  for (const inline of (role?.Properties?.Policies ?? []) as { PolicyDocument: unknown }[]) {
    statements.push(...policyStatements(inline.PolicyDocument));
  }
  return statements;
}

export function allStatements(template: Template): Statement[] {
  const statements: Statement[] = [];
  for (const [, policy] of resources(template, 'AWS::IAM::Policy')) {
    statements.push(...policyStatements(policy.Properties?.PolicyDocument));
  }
  for (const [, role] of resources(template, 'AWS::IAM::Role')) {
    for (const inline of (role.Properties?.Policies ?? []) as { PolicyDocument: unknown }[]) {
      statements.push(...policyStatements(inline.PolicyDocument));
    }
  }
  return statements;
}

function policyStatements(document: unknown): Statement[] {
  return ((document as { Statement?: Statement[] } | undefined)?.Statement ?? []) as Statement[];
}

export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: Statement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

export function getAtt(logicalId: string, attribute = 'Arn') {
  return { 'Fn::GetAtt': [logicalId, attribute] };
}

/** The logical id of the message table (the one with the indexes). */
export function messageTableId(template: Template): string {
  const found = resources(template, 'AWS::DynamoDB::Table').filter(
    ([, table]) => table.Properties?.GlobalSecondaryIndexes !== undefined,
  );
  if (found.length !== 1) throw new Error(`Expected one table with indexes, found ${found.length}`);
  return (found[0] as [string, Resource])[0];
}

/** The logical id of the audit trail's table. */
export function auditTableId(template: Template): string {
  const found = resources(template, 'AWS::DynamoDB::Table').filter(([id]) => id.startsWith('DataAuditTable'));
  if (found.length !== 1) throw new Error(`Expected one audit table, found ${found.length}`);
  return (found[0] as [string, Resource])[0];
}
