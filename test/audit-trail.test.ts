import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChainedAuditRecord,
  chainAfter,
  EMPTY_CHAIN,
  hashOf,
  verifyChain,
} from '../functions/store/audit-chain.js';
import { auditTableNameOf } from '../functions/store/table.js';
import { commandGate, type SentCommand } from './support/command-gate.js';
import { type Harness, startHarness } from './support/harness.js';

/** A transaction that appends to the audit table `table`. */
const appendsTo = (table: string) => (command: SentCommand) =>
  command.constructor.name === 'TransactWriteCommand' &&
  ((command.input.TransactItems ?? []) as { Put?: { TableName?: string } }[]).some(
    (item) => item.Put?.TableName === table,
  );

/**
 * The audit trail of admin actions: a table of its own, a hash chain (each record carries the hash of the
 * one before it, numbered without gaps), appended in the transaction of the change it records.
 * `GET /v1/admin/audit?verify=true` reads it whole and reports a record edited in the store (content, or
 * content and hash) or deleted from the middle. Records are edited here with the raw DynamoDB client, as
 * someone holding a writer's role (or the console) would.
 */
interface Verification {
  intact: boolean;
  checked: number;
  head: { seq: number; hash: string } | null;
  problems: { seq: number; problem: string; detail: string }[];
}
interface AuditPage {
  records: ChainedAuditRecord[];
  cursor: string | null;
  verification?: Verification;
}

