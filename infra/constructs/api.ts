import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CfnStage,
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  type HttpRoute,
  type HttpRouteIntegration,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { ADMIN_SCOPE, DEFAULT_USER_SCOPE } from '../../functions/http/caller.js';
import { HEALTH_ROUTE, ROUTES, type RouteName, type RouteSpec } from '../../functions/routes.js';
import { withRequestBudget } from '../../functions/store-access.js';
import { AdminApi, inAdminApi } from './admin-api.js';
import { type HandlerDefaults, HandlerFunction, type HandlerFunctionProps } from './handler-function.js';

/** HTTP API integrations give up after 30 s, so a route function must finish before that. */
const MAX_ROUTE_TIMEOUT = Duration.seconds(29);

/** One JSON line per request (no token claims): for CloudWatch Logs Insights. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    time: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    routeKey: '$context.routeKey',
    status: '$context.status',
    responseLength: '$context.responseLength',
    latencyMs: '$context.responseLatency',
    integrationLatencyMs: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
    authorizerError: '$context.authorizer.error',
  }),
);

/** A token bucket: steady requests per second and the burst accepted at once. */
export interface RouteThrottle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

/**
 * Reserved concurrency of the API's functions: each function's own share of the account's concurrency,
 * which no other function can take (so a flood of one route, say one user's loop of cheap GETs, cannot
 * starve the others) and beyond which Lambda throttles that function alone.
 */
export interface ReservedConcurrency {
  /** Each user route's function. */
  readonly userRoute: number;
  /** Each admin route's function (rare calls: a small share). */
  readonly adminRoute: number;
  /** GET /health's function and the `$default` (404) function, each. */
  readonly unrouted: number;
  /** Routes that need more (or less) than their kind's share, by name. */
  readonly routes?: Partial<Record<RouteName, number>>;
}

export const DEFAULT_RESERVED_CONCURRENCY: ReservedConcurrency = {
  userRoute: 10,
  adminRoute: 2,
  unrouted: 2,
};

/** The routes whose functions are traced with X-Ray (the send path and the start of a sweep). */
export const TRACED_ROUTES: readonly RouteName[] = ['sendMessage', 'startSweep'];

/** The API's tunable settings (the stack passes them through). */
export interface ApiOptions {
  /**
   * Origins allowed to call the API from a browser (CORS). API Gateway answers the preflight itself.
   * @default - CORS disabled
   */
  readonly corsAllowedOrigins?: string[];
  /**
   * Steady-state requests per second of the default stage, over all routes.
   * @default 100
   */
  readonly throttlingRateLimit?: number;
  /**
   * Burst capacity of the default stage (token bucket size): requests accepted at once before the rate applies.
   * @default 200
   */
  readonly throttlingBurstLimit?: number;
  /**
   * Limits of single routes, by route name, below the stage's (e.g. a lower rate for sends or admin routes).
   * @default - every route has the stage's limits
   */
  readonly routeThrottles?: Partial<Record<RouteName, RouteThrottle>>;
  /**
   * The scope a token needs for the user routes (admin routes need `roaming/admin`): with Cognito, a
   * resource server's custom scope (`{identifier}/{scope}`). A token without it gets 403 from API Gateway.
   * @default 'roaming/user'
   */
  readonly userScope?: string;
  /**
   * Reserved concurrency of each route function, GET /health's and the 404 function's (their sum, plus
   * the sweep's and the 100 Lambda keeps unreserved, must fit the account's quota).
   * @default DEFAULT_RESERVED_CONCURRENCY (user routes 10, admin routes 2, health and 404: 2)
   */
  readonly reservedConcurrency?: ReservedConcurrency;
  /**
   * Memory of each route function, in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Timeout of each route function; at most 29 seconds (the HTTP API integration limit).
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
}

export interface ApiProps extends ApiOptions {
  readonly defaults: HandlerDefaults;
  /**
   * The HMAC key of the idempotency records: every function whose route keeps such records
   * (`keepsRetryRecords`) gets it as ROAMING_IDEMPOTENCY_KEY, and no other function does.
   */
  readonly idempotencyKey: ISecret;
  /** The issuer URL of the tokens (the `iss` claim); API Gateway reads its OIDC discovery document. */
  readonly jwtIssuer: string;
  /** Accepted audiences: a token's `aud` (or, for Cognito access tokens, `client_id`) must be one of them. */
  readonly jwtAudience: readonly string[];
}

