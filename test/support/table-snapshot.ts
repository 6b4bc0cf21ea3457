import { type AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { DocumentSender } from '../../functions/store/db.js';

/**
 * A whole table as the store holds it: every item in DynamoDB's own attribute-value form (`{"N":"1"}`
 * stays the string the store has), keyed by `pk|sk`. Two snapshots are equal exactly when no item was
 * added, removed or changed in any attribute. Attribute names are sorted so that the order DynamoDB
 * Local returns them in does not count as a change.
 */
export type TableSnapshot = Map<string, string>;

export async function snapshotTable(client: DocumentSender, tableName: string): Promise<TableSnapshot> {
  const snapshot: TableSnapshot = new Map();
  let startKey: Record<string, AttributeValue> | undefined;
  do {
    // A low-level Scan (not the document client's): values stay exactly as stored.
    const page = (await (client.send as (command: ScanCommand) => Promise<unknown>).call(
      client,
      new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: startKey }),
    )) as { Items?: Record<string, AttributeValue>[]; LastEvaluatedKey?: Record<string, AttributeValue> };
    for (const item of page.Items ?? []) {
      snapshot.set(`${item.pk?.S}|${item.sk?.S}`, canonicalJson(item));
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return snapshot;
}

export interface TableChange {
  kind: 'added' | 'removed' | 'changed';
  key: string;
  before?: string;
  after?: string;
}

/** What differs between two snapshots: empty when nothing changed. */
export function tableChanges(before: TableSnapshot, after: TableSnapshot): TableChange[] {
  const changes: TableChange[] = [];
  for (const [key, item] of before) {
    const now = after.get(key);
    if (now === undefined) changes.push({ kind: 'removed', key, before: item });
    else if (now !== item) changes.push({ kind: 'changed', key, before: item, after: now });
  }
  for (const [key, item] of after) if (!before.has(key)) changes.push({ kind: 'added', key, after: item });
  return changes;
}

/** Items of `before` selected by `keep` that are gone or changed in `after` (new items do not count). */
export function alteredItems(
  before: TableSnapshot,
  after: TableSnapshot,
  keep: (key: string) => boolean,
): TableChange[] {
  return tableChanges(before, after).filter((change) => change.kind !== 'added' && keep(change.key));
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
  );
}
