import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import {
  ForbiddenError,
  MethodNotAllowedError,
  MisdirectedRequestError,
  NotFoundError,
  PayloadTooLargeError,
  type RetryableError,
  RoamingError,
  UnauthorizedError,
  ValidationError,
} from '../functions/core/errors.js';
import { ULID_PATTERN } from '../functions/core/ids.js';
import type { HealthHandler } from '../functions/handlers/health.js';
import type { HttpHandler } from '../functions/handlers/registry.js';
import { ADMIN_SCOPE, DEFAULT_USER_SCOPE } from '../functions/http/caller.js';
import { MAX_BODY_BYTES } from '../functions/http/endpoint.js';
import { errorResponse } from '../functions/http/error-response.js';
import { API_SECURITY_HEADERS } from '../functions/http/json-response.js';
import { HEALTH_ROUTE, ROUTES, type RouteName, type RouteSpec } from '../functions/routes.js';
import { apiTelemetry, recordRequest, unmatchedPathForLog } from '../functions/telemetry/api-telemetry.js';
import { serveApiDocs } from './api-docs.js';
import { verifyDevToken } from './dev-auth.js';

/**
 * The laptop stand-in for API Gateway's HTTP API: matches the same route table, checks the bearer token
 * like the JWT authorizer would, and hands the handlers the same payload-v2 event they get on AWS.
 */
/** The route handlers by name, and GET /health's. */
export type LocalHandlers = Partial<Record<RouteName, HttpHandler>> & { health?: HealthHandler };

export interface LocalApiOptions {
  handlers: LocalHandlers;
  jwtSecret: string;
  /**
   * Asked before every request: an error while the whole service cannot answer (still starting, or its
   * store is gone), which the request gets instead (503 with Retry-After).
   */
  unavailable?: () => RetryableError | undefined;
  /** Also serve /openapi.json and the reference page /docs (npm start does; tests that need them too). */
  apiDocs?: boolean;
  /**
   * Answer requests for any host name. Off, only the server's own loopback address and port (and
   * `localhost` with that port) are answered, anything else gets 421: a web page a developer visits can
   * point a name of its own at 127.0.0.1 (DNS rebinding) and would otherwise reach this server as a
   * same-origin page. `npm start` turns it on when HOST was set on purpose.
   * @default false
   */
  acceptAnyHost?: boolean;
  /**
   * The scope a token needs for the user routes (admin routes need ADMIN_SCOPE), as API Gateway's route
   * authorization scopes require it.
   * @default DEFAULT_USER_SCOPE
   */
  userScope?: string;
  /**
   * Serve finished export files to admins at GET /v1/admin/exports/{exportId}/file (the `location` a
   * local export answers; deployed, it is a presigned S3 URL instead, so this route is not in ROUTES).
   * @default - not served
   */
  exportFiles?: { fileOf(exportId: string): string | undefined };
}

/** The local download of a finished export (functions/exports/folder-sink.ts). */
const EXPORT_FILE_PATH = /^\/v1\/admin\/exports\/([^/]+)\/file$/;

/** A handler's answer, or (the export download) a file to stream. */
type LocalResult = APIGatewayProxyStructuredResultV2 & { file?: string };

interface CompiledRoute {
  spec: RouteSpec;
  pattern: RegExp;
  params: string[];
}

function compile(spec: RouteSpec): CompiledRoute {
  const params: string[] = [];
  const source = spec.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    params.push(name);
    return '([^/]+)';
  });
  return { spec, pattern: new RegExp(`^${source}$`), params };
}

const COMPILED = ROUTES.map(compile);

export function createLocalApi(options: LocalApiOptions): Server {
  // The message of the last expected refusal logged: while starting, the first 503 is logged, not each.
  let lastExpected: string | undefined;
  const server = createServer(function serveRequest(req, res) {
    const started = performance.now();
    const misdirected = options.acceptAnyHost ? undefined : misdirectedRequest(server, req);
    if (!misdirected && options.apiDocs && serveApiDocs(req, res)) return;
    const unavailable = misdirected ? undefined : options.unavailable?.();
    const refusal = misdirected ?? unavailable;
    (refusal ? Promise.reject(refusal) : handle(options, req))
      .catch(function answerBeforeAnyHandler(error: unknown) {
        // What API Gateway itself answers on AWS (no route, no token, still starting): logged here. A
        // refusal the service decided on (still starting, stopping) is expected: logged once, at INFO,
        // without a stack (a load balancer asking /health every second while it starts is not news).
        const result = errorResponse(error);
        const expected = unavailable !== undefined && error === unavailable ? unavailable.message : undefined;
        if (expected === undefined || expected !== lastExpected) {
          const latencyMs = performance.now() - started;
          logUnhandledRequest(req, result.statusCode ?? 500, latencyMs, error, expected !== undefined);
        }
        lastExpected = expected;
        return result;
      })
      .then((result) => writeResult(res, result));
  });
  // Browsers keep idle connections open far longer than Node's 5 s default: a request sent on one the
  // server is closing at that moment fails in the page ("Failed to fetch"). Outlast them instead.
  server.keepAliveTimeout = 75_000;
  server.on('clientError', answerUnparsableRequest);
  return server;
}

