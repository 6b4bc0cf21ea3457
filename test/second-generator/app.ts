/**
 * A small app built on the client that @hey-api/openapi-ts generates from openapi.json (a second,
 * independent generator: the document must be enough for it). test/second-generator.test.ts generates
 * the client next to this file (./generated), type-checks both and runs this app against the service:
 *
 *   node --import tsx app.ts <baseUrl> <alice token> <bob phone token> <bob laptop token>
 *
 * Alice sends; Bob's phone lists, reads and marks the conversation read; Bob's laptop learns the read
 * position through `?since=`, deletes the message for Bob, and the phone learns that delete. It prints
 * one JSON line of what each step saw.
 */
import { createClient, createConfig } from './generated/client/index.js';
import { deleteMessages, fetchHistory, listConversations, markRead, sendMessage } from './generated/index.js';

const [baseUrl, aliceToken, phoneToken, laptopToken] = process.argv.slice(2);
if (!baseUrl || !aliceToken || !phoneToken || !laptopToken) {
  throw new Error('usage: app.ts <baseUrl> <alice token> <bob phone token> <bob laptop token>');
}

const device = (token: string) => createClient(createConfig({ baseUrl, auth: token, throwOnError: true }));
const alice = device(aliceToken);
const phone = device(phoneToken);
const laptop = device(laptopToken);
const withAlice = { chatType: 'single', convId: 'sg-alice' } as const;

const sent = await sendMessage({
  client: alice,
  throwOnError: true,
  body: { to: 'sg-bob', chatType: 'single', type: 'text', body: { text: 'hello from alice' } },
});
const msgId = sent.data.message.msgId;

const phoneFirst = await listConversations({ client: phone, throwOnError: true, query: { limit: 20 } });
const laptopFirst = await listConversations({ client: laptop, throwOnError: true, query: { limit: 20 } });

const history = await fetchHistory({
  client: phone,
  throwOnError: true,
  path: withAlice,
  query: { pageSize: 20 },
});
const read = await markRead({ client: phone, throwOnError: true, path: withAlice, body: {} });

const laptopSync = await listConversations({
  client: laptop,
  throwOnError: true,
  query: { since: laptopFirst.data.syncToken as string },
});
const removed = await deleteMessages({
  client: laptop,
  throwOnError: true,
  path: withAlice,
  query: { msgIds: [msgId, '01KDX8S4G0R8Q1Z6V3B2N9M7TA'] },
});
const phoneSync = await listConversations({
  client: phone,
  throwOnError: true,
  query: { since: phoneFirst.data.syncToken as string },
});

// An error answer (pageSize is 1 to 20), typed by the document: its code is one of the operation's enum.
const missing = await fetchHistory({
  client: phone,
  throwOnError: false,
  path: withAlice,
  query: { pageSize: 0 },
});
const errorCode: string | undefined = missing.error?.error.code;

console.log(
  JSON.stringify({
    msgId,
    phoneUnread: phoneFirst.data.conversations.map((c) => [c.convId, c.unreadCount]),
    history: history.data.messages.map((m) => m.msgId),
    readThrough: read.data.readThrough,
    laptopLearned: laptopSync.data.conversations.map((c) => [c.convId, c.unreadCount]),
    deleted: 'deleted' in removed.data ? removed.data.deleted : null,
    phoneLearnedDeleted: (phoneSync.data.messagesDeleted ?? []).flatMap((d) => d.msgIds),
    errorStatus: missing.response.status,
    errorCode,
  }),
);
