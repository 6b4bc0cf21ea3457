import { ttlAfter } from '../core/clock.js';
import { forEachLimited } from '../core/concurrency.js';
import type { ConversationRef, Message } from '../core/model.js';
import { applyMessage, isMemberView, skipPosition } from '../store/conversation.js';
import { type LogEntry, logEntryKey, readLog, settleLog } from '../store/group-store.js';
import { putCopyAction } from '../store/message-store.js';
import { commit, readForWrite, type Snapshot, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';

/**
 * A group message reaches its members (docs/consistency.md, section 1): each member's copy and
 * conversation update go in one small transaction, conditioned on the member being at the previous
 * position and still a member. So a member applies messages strictly in order, exactly once, and a
 * copy is only ever written for a member who has not applied (and so cannot have deleted) it.
 */

/** Transactions in flight at once during a fan-out. */
const FANOUT_CONCURRENCY = 16;

export interface FanOutTarget {
  seq: number;
  message: Message;
}

/**
 * Brings every member in `members` (the group's members when the message took its position, or since)
 * to `target`. Then every member has the log entries through it, and only then may they expire
 * (`settleLog`, with the entry below read along with the members): so an interrupted fan-out is
 * finished by the retry or the next send however much later, and a message that took a position
 * reaches every member, never only some.
 */
export async function applyToMembers(
  deps: Deps,
  groupId: string,
  members: readonly string[],
  target: FanOutTarget,
): Promise<void> {
  const refs: ConversationRef[] = members.map((owner) => ({ owner, chatType: 'group', convId: groupId }));
  const below = target.seq > 1 ? logEntryKey(groupId, target.seq - 1) : undefined;
  const read = await readForWrite(deps, refs, below ? [below] : []);
  await forEachLimited(refs, FANOUT_CONCURRENCY, (ref) => applyToMember(deps, ref, target, read));
  await settleLog(deps.db, groupId, target.seq, {
    expiresAt: ttlAfter(deps.clock.now(), deps.config.idempotencyDays),
    below: below && read.item(below),
  });
}

/**
 * Brings one member's side up to `target.seq`. A member behind (an earlier fan-out interrupted, or still
 * running) first gets what they miss from the fan-out log: whoever gets there first applies it, the
 * others find it applied. Stops for a member who left or joined after the message.
 */
export async function applyToMember(
  deps: Deps,
  ref: ConversationRef,
  target: FanOutTarget,
  known?: Snapshot,
): Promise<void> {
  let read: Snapshot | undefined = known;
  let state = read?.state(ref);
  const missing = new Map<number, LogEntry>();
  await withRetries(deps, 'group fan-out', async function applyNext() {
    for (;;) {
      if (!read || !state) {
        read = await readForWrite(deps, [ref]);
        state = read.state(ref);
      }
      if (!isMemberView(state) || state.seq >= target.seq) return true;
      const seq = state.seq + 1;
      // An entry is only ever gone (or expired) once every member applied it: no member is behind it
      // then, except behind an entry written before entries waited for their fan-out (it is skipped).
      const entry = seq === target.seq ? target : await logEntry(deps, ref.convId, seq, target.seq, missing);
      const context = read.context(ref.owner);
      const written = entry
        ? applyMessage(context, state, { message: entry.message, seq, own: entry.message.from === ref.owner })
        : skipPosition(context, state, seq);
      const actions = entry
        ? [putCopyAction(deps.db.tableName, ref, entry.message, seq), ...written.actions]
        : written.actions;
      if ((await commit(deps, actions)) === TRY_AGAIN) {
        read = undefined;
        return TRY_AGAIN;
      }
      state = written.next;
    }
  });
}

/** The log entry at `seq`, reading every missing one up to the target at the first need. */
async function logEntry(
  deps: Deps,
  groupId: string,
  seq: number,
  targetSeq: number,
  cache: Map<number, LogEntry>,
): Promise<LogEntry | undefined> {
  if (!cache.has(seq)) {
    const entries = await readLog(deps.db, groupId, { from: seq, to: targetSeq - 1 }, deps.clock.now());
    for (const entry of entries) cache.set(entry.seq, entry);
  }
  return cache.get(seq);
}
