import type { ConversationState } from '../store/conversation.js';
import { oldestInView } from '../store/member-view.js';
import { countCopies } from '../store/message-store.js';
import { gapsAbove } from '../store/unread-gaps.js';
import type { Deps } from './deps.js';

/**
 * What stays unread once the owner's read position or watermark moves up to `from`: the copies in
 * (`from`, head]. Counted from positions, not by reading copies: from the oldest copy above `from`
 * (position p) to the head (position `seq`) there are seq − p + 1 positions, less those holding no copy
 * (gap records: unread copies deleted by ids, positions passed over). So a read ack, a delete and a
 * settle read one copy and the gap records above it, whatever the unread count (docs/consistency.md,
 * section 4). `from` is at or above the current read position and watermark (undefined: neither is set).
 */
export async function unreadAbove(
  deps: Deps,
  state: ConversationState,
  from: string | undefined,
): Promise<number> {
  const head = state.headMsgId;
  if (head === undefined || (from !== undefined && from >= head) || state.unread === 0) return 0;
  const oldest = await oldestInView(deps.db, state, { above: from, atOrBelow: head });
  if (oldest === undefined) return 0;
  // Copies stored before positions were: counted one by one, as they used to be.
  if (oldest.seq === undefined) return countCopies(deps.db, state.ref, { above: from, atOrBelow: head });
  return state.seq - oldest.seq + 1 - (await gapsAbove(deps.db, state.ref, oldest.msgId));
}