/**
 * A refusal for a request whose Host is not this server's own loopback address and port: a browser
 * sends the name in the page's address bar, so a page that rebound a name of its own to 127.0.0.1 is
 * told apart here, before its request reaches the docs or any route.
 */
function misdirectedRequest(server: Server, req: IncomingMessage): MisdirectedRequestError | undefined {
  const address = server.address();
  if (!address || typeof address === 'string') return undefined;
  const port = address.port;
  const own = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const accepted = [`${own}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`];
  const host = (req.headers.host ?? '').toLowerCase();
  if (accepted.includes(host) || (port === 80 && accepted.includes(`${host}:80`))) return undefined;
  return new MisdirectedRequestError(
    `This server answers only to ${own}:${port} and localhost:${port}, not to "${host.slice(0, 100)}" ` +
      '(a web page may be reaching it through DNS rebinding). To accept other names, such as an ' +
      "emulator's 10.0.2.2 or a name on your network, set HOST on purpose (HOST=127.0.0.1 npm start).",
  );
}

function logUnhandledRequest(
  req: IncomingMessage,
  status: number,
  latencyMs: number,
  error: unknown,
  expected: boolean,
): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = (req.method ?? 'GET').toUpperCase();
  const matched = matchedRouteOf(method, url.pathname);
  recordRequest(
    apiTelemetry(),
    {
      route: matched.route,
      method,
      routeKey: matched.routeKey,
      unmatchedPath: matched.routeKey === '$default' ? unmatchedPathForLog(url.pathname) : undefined,
      status,
      latencyMs,
      requestId: crypto.randomUUID(),
      errorCode: error instanceof RoamingError ? error.code : 'internal',
      expected,
    },
    expected ? undefined : error,
  );
}

/**
 * What a refused request's log line names: the route and its key as API Gateway would match them (a
 * path some route has, with another method: that route's path template; no route at all: `$default`).
 */
function matchedRouteOf(method: string, path: string): { route: string; routeKey: string } {
  if (path === HEALTH_ROUTE.path)
    return { route: HEALTH_ROUTE.name, routeKey: `${method} ${HEALTH_ROUTE.path}` };
  const sameMethod = COMPILED.find((r) => r.spec.method === method && r.pattern.test(path));
  if (sameMethod) return { route: sameMethod.spec.name, routeKey: `${method} ${sameMethod.spec.path}` };
  const samePath = COMPILED.find((r) => r.pattern.test(path));
  if (samePath) return { route: 'none', routeKey: `${method} ${samePath.spec.path}` };
  return { route: 'none', routeKey: '$default' };
}

/**
 * A request Node cannot parse never reaches a handler; by default Node answers it with a bare status
 * line. It gets the same JSON error as everything else: 431 for a request line and headers over Node's
 * limit (16 KiB: a very long URL), 400 for anything else that is not HTTP.
 */
