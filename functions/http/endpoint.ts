import middy, { type MiddlewareObj } from '@middy/core';
import type {
  Context,
  APIGatewayProxyEventV2WithJWTAuthorizer as HttpEvent,
  APIGatewayProxyStructuredResultV2 as HttpResult,
} from 'aws-lambda';
import type * as z from 'zod/mini';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import { withRequestId } from '../telemetry/api-telemetry.js';
import { measureStoreUsage, newStoreUsage } from '../telemetry/store-usage.js';
import { type Access, type Caller, callerOf } from './caller.js';
import { errorResponse } from './error-response.js';
import { checkJsonText } from './exact-json.js';
import { jsonResponse } from './json-response.js';
import { observe, requestIdOf } from './observe.js';
import { chargeRequestBudget, type RequestBudgetPort } from './request-budget.js';
import { describeIssues } from './schemas.js';

/** Requests larger than this are refused with 413 before parsing. */
export const MAX_BODY_BYTES = 64 * 1024;

/** What the route's input schema sees: path parameters, query string and parsed JSON body. */
export interface RawInput {
  path: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  body: unknown;
}

/** A route's success answers by status: the zod schema of each body (they make the OpenAPI document). */
export type Responses = { [status: number]: z.ZodMiniType };

/** A route that declares no responses (yet) may answer anything. */
type AnyResponses = { [status: number]: z.ZodMiniUnknown };

/** What a route's function returns: a status it declared (200 if left out) and a body of that status. */
export type Reply<R extends Responses = AnyResponses> = {
  [S in keyof R & number]: { status?: S; body: z.input<R[S]> };
}[keyof R & number];

/**
 * What endpoint() knows of its route: read by the OpenAPI generator (contractOf), never at run time.
 * Reading `input` or `responses` builds those schemas (they are built on first use).
 */
export interface EndpointContract {
  access: Access;
  readonly input: z.ZodMiniType;
  readonly responses: Responses;
}

const CONTRACT = Symbol.for('roaming.endpointContract');

/** The contract of a handler endpoint() built, if it is one. */
export function contractOf(handler: unknown): EndpointContract | undefined {
  return (handler as { [CONTRACT]?: EndpointContract } | undefined)?.[CONTRACT];
}

export interface EndpointRequest<I> {
  caller: Caller;
  input: I;
}

interface State {
  caller?: Caller;
  raw?: RawInput;
  input?: unknown;
}

type Event = HttpEvent & { roaming?: State };

/**
 * Builds a Lambda handler for one route: observe (one log line and metrics per request), authenticate,
 * charge the caller's request budget (http/request-budget.ts), parse JSON, validate with zod
 * (middleware first), then the route's function, which receives a typed
 * value and returns a reply typed by its declared `responses`. Every error goes through errorResponse,
 * so all routes answer `{error: {code, message}}` the same way.
 *
 * `input` and `responses` are functions that build the schemas (core/lazy.ts): the input schema is
 * built by the first request that needs it, the answer schemas only by the OpenAPI generator and tests,
 * so a cold start builds none.
 */
export function endpoint<S extends z.ZodMiniType, R extends Responses = AnyResponses>(
  options: { access: Access; budget: RequestBudgetPort; input: () => S; responses?: () => R },
  run: (request: EndpointRequest<z.output<S>>) => Promise<NoInfer<Reply<R>>>,
) {
  const input = lazy(options.input);
  const responses = lazy(() => options.responses?.() ?? {});
  const chain = middy<Event, HttpResult>()
    .use(observe())
    .use(errorResponder())
    .use(authenticate(options.access))
    .use(chargeRequestBudget(options.budget, options.access))
    .use(parseJsonBody())
    .use(validateInput(input))
    .handler(async function handleRoute(event) {
      const state = event.roaming as Required<State>;
      const reply = await run({ caller: state.caller, input: state.input as z.output<S> });
      return jsonResponse(reply.status ?? 200, reply.body);
    });
  const contract: EndpointContract = {
    access: options.access,
    get input() {
      return input();
    },
    get responses() {
      return responses();
    },
  };
  return Object.assign(
    // Each request counts its own DynamoDB requests and logs under its own id, also when the process
    // serves several at once.
    function handleRequest(event: Event, context: Context) {
      return withRequestId(requestIdOf(event, context), () =>
        measureStoreUsage(newStoreUsage(), () => chain(event, context)),
      );
    },
    { [CONTRACT]: contract },
  );
}

function errorResponder(): MiddlewareObj<Event, HttpResult> {
  return {
    onError: async function respondWithError(request) {
      request.response = errorResponse(request.error);
    },
  };
}

function authenticate(access: Access): MiddlewareObj<Event, HttpResult> {
  return {
    before: async function readCaller(request) {
      request.event.roaming = { caller: callerOf(request.event, access) };
    },
  };
}

function parseJsonBody(): MiddlewareObj<Event, HttpResult> {
  return {
    before: async function readBody(request) {
      const { event } = request;
      const state = event.roaming as State;
      let body: unknown;
      if (event.body !== undefined && event.body !== '') {
        const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
        if (Buffer.byteLength(text) > MAX_BODY_BYTES) {
          throw new PayloadTooLargeError(`The request body exceeds ${MAX_BODY_BYTES} bytes`);
        }
        const contentType = headerOf(event, 'content-type') ?? '';
        if (!/^application\/([a-z.+-]*\+)?json\s*(;|$)/i.test(contentType)) {
          throw new UnsupportedMediaTypeError(
            'The request body must be JSON (Content-Type: application/json)',
          );
        }
        checkJsonText(text);
        try {
          body = JSON.parse(text);
        } catch {
          throw new ValidationError('The request body is not valid JSON');
        }
      }
      state.raw = { path: event.pathParameters ?? {}, query: event.queryStringParameters ?? {}, body };
    },
  };
}

function validateInput(schema: () => z.ZodMiniType): MiddlewareObj<Event, HttpResult> {
  return {
    before: async function validate(request) {
      const state = request.event.roaming as State;
      const parsed = schema().safeParse(state.raw);
      if (!parsed.success) throw new ValidationError(describeIssues(parsed.error));
      state.input = parsed.data;
    },
  };
}

function headerOf(event: HttpEvent, name: string): string | undefined {
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name) return value;
  }
  return undefined;
}
