import fc from 'fast-check';
import type { RouteSpec } from '../../functions/routes.js';
import {
  exampleRequest,
  fillPath,
  paramValue,
  pathParams,
  type RequestTarget,
} from '../support/route-requests.js';
import {
  CONTENT_TYPES,
  deepJson,
  FIELD_NAMES,
  fuzzJson,
  fuzzQueryValue,
  fuzzString,
  malformedBodyText,
  QUERY_KEYS,
} from './inputs.js';
import { percentEncode } from './wire.js';

/**
 * A fuzzed request for one route: the route's valid example (about the fuzz world's own data, so it
 * gets past validation and into the store) with one to four mutations applied. Every part is fuzzed:
 * path parameters and their encoding, query keys (known, unknown, repeated, removed), the body (not
 * JSON, the wrong JSON, fields of the wrong type, huge, deep, duplicated keys) and its content type.
 */
export type Mutation =
  | { kind: 'path param'; index: number; value: string; encoding: 'encoded' | 'raw' | 'double' }
  | { kind: 'path suffix'; suffix: string }
  | { kind: 'set query'; key: string; value: string; repeat: boolean }
  | { kind: 'drop query'; index: number }
  | { kind: 'body text'; text: string }
  | { kind: 'body json'; value: unknown }
  | { kind: 'set field'; path: readonly string[]; value: unknown }
  | { kind: 'drop field'; name: string }
  | { kind: 'content type'; value: string };

export interface FuzzCase {
  chatType: 'single' | 'group';
  mutations: Mutation[];
}

export interface WireRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

const fieldName = fc.oneof(fc.constantFrom(...FIELD_NAMES), fuzzString);
const queryKey = fc.oneof(fc.constantFrom(...QUERY_KEYS), fuzzString);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant('path param' as const),
    index: fc.nat(3),
    value: fuzzString,
    encoding: fc.constantFrom('encoded' as const, 'raw' as const, 'double' as const),
  }),
  fc.record({
    kind: fc.constant('path suffix' as const),
    suffix: fc.constantFrom('/', '//', '/x', '/..', '/%2e%2e', '%2F', '?', '#frag', '/messages', '/read'),
  }),
  fc.record({
    kind: fc.constant('set query' as const),
    key: queryKey,
    value: fuzzQueryValue,
    repeat: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('drop query' as const), index: fc.nat(3) }),
  fc.record({ kind: fc.constant('body text' as const), text: malformedBodyText }),
  fc.record({ kind: fc.constant('body json' as const), value: fuzzJson }),
  fc.record({
    kind: fc.constant('set field' as const),
    path: fc.oneof(
      fieldName.map((name) => [name]),
      fc.constantFrom(['body', 'text'], ['body', '__proto__'], ['ext', 'x'], ['members', '0']),
    ),
    value: fc.oneof(fuzzJson, deepJson),
  }),
  fc.record({ kind: fc.constant('drop field' as const), name: fc.constantFrom(...FIELD_NAMES) }),
  fc.record({ kind: fc.constant('content type' as const), value: fc.constantFrom(...CONTENT_TYPES) }),
);

export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.record({
  chatType: fc.constantFrom('single' as const, 'group' as const),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }),
});

/** The wire request a fuzz case makes of the route's example about `target`. */
export function buildRequest(
  route: RouteSpec,
  target: RequestTarget,
  fuzz: FuzzCase,
  authorization: string,
): WireRequest {
  const example = exampleRequest(route, target);
  const params = pathParams(route);
  const values: Record<string, string> = {};
  for (const name of params) values[name] = percentEncode(paramValue(name, target));
  let suffix = '';
  const query = [...example.query];
  let body: unknown = example.body;
  let bodyText: string | undefined;
  let contentType: string | undefined = body === undefined ? undefined : 'application/json';
  for (const m of fuzz.mutations) {
    switch (m.kind) {
      case 'path param': {
        const name = params[m.index % Math.max(1, params.length)];
        if (name === undefined) break;
        values[name] =
          m.encoding === 'raw'
            ? m.value
            : m.encoding === 'double'
              ? percentEncode(percentEncode(m.value))
              : percentEncode(m.value);
        break;
      }
      case 'path suffix':
        suffix = m.suffix;
        break;
      case 'set query': {
        const at = query.findIndex(([key]) => key === m.key);
        if (m.repeat || at === -1) query.push([m.key, m.value]);
        else query[at] = [m.key, m.value];
        break;
      }
      case 'drop query':
        query.splice(m.index % Math.max(1, query.length), 1);
        break;
      case 'body text':
        bodyText = m.text;
        contentType ??= 'application/json';
        break;
      case 'body json':
        body = m.value;
        bodyText = undefined;
        contentType ??= 'application/json';
        break;
      case 'set field':
        body = withField(body, m.path, m.value);
        bodyText = undefined;
        contentType ??= 'application/json';
        break;
      case 'drop field':
        if (isObject(body)) {
          const { [m.name]: _dropped, ...rest } = body;
          body = rest;
        }
        break;
      case 'content type':
        contentType = m.value;
        break;
    }
  }
  const text = bodyText ?? (body === undefined ? undefined : JSON.stringify(body));
  const search = query.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&');
  const headers: Record<string, string> = { authorization };
  if (contentType !== undefined && text !== undefined) headers['content-type'] = contentType;
  return {
    method: route.method,
    url: `${fillPath(route, values, true)}${suffix}${search ? `?${search}` : ''}`,
    headers,
    body: text,
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy of `body` with the value at `path` set (objects are made along the way). */
function withField(body: unknown, path: readonly string[], value: unknown): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return value;
  const base = isObject(body) ? { ...body } : {};
  // defineProperty: a `__proto__` key must become an own field, as JSON.parse would make it.
  Object.defineProperty(base, head, {
    value: withField(base[head], rest, value),
    enumerable: true,
    writable: true,
    configurable: true,
  });
  return base;
}
