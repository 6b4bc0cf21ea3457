import './quiet-warnings.js';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { localJwtSecret, signDevToken } from './dev-auth.js';

/**
 * `npm run openapi:examples`: records the OpenAPI document's answer examples from a real run. Against a
 * running `npm start` (API, default http://127.0.0.1:3000) that `npm run seed` filled, it calls every
 * operation once as the seeded `user-0001` (and `ex-*` users for the writes, so the seeded data keeps its
 * shape) and writes each success answer to functions/openapi/recorded-examples.json, which
 * `npm run openapi` puts into openapi.json. A test checks that every recorded example is still an answer
 * the document allows. Lists are cut to two items, long texts to 60 characters.
 */
const API = process.env.API ?? 'http://127.0.0.1:3000';
const OUT = fileURLToPath(new URL('../functions/openapi/recorded-examples.json', import.meta.url));
const secret = localJwtSecret().secret;

type Json = Record<string, unknown>;
const examples: Record<string, Record<string, unknown>> = {};

async function call(operationId: string, method: string, path: string, user: string, body?: unknown) {
  const token = await signDevToken(user, { admin: user === 'ex-ops', secret });
  const answer = await fetch(`${API}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await answer.json()) as Json;
  if (!answer.ok) throw new Error(`${operationId}: ${answer.status} ${JSON.stringify(json)}`);
  // The first answer of an operation is its example (later calls only restore what it changed).
  examples[operationId] ??= { [String(answer.status)]: trimmed(json) };
  return json;
}

/** Two items of every list, texts cut short: an example to read, not a dump. */
function trimmed(value: unknown): unknown {
  if (Array.isArray(value)) return value.slice(0, 2).map(trimmed);
  if (typeof value === 'string') return value.length > 60 ? value.slice(0, 60) : value;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, trimmed(inner)]));
  }
  return value;
}

const health = await fetch(`${API}/health`);
examples.health = { [String(health.status)]: await health.json() };

const seeded = 'user-0001';
const page = await call('listConversations', 'GET', '/v1/conversations?limit=2', seeded);
const first = (page.conversations as { convId: string; chatType: string }[])[0];
if (!first) throw new Error(`${seeded} has no conversations: run npm run seed first`);
await call(
  'fetchHistory',
  'GET',
  `/v1/conversations/${first.chatType}/${first.convId}/messages?pageSize=2`,
  seeded,
);

const conv = '/v1/conversations/single/ex-bob';
const sent = (await call('sendMessage', 'POST', '/v1/messages', 'ex-alice', {
  to: 'ex-bob',
  chatType: 'single',
  type: 'text',
  body: { text: 'Are we still on for Friday?' },
})) as { message: { msgId: string } };
await call('sendMessage', 'POST', '/v1/messages', 'ex-bob', {
  to: 'ex-alice',
  chatType: 'single',
  type: 'text',
  body: { text: 'Yes, 7 pm' },
});
await call('markRead', 'PUT', `${conv}/read`, 'ex-alice', {});
await call('pinConversation', 'PUT', `${conv}/pin`, 'ex-alice');
await call('unpinConversation', 'DELETE', `${conv}/pin`, 'ex-alice');
await call('markConversation', 'PUT', `${conv}/marks/3`, 'ex-alice');
await call('unmarkConversation', 'DELETE', `${conv}/marks/3`, 'ex-alice');
await call('putConversationRetention', 'PUT', `${conv}/retention`, 'ex-alice', { days: 7 });
const fixed = await call('sendMessage', 'POST', '/v1/messages', 'ex-alice', {
  to: 'ex-bob',
  chatType: 'single',
  type: 'text',
  body: { text: 'See you at 7' },
});
const fixedId = (fixed as { message: { msgId: string } }).message.msgId;
await call('modifyMessage', 'PATCH', `${conv}/messages/${fixedId}`, 'ex-alice', {
  body: { text: 'See you at 7:30' },
});
await call('recallMessage', 'POST', `${conv}/messages/${fixedId}/recall`, 'ex-alice');
await call('deleteMessages', 'DELETE', `${conv}/messages?msgIds=${sent.message.msgId}`, 'ex-alice');
await call('deleteConversation', 'DELETE', `${conv}?deleteMessages=true`, 'ex-alice');
const created = (await call('createGroup', 'POST', '/v1/groups', 'ex-alice', {
  name: 'Weekend hike',
  members: ['ex-bob'],
})) as { group: { groupId: string } };
const team = created.group.groupId;
await call('addMember', 'PUT', `/v1/groups/${team}/members/ex-carol`, 'ex-alice');
await call('removeMember', 'DELETE', `/v1/groups/${team}/members/ex-carol`, 'ex-alice');
await call('putUserRetention', 'PUT', '/v1/admin/retention/users/ex-bob', 'ex-ops', { days: 90 });
await call('getRetention', 'GET', '/v1/admin/retention', 'ex-ops');
await call('deleteUserRetention', 'DELETE', '/v1/admin/retention/users/ex-bob', 'ex-ops');
await call('previewRetention', 'GET', '/v1/admin/retention/preview?days=7', 'ex-ops');
// A shortening that waits (its answer is putUserRetention's 202 example), then its cancel.
await call('putUserRetention', 'PUT', '/v1/admin/retention/users/ex-bob', 'ex-ops', {
  days: 1,
  delaySeconds: 3600,
});
await call('cancelPendingRetention', 'DELETE', '/v1/admin/retention/pending?userId=ex-bob', 'ex-ops');
await call('deleteUserRetention', 'DELETE', '/v1/admin/retention/users/ex-bob', 'ex-ops');
const retention = (await call('getRetention', 'GET', '/v1/admin/retention', 'ex-ops')) as {
  appDays: number | null;
};
await call('putRetention', 'PUT', '/v1/admin/retention', 'ex-ops', { days: retention.appDays });
await call('startSweep', 'POST', '/v1/admin/sweeps', 'ex-ops', {});
await call('listSweeps', 'GET', '/v1/admin/sweeps?limit=2', 'ex-ops');
await call('replayEvents', 'POST', '/v1/admin/events/replay', 'ex-ops', { from: 0 });
await call('putHold', 'PUT', '/v1/admin/holds/case-2026-114', 'ex-ops', {
  userIds: ['ex-dave'],
  reason: 'Case 2026-114: preserve all records',
});
await call('listHolds', 'GET', '/v1/admin/holds', 'ex-ops');
await call('deleteHold', 'DELETE', '/v1/admin/holds/case-2026-114', 'ex-ops');
// An erasure of a user made for it (ex-gone): the job runs in npm start's process.
await call('sendMessage', 'POST', '/v1/messages', 'ex-gone', {
  to: 'ex-alice',
  chatType: 'single',
  type: 'text',
  body: { text: 'erase me' },
});
const erasure = (await call('startErasure', 'POST', '/v1/admin/erasures', 'ex-ops', {
  userId: 'ex-gone',
})) as { erasureId: string };
for (let i = 0; i < 100; i++) {
  const view = await fetch(`${API}/v1/admin/erasures/${erasure.erasureId}`, {
    headers: { authorization: `Bearer ${await signDevToken('ex-ops', { admin: true, secret })}` },
  });
  if (((await view.json()) as Json).status !== 'running') break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await call('getErasure', 'GET', `/v1/admin/erasures/${erasure.erasureId}`, 'ex-ops');
await call('listAudit', 'GET', '/v1/admin/audit?limit=2', 'ex-ops');
const exported = await call('startExport', 'POST', '/v1/admin/exports', 'ex-ops', { userId: seeded });
// The export's example is a finished one: its progress until then is not recorded.
for (let i = 0; i < 100; i++) {
  const token = await signDevToken('ex-ops', { admin: true, secret });
  const progress = await fetch(`${API}/v1/admin/exports/${exported.exportId}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (((await progress.json()) as { status?: string }).status !== 'running') break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await call('getExport', 'GET', `/v1/admin/exports/${exported.exportId}`, 'ex-ops');

const sorted = Object.fromEntries(Object.entries(examples).sort(([a], [b]) => a.localeCompare(b)));
writeFileSync(OUT, `${JSON.stringify(sorted, null, 2)}\n`);
console.log(
  `Wrote ${Object.keys(sorted).length} operations' examples to functions/openapi/recorded-examples.json`,
);
