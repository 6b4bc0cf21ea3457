import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod/mini';
import { HANDLER_FACTORIES } from '../functions/handlers/registry.js';
import { contractOf } from '../functions/http/endpoint.js';
import { errorSchema } from '../functions/http/responses.js';
import { buildOpenApiDocument } from '../functions/openapi/document.js';
import { ROUTES, type RouteName } from '../functions/routes.js';
import { staleGeneratedFiles } from '../local/openapi.js';
import { type RawResponse, startHarness } from './support/harness.js';
import { checkedPairs, contractProblems, exampleProblems, operationIds } from './support/openapi-contract.js';
import { sendRequest } from './support/route-requests.js';

type Operation = {
  operationId: string;
  parameters?: { name: string; in: string; example?: unknown; schema: { examples?: unknown[] } }[];
  requestBody?: { content: { 'application/json': { example?: unknown } } };
  responses: Record<string, { $ref?: string; content?: { 'application/json': { example?: unknown } } }>;
};

describe('OpenAPI document', () => {
  it('openapi.json and client/api-types.ts are what `npm run openapi` generates now', () => {
    expect(staleGeneratedFiles(), 'stale: run npm run openapi').toEqual([]);
  });

  it('has every route with its parameters, examples, a success answer and its errors', () => {
    const document = buildOpenApiDocument() as { paths: Record<string, Record<string, Operation>> };
    for (const route of ROUTES) {
      const operation = document.paths[route.path]?.[route.method.toLowerCase()];
      expect(operation?.operationId, `${route.method} ${route.path}`).toBe(route.name);
      if (!operation) continue;
      const pathNames = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const inPath = (operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      expect(inPath, route.name).toEqual(pathNames);
      for (const parameter of operation.parameters ?? []) {
        expect(
          parameter.example ?? parameter.schema.examples?.[0],
          `${route.name} ${parameter.name}`,
        ).toBeDefined();
      }
      const statuses = Object.keys(operation.responses);
      const success = statuses.filter((status) => status.startsWith('2'));
      expect(success.length, route.name).toBeGreaterThan(0);
      for (const status of success) {
        expect(operation.responses[status]?.content?.['application/json'].example, route.name).toBeDefined();
      }
      expect(statuses, route.name).toEqual(expect.arrayContaining(['400', '401', '429', '500', '503']));
      if (route.access === 'admin') expect(statuses, route.name).toContain('403');
      if (operation.requestBody) {
        expect(operation.requestBody.content['application/json'].example, route.name).toBeDefined();
        expect(statuses, route.name).toEqual(expect.arrayContaining(['413', '415']));
      }
    }
  });
});

describe('recorded examples (npm run openapi:examples, from a seeded npm start)', () => {
  const recorded = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'functions', 'openapi', 'recorded-examples.json'), 'utf8'),
  ) as Record<string, Record<string, unknown>>;

  it('every operation has one, and each is an answer the document allows', () => {
    expect(Object.keys(recorded).sort()).toEqual(operationIds().sort());
    const problems = Object.entries(recorded).flatMap(([operationId, byStatus]) =>
      Object.entries(byStatus).flatMap(([status, example]) => exampleProblems(operationId, status, example)),
    );
    expect(problems).toEqual([]);
  });

  it('they are the success examples of openapi.json', () => {
    const document = buildOpenApiDocument() as { paths: Record<string, Record<string, Operation>> };
    for (const operations of Object.values(document.paths)) {
      for (const operation of Object.values(operations)) {
        for (const [status, example] of Object.entries(recorded[operation.operationId] ?? {})) {
          expect(operation.responses[status]?.content?.['application/json'].example).toEqual(example);
        }
      }
    }
  });
});

