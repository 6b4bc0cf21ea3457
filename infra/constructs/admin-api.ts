import { NestedStack, Stack } from 'aws-cdk-lib';
import {
  HttpApi,
  HttpIntegration,
  HttpIntegrationType,
  HttpRouteIntegration,
  type HttpRouteIntegrationConfig,
  type IHttpApi,
  PayloadFormatVersion,
} from 'aws-cdk-lib/aws-apigatewayv2';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { RouteName, RouteSpec } from '../../functions/routes.js';
import { functionAlarms, routeAlarms } from './alarms.js';
import { HandlerFunction, type HandlerFunctionProps } from './handler-function.js';
import type { Rollout } from './rollout.js';

/** The routes whose functions are in AdminApi: the admin routes (`access: 'admin'`). */
export function inAdminApi(route: RouteSpec): boolean {
  return route.access === 'admin';
}

export interface AdminApiProps {
  /** The HTTP API the top-level stack makes: its id (integrations, invoke permissions, route metrics). */
  readonly httpApiId: string;
  /** Its stage's name (the route metrics' `Stage` dimension). */
  readonly stageName: string;
}

interface AdminRoute {
  readonly name: RouteName;
  readonly spec: RouteSpec;
  readonly handler: HandlerFunction;
}

/**
 * The admin routes' functions in a nested stack of their own, deployed with the top-level stack by the same
 * `cdk deploy` (CloudFormation's 500 resources per template; test/infra/stack-layout.test.ts keeps the
 * budgets). Each admin route brings here its function, role, policy, version, `live` alias, integration,
 * invoke permission, its five alarms and its CodeDeploy deployment group: everything from the function to
 * the integration, one chain that no other stack reads in between.
 *
 * The top-level stack keeps the HTTP API, the JWT authorizer, each admin route itself (a route key is
 * unique in its API: a route moved to another stack would be created before the old one is deleted, and
 * refused) and each admin function's log group (the same log group before and after the move: the admin
 * actions' logs stay), the alarm topic and the CodeDeploy application and role. It passes in their names and
 * ARNs, and the workers' functions' ARNs (the starters name each worker's `live` alias by an ARN built from
 * the function's, HandlerFunction.liveAliasArn). It reads back only the integrations' ids (its routes name
 * them) and the functions' names (the dashboard). Nothing AdminApi takes depends on an alias, a deployment
 * group, a route or Monitoring, so the order is table, API, log groups, topic, workers -> AdminApi ->
 * routes, stage, dashboard: no cycle (docs/aws.md "Stack layout").
 */
export class AdminApi extends NestedStack {
  /** The admin routes' functions, by route name. */
  readonly routeFunctions = new Map<RouteName, HandlerFunction>();
  /** Per admin route: [5xx rate, p99 latency] (after `watch`). */
  readonly routeAlarms = new Map<RouteName, readonly Alarm[]>();
  /** Every alarm here (after `watch`). */
  readonly alarms: Alarm[] = [];
  private readonly httpApi: IHttpApi;
  private readonly stageName: string;
  private readonly routes: AdminRoute[] = [];
  private watched = false;

  constructor(scope: Construct, id: string, props: AdminApiProps) {
    super(scope, id, {
      description: 'Roaming: the admin routes (a nested stack of the Roaming stack, deployed with it)',
    });
    this.httpApi = HttpApi.fromHttpApiAttributes(this, 'HttpApi', { httpApiId: props.httpApiId });
    this.stageName = props.stageName;
  }

  /**
   * An admin route's function, with the integration that invokes its `live` alias (payload 2.0) and the
   * permission to, from this API's route only. Returns the function and the integration to give the route
   * in the top-level stack.
   */
  addRoute(
    name: RouteName,
    spec: RouteSpec,
    id: string,
    props: HandlerFunctionProps,
  ): { handler: HandlerFunction; integration: HttpRouteIntegration } {
    if (!inAdminApi(spec)) throw new Error(`${name} is not an admin route`);
    const handler = new HandlerFunction(this, id, props);
    const integration = new HttpIntegration(this, `${id}Integration`, {
      httpApi: this.httpApi,
      integrationType: HttpIntegrationType.AWS_PROXY,
      integrationUri: handler.alias.functionArn,
      payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
    });
    // What HttpLambdaIntegration grants: API Gateway may invoke the alias, for this API and path only.
    handler.alias.addPermission(`${id}Invoke`, {
      principal: new ServicePrincipal('apigateway.amazonaws.com'),
      sourceArn: Stack.of(this).formatArn({
        service: 'execute-api',
        resource: this.httpApi.apiId,
        resourceName: `*/*${spec.path}`,
      }),
    });
    this.routeFunctions.set(name, handler);
    this.routes.push({ name, spec, handler });
    return { handler, integration: new IntegrationOfAnotherStack(integration.integrationId) };
  }

  /**
   * Each admin route's alarms (as Monitoring's for a user route: 5xx rate, p99 latency, errors, throttles,
   * near timeout), notifying `topic`, and its deployment group (in `rollout`'s application, with its role),
   * which rolls back on the errors, near-timeout, 5xx and latency alarms. Once, after every route is added.
   */
  watch(topic: ITopic, rollout: Rollout): void {
    if (this.watched) throw new Error('AdminApi.watch: called twice');
    this.watched = true;
    const alarmScope = new Construct(this, 'Alarms');
    const groupScope = new Construct(this, 'Rollout');
    const api = { apiId: this.httpApi.apiId, stageName: this.stageName };
    const action = new SnsAction(topic);
    for (const { name, spec, handler } of this.routes) {
      const onRoute = routeAlarms(alarmScope, api, name, spec);
      const { errors, throttles, duration } = functionAlarms(alarmScope, handler);
      this.routeAlarms.set(name, onRoute);
      this.alarms.push(...onRoute, errors, throttles, duration);
      rollout.addGroup(groupScope, handler, [errors, duration, ...onRoute]);
    }
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}

/**
 * A route's integration made in another stack, by its id: HttpRoute asks its integration to bind (which
 * would make a new integration in the route's stack); this one answers with the id it was given, which CDK
 * reads from the nested stack's outputs.
 */
class IntegrationOfAnotherStack extends HttpRouteIntegration {
  private readonly integrationId: string;

  constructor(integrationId: string) {
    super('IntegrationOfAnotherStack');
    this.integrationId = integrationId;
  }

  override _bindToRoute(): { readonly integrationId: string } {
    return { integrationId: this.integrationId };
  }

  bind(): HttpRouteIntegrationConfig {
    throw new Error('An integration of another stack is bound by its id only');
  }
}
