import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, send } from './db.js';
import type { TransactItem } from './transactions.js';

/**
 * The audit trail of admin actions (`AUDIT / {ulid}`): who did what, to what, and the value before and
 * after. A record is written in the same transaction as the change it describes, so there is never a
 * change without its record (nor a record of a change that did not happen). Kept without expiry.
 */
export interface AuditRecord {
  auditId: string;
  /** The admin's `sub`. */
  actor: string;
  action: 'retention.set' | 'retention.clear' | 'sweep.start';
  /** What was changed: `app`, `user:{id}`, or a sweep run id. */
  target: string;
  before: unknown;
  after: unknown;
  /** Wall-clock ms of the instance that served it. */
  at: number;
}

const AUDIT_PK = 'AUDIT';

export function auditAction(tableName: string, record: AuditRecord): TransactItem {
  return { Put: { TableName: tableName, Item: { pk: AUDIT_PK, sk: record.auditId, ...record } } };
}

/** The newest records first; `before` (an auditId) continues a listing. */
export async function listAuditRecords(
  db: Db,
  page: { limit: number; before?: string },
): Promise<{ records: AuditRecord[]; more: boolean }> {
  const result = await send<{ Items?: (AuditRecord & { pk: string; sk: string })[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: page.before ? 'pk = :pk AND sk < :before' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': AUDIT_PK, ...(page.before ? { ':before': page.before } : {}) },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: page.limit + 1,
    }),
  );
  const items = result.Items ?? [];
  const records = items.slice(0, page.limit).map(({ pk: _pk, sk: _sk, ...record }) => record);
  return { records, more: items.length > page.limit };
}
