import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Message } from '../../functions/core/model.js';
import type { SendRecord, SimulationLog } from './log.js';
import { expectedRevision } from './revisions.js';
import type { World } from './world.js';

/**
 * The oracle's checks of recalls and edits (docs/recall-and-edit.md), against the log:
 * - every history shows a message as the log says it must be now: a tombstone (no body, no ext) after
 *   an acknowledged recall; else at least the last acknowledged edit, with a text an edit may have left;
 *   recalled only if someone tried to recall it;
 * - the table holds no text a recall or an acknowledged edit took away, in any item or attribute (a
 *   copy deleted under a legal hold, kept hidden for it, excepted: a one-way delete wins over a recall).
 * Devices are held to fresh fetches by oracle-lists.ts, content included.
 */

/** The send a visible message is: by its acknowledged id, else by its original text or an edit's. */
export function sendOf(log: SimulationLog, message: Message): SendRecord | undefined {
  const byId = log.sends.find((s) => s.message?.msgId === message.msgId);
  if (byId) return byId;
  const text = message.body?.text;
  if (typeof text !== 'string') return undefined;
  return (
    log.sends.find((s) => s.text === text) ??
    log.revisions.find((r) => r.text === text && r.msgId === message.msgId)?.send
  );
}

export function checkRevisions(log: SimulationLog, history: Message[], failures: string[], where: string) {
  for (const m of history) {
    const expected = expectedRevision(log, m.msgId);
    if (expected.recalled) {
      if (!m.recalled || m.body !== undefined || m.ext !== undefined)
        failures.push(`${where}: ${m.msgId} was recalled but shows ${JSON.stringify(m)}`);
      continue;
    }
    if (m.recalled) {
      const tried = log.revisions.some((r) => r.msgId === m.msgId && r.kind === 'recall');
      if (!tried) failures.push(`${where}: ${m.msgId} shows as recalled, but no one recalled it`);
      continue;
    }
    if (!expected.attempted) continue;
    const count = m.edited?.count ?? 0;
    const text = String(m.body?.text);
    if (count < expected.minEdits || !expected.texts.has(text)) {
      failures.push(
        `${where}: ${m.msgId} shows "${text}" (${count} edits), after an edit acknowledged at ${expected.minEdits} edits`,
      );
    }
  }
}

/** Every stored item holding a text that a recall or an acknowledged edit took away. */
export async function checkNoRevokedText(world: World, log: SimulationLog): Promise<string[]> {
  const revoked = new Map<string, string>();
  for (const msgId of new Set(log.revisions.map((r) => r.msgId))) {
    const expected = expectedRevision(log, msgId);
    const send = log.sends.find((s) => s.message?.msgId === msgId);
    const texts = [send?.text, ...log.revisions.filter((r) => r.msgId === msgId).map((r) => r.text)];
    for (const text of texts) {
      if (text !== undefined && (expected.recalled || !expected.texts.has(text))) revoked.set(text, msgId);
    }
  }
  if (revoked.size === 0) return [];
  const failures: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await world.direct.db.client.send(
      new ScanCommand({ TableName: world.tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    )) as { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
    for (const item of page.Items ?? []) {
      // A copy its owner deleted under a legal hold is kept whole, hidden, until the hold is released.
      if (item.hidden === true) continue;
      for (const value of strings(item)) {
        for (const [text, msgId] of revoked) {
          if (value.includes(`"${text}"`)) {
            failures.push(
              `${String(item.pk)}|${String(item.sk)} still holds "${text}", taken away from ${msgId}`,
            );
          }
        }
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return failures;
}

/** Every string inside a stored value (bodies are JSON text, so a text shows as `"…"` inside one). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value instanceof Set) return [...value].flatMap(strings);
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.values(value).flatMap(strings);
  }
  return [];
}
