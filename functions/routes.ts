/**
 * Every HTTP route, in one table: the local server routes by it and the CDK stack creates one Lambda
 * and one API route per entry from it, so the two cannot drift. `table` is the access the route's
 * function is granted: read routes never get write actions.
 */
export interface RouteSpec {
  /** Names the handler (functions/handlers/registry.ts) and its Lambda entry (functions/lambda/{name}.ts). */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  access: 'user' | 'admin';
  table: 'read' | 'write';
  /**
   * It writes idempotency records (their HMAC needs the stack's key): its function is given the key and
   * refuses to start without it (functions/runtime.ts). test/infra/bundling.test.ts finds every bundle
   * that can write such a record and holds it to this flag.
   */
  keepsRetryRecords?: true;
}

export const ROUTES = [
  {
    name: 'sendMessage',
    method: 'POST',
    path: '/v1/messages',
    access: 'user',
    table: 'write',
    keepsRetryRecords: true,
  },
  // Write access: a since call starts a new sync epoch (one UpdateItem on the caller's sync head).
  { name: 'listConversations', method: 'GET', path: '/v1/conversations', access: 'user', table: 'write' },
  {
    name: 'fetchHistory',
    method: 'GET',
    path: '/v1/conversations/{chatType}/{convId}/messages',
    access: 'user',
    table: 'read',
  },
  {
    name: 'deleteMessages',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}/messages',
    access: 'user',
    table: 'write',
  },
  {
    name: 'markRead',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/read',
    access: 'user',
    table: 'write',
  },
  {
    name: 'pinConversation',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/pin',
    access: 'user',
    table: 'write',
  },
  {
    name: 'unpinConversation',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}/pin',
    access: 'user',
    table: 'write',
  },
  {
    name: 'markConversation',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/marks/{mark}',
    access: 'user',
    table: 'write',
  },
  {
    name: 'unmarkConversation',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}/marks/{mark}',
    access: 'user',
    table: 'write',
  },
  {
    name: 'deleteConversation',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}',
    access: 'user',
    table: 'write',
  },
  {
    name: 'createGroup',
    method: 'POST',
    path: '/v1/groups',
    access: 'user',
    table: 'write',
    keepsRetryRecords: true,
  },
  {
    name: 'addMember',
    method: 'PUT',
    path: '/v1/groups/{groupId}/members/{userId}',
    access: 'user',
    table: 'write',
  },
  {
    name: 'removeMember',
    method: 'DELETE',
    path: '/v1/groups/{groupId}/members/{userId}',
    access: 'user',
    table: 'write',
  },
  { name: 'getRetention', method: 'GET', path: '/v1/admin/retention', access: 'admin', table: 'read' },
  { name: 'putRetention', method: 'PUT', path: '/v1/admin/retention', access: 'admin', table: 'write' },
  {
    name: 'putUserRetention',
    method: 'PUT',
    path: '/v1/admin/retention/users/{userId}',
    access: 'admin',
    table: 'write',
  },
  {
    name: 'deleteUserRetention',
    method: 'DELETE',
    path: '/v1/admin/retention/users/{userId}',
    access: 'admin',
    table: 'write',
  },
  { name: 'listSweeps', method: 'GET', path: '/v1/admin/sweeps', access: 'admin', table: 'read' },
  { name: 'listAudit', method: 'GET', path: '/v1/admin/audit', access: 'admin', table: 'read' },
  { name: 'startSweep', method: 'POST', path: '/v1/admin/sweeps', access: 'admin', table: 'write' },
] as const satisfies readonly RouteSpec[];

export type RouteName = (typeof ROUTES)[number]['name'];

/** A route's spec by name. */
export function routeNamed(name: RouteName): RouteSpec {
  const route = (ROUTES as readonly RouteSpec[]).find((candidate) => candidate.name === name);
  if (!route) throw new Error(`No route named ${name}`);
  return route;
}

/**
 * GET /health: "ready?" for a load balancer, a container or a script. Not in ROUTES: it has no caller
 * (no token, no authorizer on API Gateway) and says only whether the store answers. Its function reads.
 */
export const HEALTH_ROUTE = { name: 'health', method: 'GET', path: '/health', table: 'read' } as const;

/** DynamoDB actions behind each access level (on the table and its indexes, never on `*`). */
export const TABLE_ACTIONS = {
  read: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'],
  write: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
    // Every conversation write is a transaction (docs/consistency.md); IAM checks the actions inside it.
    'dynamodb:ConditionCheckItem',
  ],
} as const;