describe('the contract check (test/support/openapi-contract.ts) can fail', () => {
  const json = { 'content-type': 'application/json' };
  it('refuses a status the operation does not document', () => {
    const problems = contractProblems(
      { method: 'POST', url: '/v1/groups' },
      { status: 410, headers: json, text: '{"error":{"code":"resync_required","message":"x"}}' },
    );
    expect(problems).toEqual([expect.stringContaining('createGroup answered 410')]);
  });

  it("refuses an error code outside the operation's enum, and a body missing a required field", () => {
    const wrongCode = contractProblems(
      { method: 'GET', url: '/v1/admin/retention' },
      { status: 400, headers: json, text: '{"error":{"code":"resync_required","message":"x"}}' },
    );
    expect(wrongCode).toEqual([expect.stringContaining('getRetention 400: the body does not match')]);
    const missing = contractProblems(
      { method: 'POST', url: '/v1/messages' },
      { status: 201, headers: json, text: '{"notAMessage":1}' },
    );
    expect(missing).toEqual([expect.stringContaining('sendMessage 201: the body does not match')]);
  });

  it('refuses a 503 without Retry-After, and an unrouted answer the document does not list', () => {
    const noRetry = contractProblems(
      { method: 'GET', url: '/health' },
      { status: 503, headers: json, text: '{"error":{"code":"unavailable","message":"x"}}' },
    );
    expect(noRetry).toEqual(['health 503: the Retry-After header is missing']);
    const unrouted = contractProblems(
      { method: 'GET', url: '/v2/nothing' },
      { status: 400, headers: json, text: '{"error":{"code":"bad_request","message":"x"}}' },
    );
    expect(unrouted).toEqual([expect.stringContaining('reached no operation and answered 400')]);
  });
});

