import { readFileSync } from 'node:fs';
import * as z from 'zod/mini';
import type { LimitName } from '../core/errors.js';
import { DEFAULT_CONFIG, type Deps } from '../domain/deps.js';
import { HANDLER_FACTORIES } from '../handlers/registry.js';
import { ADMIN_SCOPE, DEFAULT_USER_SCOPE } from '../http/caller.js';
import { contractOf, type EndpointContract, MAX_BODY_BYTES } from '../http/endpoint.js';
import { errorSchema } from '../http/responses.js';
import { HEALTH_ROUTE, ROUTES, type RouteName, type RouteSpec } from '../routes.js';
import { createDeps } from '../runtime.js';
import { exampleOf, type JsonSchema, SchemaCollector } from './json-schema.js';
import { PARAMETER_DOCS, ROUTE_DOCS, type RouteDoc, tagOf } from './route-docs.js';

/**
 * The OpenAPI 3.1 document of the API, generated from the route table (functions/routes.ts) and the
 * zod schemas each route's endpoint() declares (its input, and its answers by status), so a new route
 * appears here without edits. Build-time only: no Lambda bundle imports this.
 */
export const LOCAL_SERVER_URL = 'http://127.0.0.1:3000';

/** The errors the API answers, and the code each status carries. */
const ERRORS: Record<number, { name: string; code: string; description: string }> = {
  400: { name: 'BadRequest', code: 'bad_request', description: 'Bad input: the message names each field' },
  401: { name: 'Unauthorized', code: 'unauthorized', description: 'No valid bearer token' },
  403: {
    name: 'Forbidden',
    code: 'forbidden',
    description: "Not allowed (the token lacks the route's scope, or the caller is not a member)",
  },
  404: { name: 'NotFound', code: 'not_found', description: 'The caller has no such conversation' },
  409: {
    name: 'Conflict',
    code: 'conflict',
    description: 'Conflicts with the current state (`held`: a legal hold covers what it would erase)',
  },
  410: {
    name: 'ResyncRequired',
    code: 'resync_required',
    description: 'The sync token is too old: list again',
  },
  413: {
    name: 'PayloadTooLarge',
    code: 'payload_too_large',
    description: `The body is over ${MAX_BODY_BYTES} bytes`,
  },
  405: {
    name: 'MethodNotAllowed',
    code: 'method_not_allowed',
    description: 'A known path with a method it does not have (answered before any operation)',
  },
  415: { name: 'UnsupportedMediaType', code: 'unsupported_media_type', description: 'The body is not JSON' },
  421: {
    name: 'MisdirectedRequest',
    code: 'misdirected_request',
    description:
      '`npm start` only: a request for a host name other than its own loopback address and port (a web page ' +
      'reaching it through DNS rebinding), answered before any operation',
  },
  429: {
    name: 'Throttled',
    code: 'throttled',
    description:
      'Too many requests: over a per-user limit (`rate_limited`; `limit` names it) or the store is busy ' +
      '(`throttled`). Retry after Retry-After seconds',
  },
  431: {
    name: 'HeadersTooLarge',
    code: 'headers_too_large',
    description: 'The URL and headers exceed 16 KiB (answered before any operation)',
  },
  500: { name: 'Internal', code: 'internal', description: 'A failure on our side (logged, never detailed)' },
  503: {
    name: 'Unavailable',
    code: 'unavailable',
    description: 'The store cannot be reached: retry after Retry-After',
  },
};
/**
 * Every operation: a body is read (and refused when it is too large or not JSON) even where none is
 * expected, and every route needs a scope (403 without it).
 */
const ALWAYS = [400, 401, 403, 413, 415, 429, 500, 503];
const RETRY_AFTER = [429, 503];
/**
 * Answers to a request that reaches no operation: an unknown path (404), a wrong method (405), another
 * host name (421, `npm start` only), too large a request line (431).
 */
const UNROUTED = [404, 405, 421, 431];

/** The error codes an operation answers with a status (429 is also `rate_limited`: every route has a request budget). */
function codesOf(status: number): string[] {
  const code = ERRORS[status]?.code;
  if (!code) throw new Error(`No error documented for status ${status}`);
  if (status === 409) return [code, 'held'];
  return status === 429 ? ['rate_limited', code] : [code];
}

/** The per-user limits a route's 429 `rate_limited` may name: its request budget, then its own. */
function limitsOf(route: RouteSpec, doc: RouteDoc): LimitName[] {
  return [route.access === 'admin' ? 'adminRequests' : 'requests', ...(doc.limits ?? [])];
}

