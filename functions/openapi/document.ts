import * as z from 'zod/mini';
import type { Deps } from '../domain/deps.js';
import { HANDLER_FACTORIES } from '../handlers/registry.js';
import { ADMIN_SCOPE } from '../http/caller.js';
import { contractOf, type EndpointContract, MAX_BODY_BYTES } from '../http/endpoint.js';
import { errorSchema } from '../http/responses.js';
import { ROUTES, type RouteName, type RouteSpec } from '../routes.js';
import { createDeps } from '../runtime.js';
import { exampleOf, type JsonSchema, SchemaCollector } from './json-schema.js';
import { PARAMETER_DOCS, ROUTE_DOCS, type RouteDoc, tagOf } from './route-docs.js';

/**
 * The OpenAPI 3.1 document of the API, generated from the route table (functions/routes.ts) and the
 * zod schemas each route's endpoint() declares (its input, and its answers by status), so a new route
 * appears here without edits. Build-time only: no Lambda bundle imports this.
 */
export const LOCAL_SERVER_URL = 'http://127.0.0.1:3000';

/** The errors every route can answer, and the code each status carries. */
const ERRORS: Record<number, { name: string; code: string; description: string }> = {
  400: { name: 'BadRequest', code: 'bad_request', description: 'Bad input: the message names each field' },
  401: { name: 'Unauthorized', code: 'unauthorized', description: 'No valid bearer token' },
  403: { name: 'Forbidden', code: 'forbidden', description: 'Not allowed (not a member, or no admin scope)' },
  404: { name: 'NotFound', code: 'not_found', description: 'The caller has no such conversation' },
  409: { name: 'Conflict', code: 'conflict', description: 'Conflicts with the current state' },
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
  415: { name: 'UnsupportedMediaType', code: 'unsupported_media_type', description: 'The body is not JSON' },
  429: { name: 'Throttled', code: 'throttled', description: 'Throttled: retry after Retry-After seconds' },
  500: { name: 'Internal', code: 'internal', description: 'A failure on our side (logged, never detailed)' },
  503: {
    name: 'Unavailable',
    code: 'unavailable',
    description: 'The store cannot be reached: retry after Retry-After',
  },
};
const ALWAYS = [400, 401, 429, 500, 503];
const RETRY_AFTER = [429, 503];

export interface OpenApiOptions {
  /** The first server of the document (npm start serves the document with its own address). */
  serverUrl?: string;
}

export function buildOpenApiDocument(options: OpenApiOptions = {}): Record<string, unknown> {
  const collector = new SchemaCollector();
  collector.schemaOf(errorSchema(), 'output');
  const deps = contractDeps();
  const paths: Record<string, Record<string, unknown>> = {};
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
        'pins, marks, multi-device sync and scheduled retention. Every route needs `Authorization: Bearer <JWT>`; ' +
        `the caller is the token's \`sub\`. Admin routes need the scope \`${ADMIN_SCOPE}\`. Errors are ` +
        '`{"error": {"code", "message"}}`; an unknown path answers 404 `not_found`, a known path with another method 405 ' +
        '`method_not_allowed`. Locally, `npm run token -- alice` prints a token for `npm start`.',
    },
    servers: [
      { url: options.serverUrl ?? LOCAL_SERVER_URL, description: 'npm start (local development)' },
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'On AWS: the stack output ApiUrl',
        variables: { apiId: { default: 'abc123defg' }, region: { default: 'eu-west-1' } },
      },
    ],
    security: [{ bearer: [] }],
    tags: ['Messages', 'Conversations', 'Groups', 'Admin'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: `A JWT whose \`sub\` is the user id; admin routes need the scope \`${ADMIN_SCOPE}\`.`,
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
  if (route.access === 'admin') errors.add(403);
  if (parts.body) {
    errors.add(413);
    errors.add(415);
  }
  const responses: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(contract?.responses ?? { 200: z.unknown() })) {
    const body = collector.schemaOf(schema as z.ZodMiniType, 'output');
    responses[status] = {
      description: status === '201' ? 'Created' : status === '202' ? 'Accepted' : 'OK',
      content: { 'application/json': { schema: body, example: exampleOf(body, collector) } },
    };
  }
  for (const status of [...errors].sort()) {
    responses[String(status)] = { $ref: `#/components/responses/${ERRORS[status]?.name}` };
  }
  const operation: Record<string, unknown> = {
    operationId: route.name,
    summary: doc.summary,
    description: [doc.description, route.access === 'admin' ? `Needs the scope \`${ADMIN_SCOPE}\`.` : '']
      .filter(Boolean)
      .join('\n\n'),
    tags: [tagOf(route.path)],
    security: [{ bearer: route.access === 'admin' ? [ADMIN_SCOPE] : [] }],
    parameters,
    responses,
  };
  if (parameters.length === 0) delete operation.parameters;
  if (parts.body) operation.requestBody = requestBodyOf(parts.body, doc, collector);
  return operation;
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
    const { description, ...rest } = schema;
    const isRequired = location === 'path' || required.has(name);
    const example = exampleOf(schema, collector);
    // An optional parameter's example goes in its schema: Swagger UI would put a parameter-level example
    // into "Try it out", and a request with every optional parameter set is not a valid one.
    const parameter: Record<string, unknown> = {
      name,
      in: location,
      required: isRequired,
      description: description ?? PARAMETER_DOCS[name],
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
  const schema = collector.schemaOf(body, 'input');
  return {
    required: !body.safeParse(undefined).success,
    content: {
      'application/json': { schema, example: doc.requestExample ?? exampleOf(schema, collector) },
    },
  };
}

function errorResponses(): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, error] of Object.entries(ERRORS)) {
    responses[error.name] = {
      description: error.description,
      ...(RETRY_AFTER.includes(Number(status))
        ? {
            headers: {
              'Retry-After': {
                description: 'Seconds to wait before retrying',
                schema: { type: 'integer', minimum: 1 },
              },
            },
          }
        : {}),
      content: {
        'application/json': {
          schema: { $ref: '#/components/schemas/Error' },
          example: { error: { code: error.code, message: error.description } },
        },
      },
    };
  }
  return responses;
}

function sortedKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
