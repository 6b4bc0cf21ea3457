import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import {
  type AuditRecord,
  type ChainedAuditRecord,
  type ChainHead,
  type ChainVerification,
  chainAfter,
  EMPTY_CHAIN,
  verifyChain,
} from './audit-chain.js';
import { type Db, queryAll, send } from './db.js';
import type { TransactItem } from './transactions.js';

export type { AuditRecord, ChainedAuditRecord, ChainVerification } from './audit-chain.js';

/**
 * The audit trail of admin actions, in a table of its own (`AUDIT / {seq, zero-padded}`): no function
 * may update or delete in it (infra: only PutItem and Query are granted, to the admin functions), and
 * its records form a hash chain (audit-chain.ts). A record is appended in the same transaction as the
 * change it describes (DynamoDB transactions span tables), so there is never a change without its record
 * (nor a record of a change that did not happen). Kept without expiry.
 *
 * Appending is a conditional put of the number after the head as read: of two admins appending at once,
 * one transaction fails its condition, re-reads the head and chains after the other's record, so the
 * chain never forks and never skips a number.
 */
const AUDIT_PK = 'AUDIT';
const SEQ_DIGITS = 12;

const seqKey = (seq: number) => String(seq).padStart(SEQ_DIGITS, '0');

function auditTableOf(db: Db): string {
  if (!db.auditTableName) throw new Error('This function has no audit table (AUDIT_TABLE_NAME is not set)');
  return db.auditTableName;
}

/** The newest record's number and hash, strongly consistent: what the next record chains after. */
export async function readAuditHead(db: Db): Promise<ChainHead> {
  const result = await send<{ Items?: Partial<ChainedAuditRecord>[] }>(
    db,
    new QueryCommand({
      TableName: auditTableOf(db),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': AUDIT_PK },
      ProjectionExpression: 'seq, #hash',
      ExpressionAttributeNames: { '#hash': 'hash' },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: 1,
    }),
  );
  const [head] = result.Items ?? [];
  return head ? { seq: Number(head.seq), hash: String(head.hash) } : EMPTY_CHAIN;
}

/**
 * The Put that appends `record` after `head`, for the transaction that makes the change: it fails if
 * that number is taken (someone appended since the head was read), and the caller re-reads and retries.
 */
export function appendAuditAction(
  db: Db,
  head: ChainHead,
  record: AuditRecord,
): { action: TransactItem; chained: ChainedAuditRecord } {
  const chained = chainAfter(head, record);
  return {
    chained,
    action: {
      Put: {
        TableName: auditTableOf(db),
        Item: { pk: AUDIT_PK, sk: seqKey(chained.seq), ...chained },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
  };
}

/** The newest records first; `before` (a record's number) continues a listing. */
export async function listAuditRecords(
  db: Db,
  page: { limit: number; before?: number },
): Promise<{ records: ChainedAuditRecord[]; more: boolean }> {
  const result = await send<{ Items?: (ChainedAuditRecord & { pk: string; sk: string })[] }>(
    db,
    new QueryCommand({
      TableName: auditTableOf(db),
      KeyConditionExpression: page.before === undefined ? 'pk = :pk' : 'pk = :pk AND sk < :before',
      ExpressionAttributeValues: {
        ':pk': AUDIT_PK,
        ...(page.before === undefined ? {} : { ':before': seqKey(page.before) }),
      },
      ScanIndexForward: false,
      ConsistentRead: true,
      Limit: page.limit + 1,
    }),
  );
  const items = result.Items ?? [];
  const records = items.slice(0, page.limit).map(({ pk: _pk, sk: _sk, ...record }) => record);
  return { records, more: items.length > page.limit };
}

/** Reads the whole trail, oldest first, and checks the chain (a Query page per 1 MB of records). */
export async function verifyAuditTrail(db: Db): Promise<ChainVerification> {
  const items = await queryAll<Partial<ChainedAuditRecord> & { sk: string }>(db, {
    TableName: auditTableOf(db),
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': AUDIT_PK },
    ConsistentRead: true,
  });
  return verifyChain(
    items.map(({ pk: _pk, sk, ...record }: Record<string, unknown>) => ({
      keyedSeq: Number(sk),
      record: record as Partial<ChainedAuditRecord>,
    })),
  );
}