/**
 * Answers recorded from a real run (`npm run openapi:examples` against a seeded `npm start`), by
 * operationId and status: the success examples of the document. An operation without one gets an
 * example built from its schema.
 */
const RECORDED_EXAMPLES = JSON.parse(
  readFileSync(new URL('./recorded-examples.json', import.meta.url), 'utf8'),
) as Record<string, Record<string, unknown>>;

/** What a token must carry, on AWS and locally (docs/aws.md explains setting up an issuer). */
const TOKEN_RULES =
  "A JWT in `Authorization: Bearer <token>`. On AWS, API Gateway's JWT authorizer checks it before any route runs: " +
  "signed by a key of the issuer's JWKS (RS256), `iss` equal to the stack's `jwtIssuer`, `aud` (or `client_id`) one of " +
  'its `jwtAudience`, an `exp` in the future and any `nbf` passed. Locally (`npm start`) tokens are HS256, signed with ' +
  "`ROAMING_JWT_SECRET` or the data folder's own secret, with `iss` `roaming-local`, `aud` `roaming`, and an " +
  '`exp` at most 30 days after `iat` ' +
  '(`npm run token -- alice` prints one). Everywhere the caller is the `sub` claim, which must be a user id ' +
  '(1 to 128 of `A-Za-z0-9_.@-`). User routes need the scope `' +
  DEFAULT_USER_SCOPE +
  '` (the name a deployment may change: stage `api.userScope`, locally `ROAMING_USER_SCOPE`), admin routes `' +
  ADMIN_SCOPE +
  '`, in the `scope` (space-separated) or `scp` claim; a token without it gets 403, so a token the issuer ' +
  'minted for something else (an ID token, another API) reaches no route.';

/** The document's servers: the same in openapi.json and in what `npm start` serves at /openapi.json. */
export const SERVERS = [
  {
    url: LOCAL_SERVER_URL,
    description:
      'npm start with the default PORT. The reference page /docs sends "Try it out" to its own origin, whatever the port.',
  },
  {
    url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
    description: 'On AWS: the stack output ApiUrl (or your custom domain, with its base path)',
    variables: { apiId: { default: 'abc123defg' }, region: { default: 'eu-west-1' } },
  },
];

export function buildOpenApiDocument(): Record<string, unknown> {
  const collector = new SchemaCollector();
  collector.schemaOf(errorSchema(), 'output');
  collector.components.HealthError = errorSchemaWith(['unavailable']);
  const deps = contractDeps();
  const paths: Record<string, Record<string, unknown>> = { [HEALTH_ROUTE.path]: healthOperation() };
  for (const route of ROUTES as readonly RouteSpec[]) {
    const contract = contractOf(HANDLER_FACTORIES[route.name as RouteName](deps));
    // The route table (API Gateway's authorizer scopes) and the handler's own check must agree.
    if (contract && contract.access !== route.access) {
      throw new Error(`${route.name}: the route says ${route.access} access, its handler ${contract.access}`);
    }
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: operationOf(route, contract, collector),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Roaming API',
      version: '1',
      description:
        "IM message roaming: every user's conversations and history on the server, one-way deletes, read positions, " +
        'pins, marks, multi-device sync and scheduled retention. Every route but `GET /health` needs ' +
        "`Authorization: Bearer <JWT>` (see the security scheme for what it must carry); the caller is the token's " +
        `\`sub\`. Admin routes need the scope \`${ADMIN_SCOPE}\`. Errors are \`{"error": {"code", "message"}}\`, ` +
        "with each operation's codes listed in its error schema. Every user has a request budget in read units " +
        `(4 KB read strongly consistent): ${DEFAULT_CONFIG.requestBudget} at most, ${DEFAULT_CONFIG.requestBudgetPerSecond} ` +
        `more a second by default; a request costs the read units it used, at least ${DEFAULT_CONFIG.requestBaseUnits} ` +
        '(charged before its work, the rest after). Over it, and over any other per-user limit, ' +
        'the answer is 429 `rate_limited` with `Retry-After` and `limit` naming the limit (`requests`; `adminRequests` ' +
        'on admin routes). A request that reaches no operation answers 404 ' +
        '`not_found` (unknown path), 405 `method_not_allowed` (a known path with another method) or 431 ' +
        '`headers_too_large` (see components/responses). JSON answers end with a newline. Locally, ' +
        '`npm run token -- alice` prints a token for `npm start`.',
    },
    servers: SERVERS,
    security: [{ bearer: [] }],
    tags: ['Messages', 'Conversations', 'Groups', 'Admin', 'Health'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: TOKEN_RULES,
        },
      },
      schemas: sortedKeys(collector.components),
      responses: errorResponses(),
    },
  };
}

