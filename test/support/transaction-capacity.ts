import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetItemCommand } from '@aws-sdk/client-dynamodb';
import { TABLE_INDEXES } from '../../functions/store/table.js';

/**
 * Write units of a TransactWriteItems call as AWS bills them. DynamoDB Local reports a transaction as if
 * it had one item (five 3-unit puts come back as 6), so the bench models it instead: every Put, Update
 * and Delete costs 2 × ceil(size / 1 KB) of the larger of the item before and after; every index entry
 * written, changed or removed costs its usual units (an entry whose key changes is a delete and a put); a
 * ConditionCheck costs 2 × ceil(size / 4 KB) read units. Item sizes follow DynamoDB's rules (attribute
 * names plus values; numbers by significant digits). The items are read before and after the call with a
 * client outside the request count.
 */
export interface TransactionUnits {
  writeUnits: number;
  readUnits: number;
}

type Item = Record<string, AttributeValue>;
type Action = {
  Put?: { TableName?: string; Item?: Item };
  Update?: { TableName?: string; Key?: Item };
  Delete?: { TableName?: string; Key?: Item };
  ConditionCheck?: { TableName?: string; Key?: Item };
};

export async function itemsOf(
  reader: DynamoDBClient,
  actions: readonly Action[],
): Promise<(Item | undefined)[]> {
  const keys = actions.map((action) => {
    const part = action.Put ?? action.Update ?? action.Delete ?? action.ConditionCheck;
    const table = part?.TableName as string;
    const key = action.Put
      ? { pk: action.Put.Item?.pk, sk: action.Put.Item?.sk }
      : (part as { Key: Item }).Key;
    return { table, key: key as Item };
  });
  const found = new Map<string, Item>();
  const byTable = new Map<string, Item[]>();
  for (const { table, key } of keys) byTable.set(table, [...(byTable.get(table) ?? []), key]);
  for (const [table, tableKeys] of byTable) {
    for (let i = 0; i < tableKeys.length; i += 100) {
      const result = await reader.send(
        new BatchGetItemCommand({
          RequestItems: { [table]: { Keys: tableKeys.slice(i, i + 100), ConsistentRead: true } },
        }),
      );
      for (const item of result.Responses?.[table] ?? []) found.set(keyString(item), item);
    }
  }
  return keys.map(({ key }) => found.get(keyString(key)));
}

export function transactionUnits(
  actions: readonly Action[],
  before: readonly (Item | undefined)[],
  after: readonly (Item | undefined)[],
): TransactionUnits {
  let writeUnits = 0;
  let readUnits = 0;
  actions.forEach((action, i) => {
    const old = before[i];
    const now = action.Delete ? undefined : after[i];
    if (action.ConditionCheck) {
      readUnits += 2 * Math.ceil(Math.max(1, sizeOf(old)) / 4096);
      return;
    }
    writeUnits += 2 * Math.max(1, Math.ceil(Math.max(sizeOf(old), sizeOf(now)) / 1024));
    writeUnits += indexUnits(old, now);
  });
  return { writeUnits, readUnits };
}

/** Index writes caused by one item going from `old` to `now` (either may be absent). */
function indexUnits(old: Item | undefined, now: Item | undefined): number {
  let units = 0;
  for (const index of TABLE_INDEXES) {
    const entry = (item: Item | undefined) => {
      if (!item?.[index.partitionKey] || !item[index.sortKey]) return undefined;
      if (index.projection === 'ALL') return item;
      const names = new Set(['pk', 'sk', index.partitionKey, index.sortKey, ...index.projection]);
      return Object.fromEntries(Object.entries(item).filter(([name]) => names.has(name)));
    };
    const was = entry(old);
    const is = entry(now);
    const unitsOf = (e: Item) => Math.max(1, Math.ceil(sizeOf(e) / 1024));
    const sameKey = was && is && JSON.stringify(was[index.sortKey]) === JSON.stringify(is[index.sortKey]);
    if (was && is && sameKey) units += Math.max(unitsOf(was), unitsOf(is));
    else {
      if (was) units += unitsOf(was);
      if (is) units += unitsOf(is);
    }
  }
  return units;
}

/** DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers by digits). */
export function sizeOf(item: Item | undefined): number {
  if (!item) return 0;
  return Object.entries(item).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + valueSize(value),
    0,
  );
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined)
    return 1 + Math.ceil(value.N.replace(/^-|\.|e.*$/gi, '').replace(/^0+/, '').length / 2);
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.M !== undefined) return 3 + sizeOf(value.M) + Object.keys(value.M).length;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + Buffer.byteLength(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + 1 + Math.ceil(n.length / 2), 0);
  if (value.B !== undefined) return value.B.length;
  return 0;
}

function keyString(key: Item): string {
  return `${key.pk?.S}|${key.sk?.S}`;
}