function answerUnparsableRequest(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const [status, reason, code, message] = tooLarge
    ? [431, 'Request Header Fields Too Large', 'headers_too_large', 'The URL and headers exceed 16 KiB']
    : [400, 'Bad Request', 'bad_request', 'The request is not valid HTTP'];
  const body = `${JSON.stringify({ error: { code, message } })}\n`;
  const security = Object.entries(API_SECURITY_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n${security.join('')}` +
      `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function handle(options: LocalApiOptions, req: IncomingMessage): Promise<LocalResult> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = (req.method ?? 'GET').toUpperCase();
  if (url.pathname === HEALTH_ROUTE.path) return health(options, req, url, method);
  const exportFile = options.exportFiles ? EXPORT_FILE_PATH.exec(url.pathname) : null;
  if (exportFile && options.exportFiles) {
    return serveExportFile(options.exportFiles, req, method, decodePathSegment(exportFile[1] ?? ''), options);
  }
  const matches = COMPILED.map((route) => ({ route, match: route.pattern.exec(url.pathname) })).filter(
    (m) => m.match,
  );
  if (matches.length === 0) throw new NotFoundError(`No route for ${url.pathname}`);
  const found = matches.find((m) => m.route.spec.method === method);
  if (!found?.match) throw new MethodNotAllowedError(`${method} is not allowed on ${url.pathname}`);
  const { route, match } = found;
  const claims = await authorize(req, options.jwtSecret);
  // Like the route's authorization scopes on API Gateway: refused before the function runs.
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  const needed = route.spec.access === 'admin' ? ADMIN_SCOPE : (options.userScope ?? DEFAULT_USER_SCOPE);
  if (!scopes.includes(needed)) {
    throw new ForbiddenError(`This route needs the ${needed} scope`);
  }
  const handler = options.handlers[route.spec.name as RouteName];
  if (!handler) throw new NotFoundError(`No handler for ${route.spec.name}`);
  const body = await readBody(req);
  const pathParameters = Object.fromEntries(
    route.params.map((name, i) => [name, decodePathSegment(match[i + 1] ?? '')]),
  );
  const event = toEvent(req, url, route.spec, pathParameters, claims, body);
  return handler(event, lambdaContext(route.spec.name));
}

/** GET /v1/admin/exports/{exportId}/file: a finished export's NDJSON, to an admin token only. */
async function serveExportFile(
  files: NonNullable<LocalApiOptions['exportFiles']>,
  req: IncomingMessage,
  method: string,
  exportId: string,
  options: LocalApiOptions,
): Promise<LocalResult> {
  if (method !== 'GET') throw new MethodNotAllowedError(`${method} is not allowed on an export's file`);
  const claims = await authorize(req, options.jwtSecret);
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
  if (!scopes.includes(ADMIN_SCOPE)) throw new ForbiddenError(`This route needs the ${ADMIN_SCOPE} scope`);
  if (!ULID_PATTERN.test(exportId)) {
    throw new ValidationError('path.exportId: must be an export id (26-character ULID)');
  }
  const file = files.fileOf(exportId);
  if (!file) throw new NotFoundError(`No finished export ${exportId}`);
  return {
    statusCode: 200,
    headers: {
      ...API_SECURITY_HEADERS,
      'content-type': 'application/x-ndjson',
      'content-length': String(statSync(file).size),
      'content-disposition': `attachment; filename="${exportId}.ndjson"`,
    },
    file,
  };
}

/** GET /health: no token (API Gateway has no authorizer on it either). */
async function health(
  options: LocalApiOptions,
  req: IncomingMessage,
  url: URL,
  method: string,
): Promise<APIGatewayProxyStructuredResultV2> {
  if (method !== HEALTH_ROUTE.method)
    throw new MethodNotAllowedError(`${method} is not allowed on ${url.pathname}`);
  const handler = options.handlers.health;
  if (!handler) throw new NotFoundError(`No route for ${url.pathname}`);
  // The request body, if any, is read and ignored.
  await readBody(req);
  const event = toEvent(req, url, { ...HEALTH_ROUTE, access: 'user' }, {}, {}, undefined);
  delete (event.requestContext as { authorizer?: unknown }).authorizer;
  return handler(event, lambdaContext(HEALTH_ROUTE.name));
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ValidationError(`The path segment "${segment}" is not valid percent-encoding`);
  }
}

async function authorize(req: IncomingMessage, secret: string) {
  const header = req.headers.authorization ?? '';
  const token = /^Bearer (.+)$/i.exec(header)?.[1];
  if (!token) throw new UnauthorizedError('A bearer token is required (Authorization: Bearer <JWT>)');
  const claims = await verifyDevToken(token, secret);
  if (!claims) throw new UnauthorizedError('The bearer token is invalid or expired');
  return claims;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // API Gateway refuses huge payloads itself; stop reading early rather than buffer them.
    if (size > MAX_BODY_BYTES * 4)
      throw new PayloadTooLargeError(`The request body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
}

function toEvent(
  req: IncomingMessage,
  url: URL,
  spec: RouteSpec,
  pathParameters: Record<string, string>,
  claims: Record<string, unknown>,
  body: string | undefined,
): APIGatewayProxyEventV2WithJWTAuthorizer {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(',') : value;
  }
  // API Gateway joins repeated query keys with commas.
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const now = Date.now();
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  return {
    version: '2.0',
    routeKey: `${spec.method} ${spec.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters: Object.keys(pathParameters).length ? pathParameters : undefined,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      requestId: crypto.randomUUID(),
      routeKey: `${spec.method} ${spec.path}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
      http: {
        method: spec.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: req.headers['user-agent'] ?? '',
      },
      authorizer: {
        jwt: {
          claims: claims as Record<string, string | number | boolean | string[]>,
          scopes: scope ? scope.split(' ') : null,
        },
      },
    },
  };
}

/** Enough of the Lambda context for our handlers: a name and a generous time budget. */
export function lambdaContext(functionName: string, timeoutMs = 30_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function writeResult(res: ServerResponse, result: LocalResult): void {
  res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
  if (result.file === undefined) {
    res.end(result.body ?? '');
    return;
  }
  createReadStream(result.file)
    .on('error', () => res.destroy())
    .pipe(res);
}
