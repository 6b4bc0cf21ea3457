import { createHash } from 'node:crypto';
import { DAY_MS } from '../core/clock.js';
import { ConflictError, ForbiddenError } from '../core/errors.js';
import { timeOfId } from '../core/ids.js';
import type { ConversationRef, Message, SendRequest } from '../core/model.js';
import { applyMessage } from '../store/conversation-store.js';
import { getGroup } from '../store/group-store.js';
import { markSendCompleted, reserveSend } from '../store/idempotency-store.js';
import { keys, purgeShardOf } from '../store/keys.js';
import { putCopies } from '../store/message-store.js';
import type { Deps } from './deps.js';

/**
 * Sends a message: one copy per participant (the inbox model), then every participant's conversation
 * moves to it as latest. With a clientMsgId the send is idempotent: a retry gets the same msgId and
 * finishes a fan-out that an earlier attempt left halfway; once completed, a retry writes nothing.
 */
export async function sendMessage(deps: Deps, sender: string, input: SendRequest): Promise<Message> {
  const participants = await participantsOf(deps, sender, input);
  let msgId = deps.newId();
  if (input.clientMsgId !== undefined) {
    const requestHash = hashRequest(input);
    const reservation = await reserveSend(deps.db, sender, input.clientMsgId, {
      msgId,
      requestHash,
      expiresAt: Math.floor((deps.clock.now() + deps.config.idempotencyDays * DAY_MS) / 1000),
    });
    if (reservation.requestHash !== requestHash) {
      throw new ConflictError('clientMsgId was already used for a different message');
    }
    msgId = reservation.msgId;
    if (reservation.completed) return buildMessage(sender, input, msgId);
  }
  const message = buildMessage(sender, input, msgId);
  const refs = participants.map((owner) => conversationOf(owner, sender, input));
  await putCopies(
    deps.db,
    refs.map((ref) => ({ ref, message })),
  );
  await Promise.all(
    refs.map((ref) =>
      applyMessage(deps.db, ref, {
        message,
        unread: ref.owner === sender ? 'reset' : 'increment',
        changeSk: deps.newId(),
        purgeShard: keys.purgeShard(purgeShardOf(ref.owner, deps.config.purgeShards)),
      }),
    ),
  );
  if (input.clientMsgId !== undefined) await markSendCompleted(deps.db, sender, input.clientMsgId);
  return message;
}

/** Everyone who gets a copy: both sides of a single chat, every member of a group. */
async function participantsOf(deps: Deps, sender: string, input: SendRequest): Promise<string[]> {
  if (input.chatType === 'single') return [...new Set([sender, input.to])];
  const group = await getGroup(deps.db, input.to);
  // One answer for "no such group" and "not a member", so group ids cannot be probed.
  if (!group?.members.includes(sender)) throw new ForbiddenError('You are not a member of this group');
  return group.members;
}

/** Each owner's side of the conversation: single chat is named by the peer, group chat by the group. */
function conversationOf(owner: string, sender: string, input: SendRequest): ConversationRef {
  if (input.chatType === 'group') return { owner, chatType: 'group', convId: input.to };
  return { owner, chatType: 'single', convId: owner === sender ? input.to : sender };
}

function buildMessage(sender: string, input: SendRequest, msgId: string): Message {
  return {
    msgId,
    from: sender,
    to: input.to,
    chatType: input.chatType,
    type: input.type,
    body: input.body,
    ...(input.ext !== undefined ? { ext: input.ext } : {}),
    timestamp: timeOfId(msgId),
  };
}

function hashRequest(input: SendRequest): string {
  const { to, chatType, type, body, ext } = input;
  return createHash('sha256').update(JSON.stringify({ to, chatType, type, body, ext })).digest('base64url');
}