/**
 * The HTTP API: one function and one JWT-authorized route per entry of ROUTES (user routes require the user
 * scope, `roaming/user` by default, admin routes the `roaming/admin` scope), `GET /health` without an authorizer, a `$default` route that answers 404 in the API's error format, and a throttled,
 * access-logged default stage.
 */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  /** The admin routes' functions, their alarms and deployment groups: a nested stack (constructs/admin-api.ts). */
  readonly adminApi: AdminApi;
  /** The route functions, by route name (the admin routes' are in `adminApi`). */
  readonly routeFunctions: ReadonlyMap<RouteName, HandlerFunction>;
  readonly notFoundFunction: HandlerFunction;
  /** The route specs, by route name (ROUTES). */
  readonly routeSpecs: ReadonlyMap<RouteName, RouteSpec>;
  /** GET /health's function: no authorizer, read access to the table. */
  readonly healthFunction: HandlerFunction;
  /** GET /health's route: the one route without an authorizer. */
  readonly healthRoute: HttpRoute;
  /** The concurrency reserved by all of the API's functions together. */
  readonly reservedConcurrencyTotal: number;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    validate(props);
    const userScope = props.userScope ?? DEFAULT_USER_SCOPE;
    const reserved = props.reservedConcurrency ?? DEFAULT_RESERVED_CONCURRENCY;
    let reservedTotal = 0;
    const reserve = (concurrency: number) => {
      reservedTotal += concurrency;
      return { reservedConcurrentExecutions: concurrency };
    };
    const functionSettings = {
      defaults: props.defaults,
      memorySize: props.memorySize,
      timeout: props.timeout,
    };

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: [...props.jwtAudience],
    });
    this.notFoundFunction = new HandlerFunction(this, 'NotFound', {
      ...functionSettings,
      entryName: 'notFound',
      description: 'notFound ($default): 404 for any other route',
      options: reserve(reserved.unrouted),
    });
    const origins = props.corsAllowedOrigins ?? [];
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Roaming: message roaming API',
      createDefaultStage: false,
      defaultAuthorizer: authorizer,
      defaultIntegration: new HttpLambdaIntegration('NotFoundIntegration', this.notFoundFunction.alias),
      corsPreflight:
        origins.length === 0
          ? undefined
          : {
              allowOrigins: origins,
              allowMethods: [
                CorsHttpMethod.GET,
                CorsHttpMethod.POST,
                CorsHttpMethod.PUT,
                CorsHttpMethod.PATCH,
                CorsHttpMethod.DELETE,
                CorsHttpMethod.OPTIONS,
              ],
              allowHeaders: ['authorization', 'content-type'],
              maxAge: Duration.hours(1),
            },
    });

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.defaults.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      // Route-level metrics (5xx, Count, Latency per route): the per-route alarms read them.
      detailedMetricsEnabled: true,
      throttle: {
        rateLimit: props.throttlingRateLimit ?? 100,
        burstLimit: props.throttlingBurstLimit ?? 200,
      },
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: ACCESS_LOG_FORMAT },
    });

    const routeFunctions = new Map<RouteName, HandlerFunction>();
    const routeSpecs = new Map<RouteName, RouteSpec>();
    // CloudFormation's RouteSettings is a JSON map of route key to settings, in its own (Pascal) case.
    const routeSettings: Record<string, Record<string, number | boolean>> = {};
    // The admin routes' functions are in a nested stack (CloudFormation's 500 resources per template); their
    // routes are here with the others (constructs/admin-api.ts).
    this.adminApi = new AdminApi(this, 'AdminApi', {
      httpApiId: this.httpApi.apiId,
      stageName: this.stage.stageName,
    });
    for (const route of ROUTES) {
      const constructId = pascalCase(route.name);
      const handlerProps: HandlerFunctionProps = {
        ...functionSettings,
        entryName: route.name,
        description: `${route.name} (${route.method} ${route.path})`,
        store: withRequestBudget(route.store),
        tracing: TRACED_ROUTES.includes(route.name),
        options: reserve(
          reserved.routes?.[route.name] ??
            (route.access === 'admin' ? reserved.adminRoute : reserved.userRoute),
        ),
      };
      let handler: HandlerFunction;
      let integration: HttpRouteIntegration;
      if (inAdminApi(route)) {
        // Its log group stays where it always was, `Api/{Route}/LogGroup` here: the same log group.
        const logGroup = HandlerFunction.createLogGroup(new Construct(this, constructId), props.defaults);
        ({ handler, integration } = this.adminApi.addRoute(route.name, route, constructId, {
          ...handlerProps,
          logGroup,
        }));
      } else {
        handler = new HandlerFunction(this, constructId, handlerProps);
        integration = new HttpLambdaIntegration(`${constructId}Integration`, handler.alias);
      }
      if ((route as RouteSpec).keepsRetryRecords) {
        // Resolved by CloudFormation at deploy time (a dynamic reference): the key is never in the template.
        handler.function.addEnvironment(
          'ROAMING_IDEMPOTENCY_KEY',
          props.idempotencyKey.secretValue.unsafeUnwrap(),
        );
      }
      const [httpRoute] = this.httpApi.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        authorizationScopes: [route.access === 'admin' ? ADMIN_SCOPE : userScope],
      }) as [HttpRoute];
      const limits = props.routeThrottles?.[route.name];
      if (limits) {
        routeSettings[`${route.method} ${route.path}`] = {
          ThrottlingRateLimit: limits.rateLimit,
          ThrottlingBurstLimit: limits.burstLimit,
          DetailedMetricsEnabled: true,
        };
        // A route's settings name its route key, which must exist before the stage is updated.
        this.stage.node.addDependency(httpRoute);
      }
      routeFunctions.set(route.name, handler);
      routeSpecs.set(route.name, route);
    }
    if (Object.keys(routeSettings).length > 0) {
      (this.stage.node.defaultChild as CfnStage).routeSettings = routeSettings;
    }
    this.routeFunctions = routeFunctions;
    this.routeSpecs = routeSpecs;

    // "Ready?" for load balancers and scripts: no token, so no authorizer; it answers only ok or 503.
    this.healthFunction = new HandlerFunction(this, 'Health', {
      ...functionSettings,
      entryName: HEALTH_ROUTE.name,
      description: `${HEALTH_ROUTE.name} (${HEALTH_ROUTE.method} ${HEALTH_ROUTE.path}): 200 when the store answers`,
      store: HEALTH_ROUTE.store,
      options: reserve(reserved.unrouted),
    });
    this.reservedConcurrencyTotal = reservedTotal;
    [this.healthRoute] = this.httpApi.addRoutes({
      path: HEALTH_ROUTE.path,
      methods: [HttpMethod[HEALTH_ROUTE.method]],
      integration: new HttpLambdaIntegration('HealthIntegration', this.healthFunction.alias),
      authorizer: new HttpNoneAuthorizer(),
    }) as [HttpRoute];
  }

  /** The function behind a route. */
  routeFunction(name: RouteName): HandlerFunction {
    const handler = this.routeFunctions.get(name);
    if (!handler) throw new Error(`No route function named ${name}`);
    return handler;
  }
}

