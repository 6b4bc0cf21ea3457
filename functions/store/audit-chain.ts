import { createHash } from 'node:crypto';

/**
 * The audit trail as a hash chain (pure: no store). Record n keeps the hash of record n-1 (`prevHash`)
 * and its own (`hash`, over its content and `prevHash`), and records are numbered 1, 2, 3... without
 * gaps, each written once (a conditional put on its number). So an edited record no longer matches its
 * hash, or, edited hash and all, no longer matches what the next record chained to; a deleted record
 * leaves a gap in the numbers. verifyChain finds both.
 */

/** One admin action: who did what, to what, and the value before and after. */
export interface AuditRecord {
  auditId: string;
  /** The admin's `sub`. */
  actor: string;
  action:
    | 'retention.set'
    | 'retention.schedule'
    | 'retention.cancel'
    | 'retention.clear'
    | 'sweep.start'
    | 'hold.set'
    | 'hold.release'
    | 'export.start'
    | 'erasure.start'
    | 'message.recall'
    | 'events.replay';
  /** What was changed: `app`, `user:{id}` (a policy, or whose data an export copies), `hold:{id}`, or a sweep run id. */
  target: string;
  before: unknown;
  after: unknown;
  /** Wall-clock ms of the instance that served it. */
  at: number;
}

/** A record in the chain: its number, the hash of the record before it, and its own hash. */
export interface ChainedAuditRecord extends AuditRecord {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The newest record's number and hash (seq 0 and GENESIS_HASH for an empty trail). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** What the first record chains to. */
export const GENESIS_HASH = 'genesis';

export const EMPTY_CHAIN: ChainHead = { seq: 0, hash: GENESIS_HASH };

/** The next record after `head`: numbered and chained. */
export function chainAfter(head: ChainHead, record: AuditRecord): ChainedAuditRecord {
  const linked = { ...record, seq: head.seq + 1, prevHash: head.hash };
  return { ...linked, hash: hashOf(linked) };
}

/** SHA-256 over the record's fields (not `hash`), in a canonical JSON form, base64url. */
export function hashOf(record: Omit<ChainedAuditRecord, 'hash'>): string {
  const { seq, auditId, actor, action, target, before, after, at, prevHash } = record;
  const content = { seq, auditId, actor, action, target, before, after, at, prevHash };
  return createHash('sha256').update(canonicalJson(content)).digest('base64url');
}

/** JSON with object keys sorted at every level and undefined members left out (as the store drops them). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface ChainProblem {
  seq: number;
  problem: 'missing' | 'edited';
  detail: string;
}

export interface ChainVerification {
  /** No record missing, none edited. */
  intact: boolean;
  /** Records read. */
  checked: number;
  /** The newest record's number and hash, as stored (null for an empty trail). */
  head: ChainHead | null;
  /** At most MAX_PROBLEMS, oldest first. */
  problems: ChainProblem[];
}

const MAX_PROBLEMS = 100;

/**
 * Checks records as stored, oldest first (their number as the store keys them, `keyedSeq`). A gap in the
 * numbers is a missing record; a record whose content does not give its hash was edited; a record whose
 * `prevHash` is not the hash of the record before it (with no gap between) follows a record that was
 * edited, hash and all. A deletion of the newest records leaves no gap: the head's number and hash, also
 * in every admin action's log line, are what to compare with (docs/aws.md).
 */
export function verifyChain(
  stored: readonly { keyedSeq: number; record: Partial<ChainedAuditRecord> }[],
): ChainVerification {
  const problems: ChainProblem[] = [];
  const report = (problem: ChainProblem) => {
    if (problems.length < MAX_PROBLEMS) problems.push(problem);
  };
  let expected = 1;
  let previousHash = GENESIS_HASH;
  for (const { keyedSeq, record } of stored) {
    const gap = keyedSeq > expected;
    for (let seq = expected; seq < keyedSeq; seq++) {
      report({ seq, problem: 'missing', detail: `record ${seq} is gone: the numbers jump to ${keyedSeq}` });
    }
    if (record.seq !== keyedSeq || record.hash !== hashOf(record as ChainedAuditRecord)) {
      report({ seq: keyedSeq, problem: 'edited', detail: `record ${keyedSeq} does not match its hash` });
    } else if (!gap && record.prevHash !== previousHash) {
      report({
        seq: keyedSeq - 1,
        problem: 'edited',
        detail: `record ${keyedSeq} was chained to a different record ${keyedSeq - 1}`,
      });
    }
    previousHash = String(record.hash);
    expected = keyedSeq + 1;
  }
  const last = stored.at(-1);
  return {
    intact: problems.length === 0,
    checked: stored.length,
    head: last ? { seq: last.keyedSeq, hash: String(last.record.hash) } : null,
    problems,
  };
}