describe('the handlers answer what the document says', () => {
  it('every answer of a session over all routes parses with its declared schema, unchanged', async () => {
    const harness = await startHarness();
    try {
      const deps = harness.deps;
      const schemaOf = (route: RouteName, status: number): z.ZodMiniType | undefined =>
        status >= 400 ? errorSchema() : contractOf(HANDLER_FACTORIES[route](deps))?.responses[status];
      const alice = await harness.token('oa-alice');
      const bob = await harness.token('oa-bob');
      const admin = await harness.token('oa-ops', { admin: true });
      const json = (body: unknown) => ({
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      const seen = new Set<RouteName>();
      async function call(
        route: RouteName,
        method: string,
        path: string,
        token: string,
        init: { body?: string; headers?: Record<string, string> } = {},
      ) {
        const wire = await sendRequest(harness.baseUrl, {
          method,
          url: path,
          body: init.body,
          headers: { authorization: `Bearer ${token}`, ...init.headers },
        });
        // The document as the contract: a status it lists for the operation, a body its schema allows.
        expect(contractProblems({ method, url: path }, wire)).toEqual([]);
        const response: RawResponse = {
          status: wire.status,
          headers: new Headers(wire.headers),
          body: JSON.parse(wire.text),
        };
        const schema = schemaOf(route, response.status);
        expect(schema, `${route} answered ${response.status}, which it does not declare`).toBeDefined();
        // Parsing strips what a schema does not name: equal means nothing undeclared was answered.
        expect(schema?.parse(response.body), `${route} ${response.status}`).toEqual(response.body);
        seen.add(route);
        return response;
      }
      const conv = '/v1/conversations/single/oa-bob';
      const sent = await call(
        'sendMessage',
        'POST',
        '/v1/messages',
        alice,
        json({ to: 'oa-bob', chatType: 'single', type: 'text', body: { text: 'hi' }, ext: { k: 1 } }),
      );
      const msgId = (sent.body.message as { msgId: string }).msgId;
      await call(
        'sendMessage',
        'POST',
        '/v1/messages',
        alice,
        json({ to: 'oa-bob', chatType: 'single', type: 'text', body: { text: 'again' } }),
      );
      const first = await call('listConversations', 'GET', '/v1/conversations?limit=5', alice);
      await call('listConversations', 'GET', `/v1/conversations?since=${first.body.syncToken}`, alice);
      await call('listConversations', 'GET', '/v1/conversations?pageSize=5&pageNum=1', alice);
      await call('fetchHistory', 'GET', `${conv}/messages?pageSize=1`, alice);
      await call('markRead', 'PUT', `${conv}/read`, alice);
      await call('pinConversation', 'PUT', `${conv}/pin`, alice);
      await call('unpinConversation', 'DELETE', `${conv}/pin`, alice);
      await call('markConversation', 'PUT', `${conv}/marks/3`, alice);
      await call('unmarkConversation', 'DELETE', `${conv}/marks/3`, alice);
      await call('putConversationRetention', 'PUT', `${conv}/retention`, alice, json({ days: 7 }));
      const again = await call('listConversations', 'GET', '/v1/conversations?limit=5', alice);
      await call(
        'modifyMessage',
        'PATCH',
        `${conv}/messages/${msgId}`,
        alice,
        json({ body: { text: 'hi!' } }),
      );
      await call('recallMessage', 'POST', `${conv}/messages/${msgId}/recall`, alice);
      await call('listConversations', 'GET', `/v1/conversations?since=${again.body.syncToken}`, alice);
      await call('deleteMessages', 'DELETE', `${conv}/messages?msgIds=${msgId}`, alice);
      await call('deleteMessages', 'DELETE', `${conv}/messages?before=${harness.clock.now()}`, alice);
      await call('listConversations', 'GET', `/v1/conversations?since=${first.body.syncToken}`, alice);
      await call(
        'deleteConversation',
        'DELETE',
        '/v1/conversations/single/oa-alice?deleteMessages=true',
        bob,
      );
      const created = await call(
        'createGroup',
        'POST',
        '/v1/groups',
        alice,
        json({ name: 'Team', members: ['oa-bob'] }),
      );
      const team = (created.body.group as { groupId: string }).groupId;
      await call('addMember', 'PUT', `/v1/groups/${team}/members/oa-carol`, alice);
      await call('removeMember', 'DELETE', `/v1/groups/${team}/members/oa-carol`, alice);
      await call('putRetention', 'PUT', '/v1/admin/retention', admin, json({ days: 30 }));
      await call('putUserRetention', 'PUT', '/v1/admin/retention/users/oa-bob', admin, json({ days: null }));
      await call('getRetention', 'GET', '/v1/admin/retention', admin);
      await call('deleteUserRetention', 'DELETE', '/v1/admin/retention/users/oa-bob', admin);
      // A preview, a shortening that waits (202) and its cancel; a second cancel finds nothing (409).
      await call('previewRetention', 'GET', '/v1/admin/retention/preview?days=1', admin);
      const shorter = json({ days: 1, delaySeconds: 3600 });
      await call('putUserRetention', 'PUT', '/v1/admin/retention/users/oa-bob', admin, shorter);
      await call('cancelPendingRetention', 'DELETE', '/v1/admin/retention/pending?userId=oa-bob', admin);
      await call('cancelPendingRetention', 'DELETE', '/v1/admin/retention/pending?userId=oa-bob', admin);
      await call('startSweep', 'POST', '/v1/admin/sweeps', admin, json({}));
      await call('listSweeps', 'GET', '/v1/admin/sweeps', admin);
      await call('replayEvents', 'POST', '/v1/admin/events/replay', admin, json({ from: 0 }));
      const hold = {
        userIds: ['oa-dave'],
        reason: 'case',
        conversations: [{ chatType: 'single', convId: 'oa-bob' }],
      };
      await call('putHold', 'PUT', '/v1/admin/holds/oa-case', admin, json(hold));
      await call('listHolds', 'GET', '/v1/admin/holds', admin);
      await call('deleteHold', 'DELETE', '/v1/admin/holds/oa-case', admin);
      await call('deleteHold', 'DELETE', '/v1/admin/holds/oa-case', admin);
      await call('putHold', 'PUT', '/v1/admin/holds/oa-case', admin, json({ userIds: [], reason: 'case' }));
      const erasure = await call(
        'startErasure',
        'POST',
        '/v1/admin/erasures',
        admin,
        json({ userId: 'oa-gone' }),
      );
      await call('getErasure', 'GET', `/v1/admin/erasures/${erasure.body.erasureId as string}`, admin);
      await call('getErasure', 'GET', '/v1/admin/erasures/01ARZ3NDEKTSV4RRFFQ69G5FAV', admin);
      await call('listAudit', 'GET', '/v1/admin/audit?limit=5', admin);
      const exported = await call(
        'startExport',
        'POST',
        '/v1/admin/exports',
        admin,
        json({ userId: 'oa-alice' }),
      );
      await harness.exports.starter.idle();
      await call('getExport', 'GET', `/v1/admin/exports/${exported.body.exportId}`, admin);
      // Errors too: bad input, a missing scope, an unknown conversation.
      await call('fetchHistory', 'GET', `${conv}/messages?pageSize=0`, alice);
      await call('getRetention', 'GET', '/v1/admin/retention', alice);
      await call('pinConversation', 'PUT', '/v1/conversations/single/nobody/pin', alice);
      const health = await sendRequest(harness.baseUrl, { method: 'GET', url: '/health' });
      expect(contractProblems({ method: 'GET', url: '/health' }, health)).toEqual([]);
      expect([...seen].sort()).toEqual(ROUTES.map((route) => route.name).sort());
      console.log(`OpenAPI session: ${checkedPairs.size} (operation, status) pairs seen, each documented`);
    } finally {
      await harness.close();
    }
  });
});
