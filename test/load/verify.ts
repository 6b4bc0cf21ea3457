import type { LoadApi } from './api.js';
import { conversationKey, type Ledger, type SentMessage } from './ledger.js';

/**
 * After the run, with nothing in flight: every user's whole list and every conversation's whole
 * history, read through the API and held against the ledger. Lost: an acknowledged message missing from
 * a copy nobody deleted it from. Visible after delete: a copy its owner deleted. Wrong: a listed
 * conversation whose latest or unread count is not what its history says, a read position behind an
 * acknowledged one, a conversation with messages missing from the list, a message in a copy of someone
 * who was not in the conversation.
 */
export interface Verdict {
  users: number;
  conversations: number;
  copiesChecked: number;
  lost: string[];
  visibleAfterDelete: string[];
  wrong: string[];
}

interface Listed {
  convId: string;
  chatType: 'single' | 'group';
  unreadCount: number;
  readThrough: string | null;
  lastMessage: { msgId: string };
}

interface Shown {
  msgId: string;
  from: string;
  body: { text?: unknown };
}

export async function verify(
  api: LoadApi,
  ledger: Ledger,
  users: readonly string[],
  tokenOf: (user: string) => string,
): Promise<Verdict> {
  const verdict: Verdict = {
    users: users.length,
    conversations: 0,
    copiesChecked: 0,
    lost: [],
    visibleAfterDelete: [],
    wrong: [],
  };
  let next = 0;
  const worker = async () => {
    while (next < users.length) {
      const user = users[next++] as string;
      await verifyUser(api, ledger, user, tokenOf(user), verdict);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return verdict;
}

async function verifyUser(api: LoadApi, ledger: Ledger, owner: string, token: string, verdict: Verdict) {
  const listed = new Map<string, Listed>();
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await api.call<{ conversations: Listed[]; cursor: string | null }>(
      'verify: list',
      token,
      'GET',
      `/v1/conversations?limit=50${query}`,
    );
    if (page.status !== 200)
      throw new Error(`verification could not list ${owner}'s conversations (${page.status})`);
    for (const c of page.body.conversations) listed.set(conversationKey(owner, c.chatType, c.convId), c);
    cursor = page.body.cursor;
  } while (cursor);

  const keys = new Set([
    ...listed.keys(),
    ...ledger.conversationsOf(owner).map((c) => conversationKey(owner, c.chatType, c.convId)),
  ]);
  for (const key of keys) {
    const [, chatType, convId] = key.split('|') as [string, 'single' | 'group', string];
    const history = await wholeHistory(api, token, chatType, convId);
    const log = ledger.conversation(owner, chatType, convId);
    verdict.conversations++;
    const shownIds = new Set(history.map((m) => m.msgId));
    for (const message of log.messages) {
      verdict.copiesChecked++;
      const status = ledger.statusOf(log, message);
      const where = `${message.msgId} (${owner}'s copy of ${chatType} ${convId})`;
      if (status === 'present' && !shownIds.has(message.msgId)) verdict.lost.push(where);
      if (status === 'deleted' && shownIds.has(message.msgId)) verdict.visibleAfterDelete.push(where);
    }
    for (const shown of history) {
      const known = ledger.messages.get(shown.msgId);
      if (known) {
        const owners = ledger.copiesOf(known).map((c) => c.owner);
        if (!owners.includes(owner))
          verdict.wrong.push(`${shown.msgId} is in ${owner}'s copy of ${key}, not a participant's`);
      } else if (!ledger.uncertainTexts.has(String(shown.body.text))) {
        verdict.wrong.push(
          `${shown.msgId} in ${owner}'s ${chatType} ${convId} was never sent (${String(shown.body.text)})`,
        );
      }
    }
    checkListing(ledger, log, listed.get(key), history, verdict);
  }
}

function checkListing(
  ledger: Ledger,
  log: ReturnType<Ledger['conversation']>,
  listed: Listed | undefined,
  history: Shown[],
  verdict: Verdict,
) {
  const where = `${log.owner}'s ${log.chatType} ${log.convId}`;
  const newest = history.at(-1);
  if (!listed) {
    if (!newest) return;
    // Off the list only if the owner took it off, and nothing came after.
    const newestSent: SentMessage | undefined = ledger.messages.get(newest.msgId);
    const unlisted = log.unlisted.some((u) => newestSent === undefined || newestSent.sentAt < u.ackAt);
    if (!unlisted) verdict.wrong.push(`${where} has messages but is not listed`);
    return;
  }
  if (!newest) {
    verdict.wrong.push(`${where} is listed with nothing in it`);
    return;
  }
  if (listed.lastMessage.msgId !== newest.msgId) {
    verdict.wrong.push(`${where}: latest ${listed.lastMessage.msgId}, its history ends at ${newest.msgId}`);
  }
  const unread = history.filter((m) => listed.readThrough === null || m.msgId > listed.readThrough);
  if (listed.unreadCount !== unread.length) {
    verdict.wrong.push(
      `${where}: unread ${listed.unreadCount}, its history has ${unread.length} after the read position`,
    );
  }
  if (unread.some((m) => m.from === log.owner))
    verdict.wrong.push(`${where}: an own message counts as unread`);
  if (
    log.readThrough !== undefined &&
    (listed.readThrough === null || listed.readThrough < log.readThrough)
  ) {
    verdict.wrong.push(
      `${where}: read position ${listed.readThrough} is behind an acknowledged ${log.readThrough}`,
    );
  }
}

/** Oldest first. */
async function wholeHistory(api: LoadApi, token: string, chatType: string, convId: string): Promise<Shown[]> {
  const messages: Shown[] = [];
  let start: string | null = null;
  do {
    const from: string = start ? `&startMsgId=${start}` : '';
    const page = await api.call<{ messages: Shown[]; cursor: string | null }>(
      'verify: history',
      token,
      'GET',
      `/v1/conversations/${chatType}/${encodeURIComponent(convId)}/messages?pageSize=50&direction=down${from}`,
    );
    if (page.status !== 200)
      throw new Error(`verification could not read ${chatType} ${convId} (${page.status})`);
    messages.push(...page.body.messages);
    start = page.body.cursor;
  } while (start);
  return messages;
}
