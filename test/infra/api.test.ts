import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_ROUTE, ROUTES } from '../../functions/routes.js';
import {
  actionsOf,
  functionId,
  onlyResource,
  resources,
  roleIdOf,
  roleStatements,
  routeFunctionId,
  synthesize,
  TEST_AUDIENCE,
  TEST_ISSUER,
} from './support/stack.js';

let template: Template;
let authorizerId: string;
let apiId: string;

beforeAll(() => {
  template = synthesize().whole;
  authorizerId = onlyResource(template, 'AWS::ApiGatewayV2::Authorizer')[0];
  apiId = onlyResource(template, 'AWS::ApiGatewayV2::Api')[0];
});

describe('the HTTP API', () => {
  it('verifies tokens with a JWT authorizer for the configured issuer and audience', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: { Ref: apiId },
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: TEST_ISSUER, Audience: TEST_AUDIENCE },
    });
  });

  it('has exactly one route per entry of ROUTES, plus GET /health and $default', () => {
    const keys = resources(template, 'AWS::ApiGatewayV2::Route').map(
      ([, route]) => route.Properties?.RouteKey,
    );
    expect(keys.sort()).toEqual(
      [...ROUTES.map((route) => `${route.method} ${route.path}`), 'GET /health', '$default'].sort(),
    );
  });

  it('GET /health has no authorizer and invokes its own function', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'GET /health',
      AuthorizationType: 'NONE',
      AuthorizerId: Match.absent(),
      AuthorizationScopes: Match.absent(),
    });
    expect(routeFunctionId(template, 'GET /health')).toBe(functionId(template, HEALTH_ROUTE.name));
  });

  it("GET /health's function may only read the key it probes, and is not any route's function", () => {
    const healthId = functionId(template, HEALTH_ROUTE.name);
    const roleId = roleIdOf(template, healthId);
    const tableStatements = roleStatements(template, roleId).filter((statement) =>
      actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
    );
    expect(tableStatements).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: expect.anything(),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH'] } },
      },
    ]);
    for (const route of ROUTES) {
      expect(routeFunctionId(template, `${route.method} ${route.path}`)).not.toBe(healthId);
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TABLE_NAME: Match.anyValue() }) },
      Description: Match.stringLikeRegexp('^health '),
    });
  });

  it.each(ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))(
    '%s is JWT-authorized and invokes its own function',
    (routeKey, route) => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: routeKey,
        AuthorizationType: 'JWT',
        AuthorizerId: { Ref: authorizerId },
        AuthorizationScopes: route.access === 'admin' ? ['roaming/admin'] : ['roaming/user'],
      });
      expect(routeFunctionId(template, routeKey)).toBe(functionId(template, route.name));
    },
  );

  it('requires the roaming/admin scope on exactly the admin routes, roaming/user on every other route', () => {
    const scopesByRoute = new Map(
      resources(template, 'AWS::ApiGatewayV2::Route').map(([, route]) => [
        route.Properties?.RouteKey,
        route.Properties?.AuthorizationScopes,
      ]),
    );
    const admin = ROUTES.filter((route) => route.access === 'admin');
    expect(admin.length).toBeGreaterThan(0);
    for (const route of ROUTES) {
      expect(scopesByRoute.get(`${route.method} ${route.path}`), route.name).toEqual([
        route.access === 'admin' ? 'roaming/admin' : 'roaming/user',
      ]);
    }
    // $default (404 in the API's format) and GET /health need no scope.
    expect(scopesByRoute.get('$default')).toBeUndefined();
    expect(scopesByRoute.get('GET /health')).toBeUndefined();
  });

  it("takes the user scope's name from userScope (a Cognito resource server's scope), and refuses a malformed one", () => {
    const custom = synthesize({
      props: { api: { userScope: 'https://api.example.com/chat.user' } },
    }).whole;
    const user = ROUTES.filter((route) => route.access === 'user');
    for (const route of user) {
      custom.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `${route.method} ${route.path}`,
        AuthorizationScopes: ['https://api.example.com/chat.user'],
      });
    }
    expect(() => synthesize({ props: { api: { userScope: 'two scopes' } } })).toThrow(
      /userScope must be one scope/,
    );
  });

  it('sends any other request, authorized, to the notFound function', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: '$default',
      AuthorizationType: 'JWT',
      AuthorizerId: { Ref: authorizerId },
      AuthorizationScopes: Match.absent(),
    });
    expect(routeFunctionId(template, '$default')).toBe(functionId(template, 'notFound'));
  });

  it('invokes every function with the version 2.0 payload', () => {
    const integrations = resources(template, 'AWS::ApiGatewayV2::Integration');
    expect(integrations).toHaveLength(ROUTES.length + 2);
    for (const [, integration] of integrations) {
      expect(integration.Properties).toMatchObject({
        IntegrationType: 'AWS_PROXY',
        PayloadFormatVersion: '2.0',
      });
    }
  });

  it('throttles and access-logs the auto-deployed default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      ApiId: { Ref: apiId },
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: 100,
        ThrottlingBurstLimit: 200,
        DetailedMetricsEnabled: true,
      },
      RouteSettings: Match.absent(),
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
        Format: Match.anyValue(),
      },
    });
    const [, stage] = onlyResource(template, 'AWS::ApiGatewayV2::Stage');
    const format = (stage.Properties?.AccessLogSettings as { Format?: string } | undefined)?.Format ?? '';
    expect(JSON.parse(format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
  });

  it('has CORS disabled by default', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'HTTP',
      CorsConfiguration: Match.absent(),
    });
  });

  it('outputs the API URL', () => {
    template.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [apiId, 'ApiEndpoint'] } });
  });
});

