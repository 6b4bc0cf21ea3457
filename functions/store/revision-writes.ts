import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { previewOf } from '../core/message-preview.js';
import type { Message } from '../core/model.js';
import { type Db, type Key, sendConditional } from './db.js';
import { metaKey } from './group-store.js';
import { type CopyHome, copyKey } from './message-store.js';
import { toStoredMessage } from './stored-message.js';
import type { TransactItem } from './transactions.js';
import { UpdateExpression } from './update-expression.js';

/**
 * The writes that carry a revision (a recall's tombstone, an edit's new version: functions/domain/revise.ts)
 * into the places a message is kept: copies, a group's fan-out log entry, a META's latest message. Each
 * is conditioned so that it never goes backwards: nothing is revised after a recall, and an edit only
 * replaces an older edit. A copy its owner deleted (gone, or a tombstone kept for a hold) is left alone:
 * a one-way delete wins.
 */

/** Whether a copy (or an embedded message) already shows `revised`, or something newer. */
export function showsRevision(stored: Record<string, unknown> | undefined, revised: Message): boolean {
  if (stored?.recalled !== undefined) return true;
  if (revised.recalled !== undefined) return false;
  const count = (stored?.edited as { count?: number } | undefined)?.count ?? 0;
  return count >= (revised.edited?.count ?? 0);
}

/** The Update of a copy (an owner's, or a group's shared one) to `revised`, if it is still there. */
export function reviseCopyAction(tableName: string, home: CopyHome, revised: Message): TransactItem {
  const u = new UpdateExpression();
  u.require('attribute_exists(pk)').require(`attribute_not_exists(${u.name('hidden')})`);
  requireOlder(u, undefined, revised);
  setRevision(u, revised);
  return { Update: u.toUpdate(tableName, copyKey(home, revised.msgId)) };
}

/**
 * A message kept inside an item (a fan-out log entry's `message`, a META's `lastMessage`) becomes
 * `revised`: only while it is that message, older. False when the condition did not hold.
 */
export async function reviseEmbedded(
  db: Db,
  key: Key,
  attribute: 'message' | 'lastMessage',
  revised: Message,
): Promise<boolean> {
  const u = new UpdateExpression();
  u.require(`${u.name(attribute)}.${u.name('msgId')} = ${u.value(revised.msgId)}`);
  requireOlder(u, attribute, revised);
  const shown = attribute === 'lastMessage' ? previewOf(revised) : revised;
  u.set(attribute, toStoredMessage(shown));
  return sendConditional(db, new UpdateCommand(u.toUpdate(db.tableName, key)));
}

export function reviseMetaPreview(db: Db, groupId: string, revised: Message): Promise<boolean> {
  return reviseEmbedded(db, metaKey(groupId), 'lastMessage', revised);
}

function path(u: UpdateExpression, parent: string | undefined, name: string): string {
  return parent === undefined ? u.name(name) : `${u.name(parent)}.${u.name(name)}`;
}

/** Never revised after a recall; an edit only over an older one. */
function requireOlder(u: UpdateExpression, parent: string | undefined, revised: Message): void {
  u.require(`attribute_not_exists(${path(u, parent, 'recalled')})`);
  if (revised.edited !== undefined) {
    const edited = path(u, parent, 'edited');
    u.require(
      `attribute_not_exists(${edited}) OR ${edited}.${u.name('count')} < ${u.value(revised.edited.count)}`,
    );
  }
}

/** A copy's attributes become the revision's: a tombstone loses body, ext and edits. */
function setRevision(u: UpdateExpression, revised: Message): void {
  const stored = toStoredMessage(revised);
  for (const attribute of ['body', 'ext', 'edited', 'recalled'] as const) {
    const value = stored[attribute];
    if (value === undefined) u.remove(attribute);
    else u.set(attribute, value);
  }
}
