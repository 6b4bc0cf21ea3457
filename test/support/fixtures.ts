import type { RoamingClient } from '../../client/roaming-client.js';
import type { ManualClock } from '../../functions/core/clock.js';
import type { ConversationRef, Message } from '../../functions/core/model.js';
import type { Deps } from '../../functions/domain/deps.js';
import { singleChatText, writeHistory } from './history-seed.js';

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

/**
 * Writes a long single-chat history straight through the store (as `count` sends would, without the
 * per-send round trips): copies for both sides, one message every `stepMs`, and both conversations
 * pointing at the newest. Advances the harness clock past the last message.
 */
export async function seedSingleChat(
  deps: Deps,
  clock: ManualClock,
  from: string,
  to: string,
  count: number,
  stepMs = 1,
) {
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) {
    clock.advance(stepMs);
    const msgId = deps.ids.next();
    messages.push(singleChatText(msgId, from, to, `seed ${i}`));
  }
  const sides: ConversationRef[] = [
    { owner: from, chatType: 'single', convId: to },
    { owner: to, chatType: 'single', convId: from },
  ];
  await writeHistory(deps, sides, messages);
  clock.advance(1);
  return messages;
}

/** A text of 12 KB as UTF-8 (4,000 three-byte characters: within the 5,000-character limit). */
export const TWELVE_KB_TEXT = '€'.repeat(4_000);

/**
 * Like seedSingleChat, with every message a 12 KB text (3 read units a copy): for tests and figures of
 * what reading history costs.
 */
export async function seedLargeTexts(
  deps: Deps,
  clock: ManualClock,
  from: string,
  to: string,
  count: number,
): Promise<Message[]> {
  const messages = Array.from({ length: count }, (_, i) => {
    clock.advance(1);
    return singleChatText(deps.ids.next(), from, to, `${i} ${TWELVE_KB_TEXT}`);
  });
  await writeHistory(
    deps,
    [
      { owner: from, chatType: 'single', convId: to },
      { owner: to, chatType: 'single', convId: from },
    ],
    messages,
  );
  clock.advance(1);
  return messages;
}
