import type { RoamingClient } from '../../client/roaming-client.js';
import type { Message } from '../../functions/core/model.js';

export function text(
  to: string,
  words: string,
  extra: { clientMsgId?: string; chatType?: 'single' | 'group' } = {},
) {
  return {
    to,
    chatType: extra.chatType ?? 'single',
    type: 'text',
    body: { text: words },
    clientMsgId: extra.clientMsgId,
  } as const;
}

/** Sends `count` text messages in order and returns them. */
export async function sendMany(
  from: RoamingClient,
  to: string,
  count: number,
  chatType: 'single' | 'group' = 'single',
) {
  const sent: Message[] = [];
  for (let i = 0; i < count; i++) sent.push(await from.sendMessage(text(to, `message ${i}`, { chatType })));
  return sent;
}

/** Walks a conversation's whole history page by page in one direction. */
export async function walkHistory(
  client: RoamingClient,
  convId: string,
  chatType: 'single' | 'group',
  pageSize: number,
  direction: 'up' | 'down',
) {
  const pages: Message[][] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await client.fetchHistoryMessages(convId, chatType, pageSize, cursor, { direction });
    pages.push(page.messages);
    if (page.cursor === null) return pages;
    cursor = page.cursor;
  }
}

export const idsOf = (messages: readonly Message[]) => messages.map((m) => m.msgId);