/** Factories only close over their dependencies: a store that is never called is enough to read contracts. */
function contractDeps(): Deps {
  const noStore = {
    send: () => Promise.reject(new Error('The OpenAPI generator does not call the store')),
  };
  return createDeps({ client: noStore, tableName: 'openapi' });
}

function operationOf(
  route: RouteSpec,
  contract: EndpointContract | undefined,
  collector: SchemaCollector,
): Record<string, unknown> {
  const doc: RouteDoc = ROUTE_DOCS[route.name as RouteName] ?? { summary: `${route.method} ${route.path}` };
  const parts = inputParts(contract);
  const parameters = [
    ...parametersOf(parts.path, 'path', collector),
    ...parametersOf(parts.query, 'query', collector),
  ];
  const errors = new Set([...ALWAYS, ...(doc.errors ?? [])]);
  if (parts.body) {
    errors.add(413);
    errors.add(415);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(contract?.responses ?? { 200: z.unknown() })) {
    const body = collector.schemaOf(schema as z.ZodMiniType, 'output');
    const example = RECORDED_EXAMPLES[route.name]?.[status] ?? exampleOf(body, collector);
    responses[status] = {
      description: status === '201' ? 'Created' : status === '202' ? 'Accepted' : 'OK',
      content: { 'application/json': { schema: body, example } },
    };
  }
  // One error schema per operation, its `code` an enum of exactly the codes this operation answers.
  const statuses = [...errors].sort();
  const errorName = `${route.name.charAt(0).toUpperCase()}${route.name.slice(1)}Error`;
  const limits = limitsOf(route, doc);
  const codes = statuses.flatMap((status) => [...codesOf(status), ...(doc.codes?.[status] ?? [])]);
  collector.components[errorName] = errorSchemaWith(codes, limits);
  for (const status of statuses) {
    responses[String(status)] = errorResponseOf(status, `#/components/schemas/${errorName}`, {
      code: codesOf(status)[0],
      limit: limits[0],
    });
  }
  const operation: Record<string, unknown> = {
    operationId: route.name,
    summary: doc.summary,
    description: [doc.description, `Needs the scope \`${scopeOf(route)}\`.`].filter(Boolean).join('\n\n'),
    tags: [tagOf(route.path)],
    security: [{ bearer: [scopeOf(route)] }],
    parameters,
    responses,
  };
  if (parameters.length === 0) delete operation.parameters;
  if (parts.body) operation.requestBody = requestBodyOf(parts.body, doc, collector);
  return operation;
}

/** The scope a route needs (the default name of the user scope: a deployment may rename it). */
function scopeOf(route: RouteSpec): string {
  return route.access === 'admin' ? ADMIN_SCOPE : DEFAULT_USER_SCOPE;
}

interface InputParts {
  path?: z.ZodMiniType;
  query?: z.ZodMiniType;
  body?: z.ZodMiniType;
}

/** A route's input schema is `z.object({ path?, query?, body? })` (see RawInput in endpoint.ts). */
function inputParts(contract: EndpointContract | undefined): InputParts {
  const input = contract?.input;
  if (!(input instanceof z.ZodMiniObject)) return {};
  const shape = input.shape as Record<string, z.ZodMiniType>;
  return { path: shape.path, query: shape.query, body: shape.body };
}

/**
 * One parameter per property. The schema is the parsed (output) side: a whole number is an integer, a
 * comma-separated list an array (`style: form, explode: false` is exactly "a,b,c"); whether it is
 * required comes from the input side (a default makes it optional).
 */