describe('the audit trail (DynamoDB Local)', () => {
  let h: Harness;
  let auditTable: string;
  beforeAll(async () => {
    h = await startHarness();
    auditTable = auditTableNameOf(h.tableName);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A fresh trail: each test runs on a harness of its own table, so numbers start at 1. */
  async function freshHarness(): Promise<{ own: Harness; table: string }> {
    const own = await startHarness();
    return { own, table: auditTableNameOf(own.tableName) };
  }

  async function audit(own: Harness, query = 'verify=true&limit=100'): Promise<AuditPage> {
    const answer = await own.raw('GET', `/v1/admin/audit?${query}`, {
      token: await own.token('trail-ops', { admin: true }),
    });
    expect(answer.status).toBe(200);
    return answer.body as unknown as AuditPage;
  }

  async function fiveActions(own: Harness): Promise<void> {
    const admin = await own.as('trail-ops', { admin: true });
    await admin.setAppRetention(30);
    await admin.setUserRetention('trail-bob', 7);
    await admin.setUserRetention('trail-carol', null);
    await admin.clearUserRetention('trail-bob');
    await admin.setAppRetention(90);
  }

  it('keeps the trail in its own table, chained and numbered 1..n; verify says intact', async () => {
    // Act
    await fiveActions(h);
    const page = await audit(h);
    // Assess: newest first, numbers without gaps, each chained to the one before.
    expect(page.records.map((r) => r.seq)).toEqual([5, 4, 3, 2, 1]);
    const oldestFirst = [...page.records].reverse();
    expect(oldestFirst[0]?.prevHash).toBe('genesis');
    for (let i = 1; i < oldestFirst.length; i++) {
      expect(oldestFirst[i]?.prevHash).toBe(oldestFirst[i - 1]?.hash);
    }
    expect(page.verification).toEqual({
      intact: true,
      checked: 5,
      head: { seq: 5, hash: page.records[0]?.hash },
      problems: [],
    });
    // Nothing of it in the main table (its functions cannot touch this one: infra grants).
    const inMain = await h.documentClient.send(
      new QueryCommand({
        TableName: h.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'AUDIT' },
      }),
    );
    expect(inMain.Items).toEqual([]);
    const stored = await h.documentClient.send(
      new GetCommand({ TableName: auditTable, Key: { pk: 'AUDIT', sk: '000000000005' } }),
    );
    expect(stored.Item).toMatchObject({ seq: 5, hash: page.records[0]?.hash });
  });

  it('pages by number: the cursor continues before the oldest record of the page', async () => {
    const { own } = await freshHarness();
    try {
      await fiveActions(own);
      const first = await audit(own, 'limit=2');
      const second = await audit(own, `limit=2&cursor=${first.cursor}`);
      const third = await audit(own, `limit=2&cursor=${second.cursor}`);
      expect([first, second, third].map((page) => page.records.map((r) => r.seq))).toEqual([
        [5, 4],
        [3, 2],
        [1],
      ]);
      expect([first.cursor, second.cursor, third.cursor]).toEqual(['4', '2', null]);
      expect(first.verification).toBeUndefined();
      const bad = await own.raw('GET', '/v1/admin/audit?cursor=01M927R0DWHTKAHXZ93PP6VE5Q', {
        token: await own.token('trail-ops', { admin: true }),
      });
      expect([bad.status, bad.body.error?.message]).toEqual([400, expect.stringMatching(/cursor/)]);
    } finally {
      await own.close();
    }
  });

  it('stays one chain when admins append at once: every number once, each record chained to the one before', async () => {
    const { own } = await freshHarness();
    try {
      // Prepare: five admins.
      const admins = await Promise.all(
        [1, 2, 3, 4, 5].map((n) => own.as(`trail-admin-${n}`, { admin: true })),
      );
      // Act: each changes a different user's policy at the same moment, and one starts a sweep (an
      // append with no policy change in its transaction).
      await Promise.all([
        ...admins.map((admin, i) => admin.setUserRetention(`trail-user-${i}`, 30 + i)),
        admins[0]?.startSweep(),
      ]);
      // Assess: six records, 1..6, one chain.
      const page = await audit(own);
      expect(page.records.map((r) => r.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(page.verification).toMatchObject({ intact: true, checked: 6, problems: [] });
      expect(new Set(page.records.map((r) => r.target)).size).toBe(6);
    } finally {
      await own.close();
    }
  });

  it('chains a record after one appended while it was being written: the loser re-reads the head', async () => {
    // Prepare: the admin's transaction is held just before it is sent, while another admin appends.
    const gate = commandGate();
    const own = await startHarness({ wrapClient: (client) => gate.wrap(client) });
    try {
      const first = await own.as('trail-first', { admin: true });
      const second = await own.as('trail-second', { admin: true });
      await first.setAppRetention(30);
      gate.before(appendsTo(auditTableNameOf(own.tableName)), async () => {
        await second.setUserRetention('trail-dora', 7);
      });
      // Act: the first admin read the head (record 1) and chains record 2; the second took 2 meanwhile.
      await first.setUserRetention('trail-erin', 14);
      // Assess: the first admin's attempt failed its condition and chained after the second's record.
      const page = await audit(own);
      expect(page.records.map((r) => [r.seq, r.actor, r.target])).toEqual([
        [3, 'trail-first', 'user:trail-erin'],
        [2, 'trail-second', 'user:trail-dora'],
        [1, 'trail-first', 'app'],
      ]);
      expect(page.records[0]?.prevHash).toBe(page.records[1]?.hash);
      expect(page.verification).toMatchObject({ intact: true, checked: 3, problems: [] });
    } finally {
      await own.close();
    }
  });

  it('verify reports a record edited in the store: its content no longer gives its hash', async () => {
    const { own, table } = await freshHarness();
    try {
      await fiveActions(own);
      // Act: record 2 (trail-bob's 7 days) rewritten to say 365, with the raw client.
      const key = { pk: 'AUDIT', sk: '000000000002' };
      const { Item } = await own.documentClient.send(new GetCommand({ TableName: table, Key: key }));
      await own.documentClient.send(new PutCommand({ TableName: table, Item: { ...Item, after: 365 } }));
      // Assess
      const { verification } = await audit(own);
      expect(verification).toMatchObject({
        intact: false,
        checked: 5,
        problems: [{ seq: 2, problem: 'edited', detail: 'record 2 does not match its hash' }],
      });
    } finally {
      await own.close();
    }
  });

  it('verify reports a record edited hash and all: the next record was chained to another', async () => {
    const { own, table } = await freshHarness();
    try {
      await fiveActions(own);
      // Act: record 3 rewritten and its hash recomputed, so it is consistent with itself.
      const key = { pk: 'AUDIT', sk: '000000000003' };
      const { Item } = await own.documentClient.send(new GetCommand({ TableName: table, Key: key }));
      const forged = { ...(Item as ChainedAuditRecord), actor: 'someone-else' };
      forged.hash = hashOf(forged);
      await own.documentClient.send(new PutCommand({ TableName: table, Item: { ...Item, ...forged } }));
      // Assess
      const { verification } = await audit(own);
      expect(verification).toMatchObject({
        intact: false,
        problems: [{ seq: 3, problem: 'edited', detail: 'record 4 was chained to a different record 3' }],
      });
    } finally {
      await own.close();
    }
  });

  it('verify reports a record deleted from the middle: the numbers jump', async () => {
    const { own, table } = await freshHarness();
    try {
      await fiveActions(own);
      // Act
      await own.documentClient.send(
        new DeleteCommand({ TableName: table, Key: { pk: 'AUDIT', sk: '000000000003' } }),
      );
      // Assess
      const page = await audit(own);
      expect(page.records.map((r) => r.seq)).toEqual([5, 4, 2, 1]);
      expect(page.verification).toMatchObject({
        intact: false,
        checked: 4,
        problems: [{ seq: 3, problem: 'missing', detail: 'record 3 is gone: the numbers jump to 4' }],
      });
      // The trail goes on from its head after it: the next action is record 6.
      await (await own.as('trail-ops', { admin: true })).setAppRetention(14);
      expect((await audit(own, 'limit=1')).records[0]?.seq).toBe(6);
    } finally {
      await own.close();
    }
  });
});

describe('the chain (pure)', () => {
  const record = (n: number) => ({
    auditId: `01M927R0DWHTKAHXZ93PP6VE${String(n).padStart(2, '0')}`,
    actor: 'ops',
    action: 'retention.set' as const,
    target: 'app',
    before: n === 1 ? 'unset' : n - 1,
    after: { days: n, nested: { b: 1, a: [1, 'x'] } },
    at: 1_767_225_600_000 + n,
  });
  const chain = (count: number) => {
    const records: ChainedAuditRecord[] = [];
    let head = EMPTY_CHAIN;
    for (let n = 1; n <= count; n++) {
      const next = chainAfter(head, record(n));
      records.push(next);
      head = next;
    }
    return records.map((r) => ({ keyedSeq: r.seq, record: r }));
  };

  it('hashes the content in a canonical form: key order does not matter, every field does', () => {
    const [first] = chain(1);
    const chained = first?.record as ChainedAuditRecord;
    const reordered = Object.fromEntries(Object.entries(chained).reverse()) as ChainedAuditRecord;
    expect(hashOf(reordered)).toBe(chained.hash);
    for (const field of ['seq', 'auditId', 'actor', 'target', 'before', 'after', 'at', 'prevHash'] as const) {
      expect(hashOf({ ...chained, [field]: 'changed' }), field).not.toBe(chained.hash);
    }
  });

  it('finds an edit, a re-hashed edit, a deletion and a renumbered record; an intact chain has none', () => {
    expect(verifyChain(chain(4))).toMatchObject({ intact: true, checked: 4, problems: [] });
    expect(verifyChain([])).toEqual({ intact: true, checked: 0, head: null, problems: [] });
    const edited = chain(4);
    (edited[1] as { record: Partial<ChainedAuditRecord> }).record = { ...edited[1]?.record, after: 365 };
    expect(verifyChain(edited).problems.map((p) => [p.seq, p.problem])).toEqual([[2, 'edited']]);
    const rehashed = chain(4);
    const forged = { ...(rehashed[1]?.record as ChainedAuditRecord), actor: 'x' };
    forged.hash = hashOf(forged);
    (rehashed[1] as { record: Partial<ChainedAuditRecord> }).record = forged;
    expect(verifyChain(rehashed).problems.map((p) => [p.seq, p.problem])).toEqual([[2, 'edited']]);
    const gap = chain(5).filter((entry) => entry.keyedSeq !== 2 && entry.keyedSeq !== 3);
    expect(verifyChain(gap).problems.map((p) => [p.seq, p.problem])).toEqual([
      [2, 'missing'],
      [3, 'missing'],
    ]);
    const firstGone = chain(3).slice(1);
    expect(verifyChain(firstGone).problems.map((p) => [p.seq, p.problem])).toEqual([[1, 'missing']]);
    const renumbered = chain(3);
    (renumbered[2] as { keyedSeq: number }).keyedSeq = 7;
    expect(verifyChain(renumbered).problems.map((p) => p.problem)).toContain('edited');
  });
});
