import { ROUTES, type RouteName, type RouteSpec } from '../../functions/routes.js';

/**
 * A request for any route of the route table, built from its path template: the authorization matrix,
 * the fuzzer and the overload tests cover a new route without edits. Path parameters the filler knows
 * (chatType, convId, groupId, userId) come from a target; a route may add an example query and body
 * below, and one without gets an empty one (its answer may then rightly be a 400: `guessed`).
 */

/** What a request is about: the conversation, group, user and messages it names. */
export interface RequestTarget {
  chatType: 'single' | 'group';
  /** The peer (single chat) or the group (group chat), as the conversation path names it. */
  convId: string;
  groupId: string;
  /** The user a `{userId}` path parameter names. */
  userId: string;
  /** Messages a request names (deletes by id, read position). */
  msgIds: readonly string[];
}

export interface RouteRequest {
  route: RouteSpec;
  method: string;
  /** The path with its parameters filled in and percent-encoded. */
  path: string;
  query: [string, string][];
  body?: unknown;
  /** True when the filler had to guess a parameter or the whole input: a 400 may be the right answer. */
  guessed: boolean;
  /** True when the request names a conversation or group (by its path, or by its body as a send does). */
  namesTarget: boolean;
}

interface Example {
  query?: Record<string, string>;
  body?: unknown;
  /** The body names the target conversation (a send's `to`). */
  bodyNamesTarget?: boolean;
}

/** Example inputs of the routes that take one; a route without an entry gets none (or `{}` to PUT/POST). */
const EXAMPLES: Partial<Record<RouteName, (target: RequestTarget) => Example>> = {
  sendMessage: (t) => ({
    body: { to: t.convId, chatType: t.chatType, type: 'text', body: { text: 'probe' } },
    bodyNamesTarget: true,
  }),
  listConversations: () => ({ query: { limit: '50' } }),
  fetchHistory: () => ({ query: { pageSize: '50' } }),
  deleteMessages: (t) => ({ query: { msgIds: t.msgIds.join(',') } }),
  markRead: (t) => ({ body: t.msgIds.length ? { msgId: t.msgIds.at(-1) } : {} }),
  // The path names the message (msgId, below).
  recallMessage: () => ({}),
  modifyMessage: () => ({ body: { body: { text: 'edited probe' } } }),
  putConversationRetention: () => ({ body: { days: 30 } }),
  deleteConversation: () => ({ query: { deleteMessages: 'true' } }),
  createGroup: (t) => ({ body: { name: 'probe', members: [t.userId] } }),
  // The path says it all.
  addMember: () => ({}),
  removeMember: () => ({}),
  getRetention: () => ({}),
  putRetention: () => ({ body: { days: 30 } }),
  putUserRetention: () => ({ body: { days: 7 } }),
  putHold: (t) => ({ body: { userIds: [t.userId], reason: 'Case 1: preserve records' } }),
  deleteUserRetention: () => ({}),
  listSweeps: () => ({ query: { limit: '20' } }),
  startSweep: () => ({ body: {} }),
  replayEvents: () => ({ body: { from: 0 } }),
  startExport: (t) => ({ body: { userId: t.userId } }),
  startErasure: (t) => ({ body: { userId: t.userId } }),
  getErasure: () => ({}),
};

const KNOWN_PARAMS: Record<string, (t: RequestTarget) => string> = {
  chatType: (t) => t.chatType,
  convId: (t) => t.convId,
  groupId: (t) => t.groupId,
  userId: (t) => t.userId,
  // Any of the 20 marks (0..19) will do.
  mark: () => '3',
  // A well-formed erasure id (no such job: 404 for a caller allowed to ask).
  erasureId: () => '01ARZ3NDEKTSV4RRFFQ69G5FAV',
  // The newest message the request names (recall, edit), else a well-formed id of none (404).
  msgId: (t) => t.msgIds.at(-1) ?? '01ARZ3NDEKTSV4RRFFQ69G5FAV',
};

/** A value for a path parameter the filler does not know (a new route's): a plain valid id. */
const UNKNOWN_PARAM_VALUE = 'probe';

/** The value a request about `target` gives the path parameter `name`. */
export function paramValue(name: string, target: RequestTarget): string {
  return KNOWN_PARAMS[name]?.(target) ?? UNKNOWN_PARAM_VALUE;
}

/** The `{name}` parameters of a route's path, in order. */
export function pathParams(route: RouteSpec): string[] {
  return [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
}

/** The route's path with `values` put in, each percent-encoded unless `raw` says it already is. */
export function fillPath(route: RouteSpec, values: Record<string, string>, raw = false): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name] ?? UNKNOWN_PARAM_VALUE;
    return raw ? value : encodeURIComponent(value);
  });
}

export function exampleRequest(route: RouteSpec, target: RequestTarget): RouteRequest {
  const params = pathParams(route);
  const values: Record<string, string> = {};
  for (const name of params) values[name] = paramValue(name, target);
  const make = EXAMPLES[route.name as RouteName];
  const example = make?.(target) ?? (route.method === 'POST' || route.method === 'PUT' ? { body: {} } : {});
  return {
    route,
    method: route.method,
    path: fillPath(route, values),
    query: Object.entries(example.query ?? {}),
    body: example.body,
    guessed: make === undefined || params.some((name) => !(name in KNOWN_PARAMS)),
    namesTarget: params.includes('convId') || params.includes('groupId') || example.bodyNamesTarget === true,
  };
}

/** The request's URL path and query string, as sent. */
export function urlOf(request: Pick<RouteRequest, 'path' | 'query'>): string {
  const query = request.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return query ? `${request.path}?${query}` : request.path;
}

/** An answer as it came over the wire: the body's exact text and every header. */
export interface WireResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

export async function sendRequest(
  baseUrl: string,
  request: { method: string; url: string; body?: string; headers?: Record<string, string> },
): Promise<WireResponse> {
  const response = await fetch(new URL(request.url, baseUrl), {
    method: request.method,
    headers: request.headers,
    body: request.body,
  });
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    text: await response.text(),
  };
}

/** Sends a route request with this Authorization header (none when undefined). */
export function sendRouteRequest(
  baseUrl: string,
  request: RouteRequest,
  authorization?: string,
): Promise<WireResponse> {
  const headers: Record<string, string> = {};
  if (authorization !== undefined) headers.authorization = authorization;
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  return sendRequest(baseUrl, {
    method: request.method,
    url: urlOf(request),
    headers,
    body: request.body === undefined ? undefined : JSON.stringify(request.body),
  });
}

export const ALL_ROUTES: readonly RouteSpec[] = ROUTES;