describe('the HTTP API with options', () => {
  let custom: Template;

  beforeAll(() => {
    custom = synthesize({
      props: {
        api: {
          corsAllowedOrigins: ['https://app.example.com'],
          throttlingRateLimit: 25,
          throttlingBurstLimit: 50,
          routeThrottles: {
            sendMessage: { rateLimit: 10, burstLimit: 20 },
            startSweep: { rateLimit: 1, burstLimit: 2 },
          },
        },
      },
    }).whole;
  });

  it('allows the configured origins with the headers and methods the routes use', () => {
    custom.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com'],
        AllowHeaders: Match.arrayWith(['authorization', 'content-type']),
        AllowMethods: Match.arrayWith(['GET', 'POST', 'PUT', 'DELETE']),
      },
    });
  });

  it('applies the stage throttling limits', () => {
    custom.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 25, ThrottlingBurstLimit: 50 },
    });
  });

  it('applies per-route throttling to exactly the configured routes, once those routes exist', () => {
    custom.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: {
        'POST /v1/messages': {
          ThrottlingRateLimit: 10,
          ThrottlingBurstLimit: 20,
          DetailedMetricsEnabled: true,
        },
        'POST /v1/admin/sweeps': {
          ThrottlingRateLimit: 1,
          ThrottlingBurstLimit: 2,
          DetailedMetricsEnabled: true,
        },
      },
    });
    const [, stage] = onlyResource(custom, 'AWS::ApiGatewayV2::Stage');
    const routeIds = resources(custom, 'AWS::ApiGatewayV2::Route')
      .filter(([, route]) =>
        ['POST /v1/messages', 'POST /v1/admin/sweeps'].includes(String(route.Properties?.RouteKey)),
      )
      .map(([id]) => id);
    expect(routeIds).toHaveLength(2);
    expect((stage as { DependsOn?: string[] }).DependsOn).toEqual(expect.arrayContaining(routeIds));
  });

  it('refuses a throttle for a route that does not exist', () => {
    expect(() =>
      synthesize({ props: { api: { routeThrottles: { nope: { rateLimit: 1, burstLimit: 1 } } as never } } }),
    ).toThrow(/routeThrottles: no route named nope/);
  });
});
