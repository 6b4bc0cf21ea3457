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

export interface RevisedIds {
  convId: string;
  chatType: ChatType;
  msgIds: string[];
}

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

export function recalledOf(found: ReturnType<typeof idsByConversation>): RevisedIds[] {
  return [...found.values()].map(({ ref, ids }) => ({
    convId: ref.convId,
    chatType: ref.chatType,
    msgIds: [...ids].sort(),
  }));
}

/** The edited messages as the caller sees them now: one BatchGetItem of their copies (and shared ones). */
export async function editedNow(
  deps: Deps,
  found: ReturnType<typeof idsByConversation>,
  states: readonly ConversationState[],
  cutoff: number,
): Promise<EditedMessages[]> {
  if (found.size === 0) return [];
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
  const answer: EditedMessages[] = [];
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
    if (messages.length > 0) answer.push({ convId: ref.convId, chatType: ref.chatType, messages });
  }
  return answer;
}
