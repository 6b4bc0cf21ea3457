import type { ChatType, ConversationRef, Message } from '../core/model.js';
import { type ConversationState, conversationKey } from '../store/conversation.js';
import { batchGet, type Key, keyString } from '../store/db.js';
import { readsShared } from '../store/member-view.js';
import { copyKey, isTombstone, messageOfCopy, sharedHistoryOf } from '../store/message-store.js';
import type { ChangeMarker } from '../store/sync-store.js';
import { conversationCutoff } from './conversation-retention.js';
import type { Deps } from './deps.js';

/**
 * What a `?since=` answer says of recalled and edited messages (docs/recall-and-edit.md): the ids each
 * marker's record names, by conversation; an edited message as the caller sees it now (read when the
 * answer is made, so a later edit or a recall since shows as it is: a device replaying the answer ends
 * where a fresh fetch would). Messages the caller no longer sees (deleted, expired) are left out.
 */

/** Recalled messages of one conversation: their ids, and the tombstones the caller still sees. */
export interface RecalledMessages {
  convId: string;
  chatType: ChatType;
  msgIds: string[];
  messages: Message[];
}

/** Edited messages of one conversation, as the caller sees them now. */
export interface EditedMessages {
  convId: string;
  chatType: ChatType;
  messages: Message[];
}

/** The ids of one kind (`recalled`, `edited`) the markers name, by conversation. */
export function idsByConversation(
  owner: string,
  markers: readonly ChangeMarker[],
  kind: 'recalled' | 'edited',
): Map<string, { ref: ConversationRef; ids: Set<string> }> {
  const found = new Map<string, { ref: ConversationRef; ids: Set<string> }>();
  for (const marker of markers) {
    if (marker.resyncAt !== undefined || marker[kind].length === 0) continue;
    const ref: ConversationRef = { owner, chatType: marker.chatType, convId: marker.convId };
    const key = keyString(conversationKey(ref));
    const entry = found.get(key) ?? { ref, ids: new Set<string>() };
    for (const id of marker[kind]) entry.ids.add(id);
    found.set(key, entry);
  }
  return found;
}

/** The recalled ids, with the tombstones the caller still sees (one BatchGetItem: messagesNow). */
export async function recalledNow(
  deps: Deps,
  found: ReturnType<typeof idsByConversation>,
  states: readonly ConversationState[],
  cutoff: number,
): Promise<RecalledMessages[]> {
  const now = await messagesNow(deps, found, states, cutoff);
  return [...found].map(([key, { ref, ids }]) => ({
    convId: ref.convId,
    chatType: ref.chatType,
    msgIds: [...ids].sort(),
    messages: now.get(key) ?? [],
  }));
}

export async function editedNow(
  deps: Deps,
  found: ReturnType<typeof idsByConversation>,
  states: readonly ConversationState[],
  cutoff: number,
): Promise<EditedMessages[]> {
  const now = await messagesNow(deps, found, states, cutoff);
  return [...now].map(([key, messages]) => {
    const { ref } = found.get(key) as { ref: ConversationRef };
    return { convId: ref.convId, chatType: ref.chatType, messages };
  });
}

/**
 * The named messages as the caller sees them now, by conversation (none for one with nothing left to
 * show): one BatchGetItem of their copies, and of the shared ones in a group.
 */
async function messagesNow(
  deps: Deps,
  found: ReturnType<typeof idsByConversation>,
  states: readonly ConversationState[],
  cutoff: number,
): Promise<Map<string, Message[]>> {
  const answer = new Map<string, Message[]>();
  if (found.size === 0) return answer;
  const stateOf = new Map(states.map((state) => [keyString(conversationKey(state.ref)), state]));
  const reads: Key[] = [];
  for (const { ref, ids } of found.values()) {
    for (const id of ids) {
      reads.push(copyKey(ref, id));
      if (ref.chatType === 'group') reads.push(copyKey(sharedHistoryOf(ref.convId), id));
    }
  }
  const items = await batchGet(deps.db, reads);
  const now = deps.clock.now();
  for (const [key, { ref, ids }] of found) {
    const state = stateOf.get(key);
    if (!state) continue;
    const expiredAt = conversationCutoff(state, cutoff, now);
    const messages: Message[] = [];
    for (const id of [...ids].sort()) {
      if (state.clearedThrough !== undefined && id <= state.clearedThrough) continue;
      const own = items.get(keyString(copyKey(ref, id)));
      const shared =
        own === undefined && readsShared(ref, state.shared)
          ? items.get(keyString(copyKey(sharedHistoryOf(ref.convId), id)))
          : undefined;
      const item = own ?? shared;
      if (item === undefined || isTombstone(item)) continue;
      const message = messageOfCopy(item);
      if (message.timestamp > expiredAt) messages.push(message);
    }
    if (messages.length > 0) answer.set(key, messages);
  }
  return answer;
}