function parametersOf(
  part: z.ZodMiniType | undefined,
  location: 'path' | 'query',
  collector: SchemaCollector,
): Record<string, unknown>[] {
  if (!part) return [];
  const parsed = collector.schemaOf(part, 'output');
  const sent = collector.schemaOf(part, 'input');
  const required = new Set((sent.required ?? []) as string[]);
  const properties = (parsed.properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(properties).map(([name, schema]) => {
    const { description: own, ...rest } = schema;
    const description = own ?? PARAMETER_DOCS[`${location}.${name}`] ?? PARAMETER_DOCS[name];
    const isRequired = location === 'path' || required.has(name);
    const example = exampleOf(schema, collector);
    // An optional parameter's example goes in its schema: Swagger UI would put a parameter-level example
    // into "Try it out", and a request with every optional parameter set is not a valid one.
    const parameter: Record<string, unknown> = {
      name,
      in: location,
      required: isRequired,
      description,
      schema: isRequired ? rest : { ...rest, examples: [example] },
      ...(isRequired ? { example } : {}),
    };
    if (rest.type === 'array') Object.assign(parameter, { style: 'form', explode: false });
    if (!parameter.description) delete parameter.description;
    return parameter;
  });
}

function requestBodyOf(
  body: z.ZodMiniType,
  doc: RouteDoc,
  collector: SchemaCollector,
): Record<string, unknown> {
  const schema = withoutRefusedProperties(collector.schemaOf(body, 'input'));
  return {
    required: !body.safeParse(undefined).success,
    content: {
      'application/json': { schema, example: doc.requestExample ?? exampleOf(schema, collector) },
    },
  };
}

/**
 * A property the server refuses (`z.never()`, e.g. createGroup's `groupId`) is `{"not": {}}` in JSON
 * Schema: generators would show it as a field. It is left out; the route's description says it is refused.
 */
function withoutRefusedProperties(schema: JsonSchema): JsonSchema {
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  if (!properties) return schema;
  const refused = (property: JsonSchema) => JSON.stringify(property) === '{"not":{}}';
  return {
    ...schema,
    properties: Object.fromEntries(Object.entries(properties).filter(([, property]) => !refused(property))),
  };
}

/** `{"error": {"code", "message", "limit"?}}` with `code` one of `codes`, `limit` one of `limits`. */
function errorSchemaWith(codes: string[], limits: readonly LimitName[] = []): JsonSchema {
  const limit = limits.length
    ? {
        limit: {
          type: 'string',
          enum: [...new Set(limits)],
          description:
            'Only with `rate_limited`: which per-user limit was reached (`requests`, `adminRequests`: the request budget)',
        },
      }
    : {};
  return {
    type: 'object',
    properties: {
      error: {
        type: 'object',
        properties: {
          code: { type: 'string', enum: [...new Set(codes)] },
          message: {
            type: 'string',
            description: 'What went wrong, for a person (shown for 4xx, 429 and 503)',
          },
          ...limit,
        },
        required: ['code', 'message'],
      },
    },
    required: ['error'],
  };
}

function errorResponseOf(
  status: number,
  schemaRef: string,
  example: { code?: string; limit?: LimitName } = {},
): Record<string, unknown> {
  const error = ERRORS[status];
  if (!error) throw new Error(`No error documented for status ${status}`);
  const code = example.code ?? error.code;
  const limit = code === 'rate_limited' && example.limit ? { limit: example.limit } : {};
  return {
    description: error.description,
    ...(RETRY_AFTER.includes(status)
      ? {
          headers: {
            'Retry-After': {
              description: 'Seconds to wait before retrying',
              required: true,
              schema: { type: 'integer', minimum: 1 },
            },
          },
        }
      : {}),
    content: {
      'application/json': {
        schema: { $ref: schemaRef },
        example: { error: { code, message: error.description, ...limit } },
      },
    },
  };
}

/** Every error by name; the operations list their own, these are also what a request that reaches no operation gets. */
function errorResponses(): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, error] of Object.entries(ERRORS)) {
    responses[error.name] = errorResponseOf(Number(status), '#/components/schemas/Error', {
      code: error.code,
    });
  }
  return responses;
}

/** The names under components/responses of the answers to a request that reaches no operation. */
export const UNROUTED_RESPONSES: Record<number, string> = Object.fromEntries(
  UNROUTED.map((status) => [status, ERRORS[status]?.name ?? '']),
);

/** GET /health: no token; 200 when the store answers, 503 while starting or when it does not. */
function healthOperation(): Record<string, unknown> {
  return {
    get: {
      operationId: HEALTH_ROUTE.name,
      summary: 'Ready? (for load balancers, containers and scripts)',
      description:
        'No token. 200 `{"status": "ok"}` when the store answers (one read of a key that never exists), 503 ' +
        '`unavailable` with Retry-After while the service is starting or when the store does not answer. It tells ' +
        'nothing else (no version, no table, no error detail).',
      tags: ['Health'],
      security: [],
      responses: {
        200: {
          description: 'OK: the store answers',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { status: { type: 'string', const: 'ok' } },
                required: ['status'],
              },
              example: RECORDED_EXAMPLES.health?.['200'] ?? { status: 'ok' },
            },
          },
        },
        503: errorResponseOf(503, '#/components/schemas/HealthError', { code: 'unavailable' }),
      },
    },
  };
}

function sortedKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