function validate(props: ApiProps): void {
  if (!Token.isUnresolved(props.jwtIssuer) && !/^https:\/\/[^/\s]+/.test(props.jwtIssuer)) {
    throw new Error(`jwtIssuer must be an https URL, got "${props.jwtIssuer}"`);
  }
  if (props.jwtAudience.length === 0 || props.jwtAudience.some((audience) => audience.trim() === '')) {
    throw new Error('jwtAudience must list at least one non-empty audience');
  }
  if (props.userScope !== undefined && !/^[!#-[\]-~]+$/.test(props.userScope)) {
    throw new Error(`userScope must be one scope (printable, no spaces or quotes), got "${props.userScope}"`);
  }
  if (props.timeout && props.timeout.toMilliseconds() > MAX_ROUTE_TIMEOUT.toMilliseconds()) {
    throw new Error(
      `The route function timeout must be at most 29 seconds, got ${props.timeout.toHumanString()}`,
    );
  }
  for (const [name, limits] of Object.entries(props.routeThrottles ?? {})) {
    if (!ROUTES.some((route) => route.name === name))
      throw new Error(`routeThrottles: no route named ${name}`);
    if (!(limits && limits.rateLimit > 0 && Number.isInteger(limits.burstLimit) && limits.burstLimit > 0)) {
      throw new Error(`routeThrottles.${name} needs a positive rateLimit and a positive integer burstLimit`);
    }
  }
  const reserved = props.reservedConcurrency;
  if (reserved) {
    const shares = [
      reserved.userRoute,
      reserved.adminRoute,
      reserved.unrouted,
      ...Object.values(reserved.routes ?? {}),
    ];
    if (!shares.every((share) => Number.isInteger(share) && (share as number) >= 1)) {
      throw new Error(
        `reservedConcurrency: every share must be an integer of at least 1, got ${JSON.stringify(reserved)}`,
      );
    }
    for (const name of Object.keys(reserved.routes ?? {})) {
      if (!ROUTES.some((route) => route.name === name))
        throw new Error(`reservedConcurrency.routes: no route named ${name}`);
    }
  }
  const { throttlingRateLimit: rate, throttlingBurstLimit: burst } = props;
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
    throw new Error(`throttlingRateLimit must be a positive number, got ${rate}`);
  }
  if (burst !== undefined && !(Number.isInteger(burst) && burst > 0)) {
    throw new Error(`throttlingBurstLimit must be a positive integer, got ${burst}`);
  }
}

function pascalCase(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
