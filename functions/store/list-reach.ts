import { keys } from './keys.js';
import { LARGE_GROUPS_LIST_SK } from './large-groups.js';
import type { TransactItem } from './transactions.js';

/**
 * How far back a user's lists must read: the longest own retention (days) any of their conversations was
 * ever given (conversation-retention.ts). A list page bounds its Query by the user's retention cutoff; a
 * conversation whose own policy is longer than the user's may still be visible below it, so the bound
 * goes down to `now - keepDays` when this says so. Kept on the user's large-groups item (`U#{owner}` /
 * `LARGE`, `convKeepDays`): every list page reads that item already (a first page's Query meets it at
 * the top of the list index, later pages read it alongside), so knowing the reach costs no request.
 * Only ever raised (a cleared or shortened policy leaves it: a lower bound than needed costs reads, never
 * a conversation missed).
 */

const ATTRIBUTE = 'convKeepDays';

/** The reach in days as the item says, or undefined when no conversation of the user has its own policy. */
export function listReachOf(item: Record<string, unknown> | undefined): number | undefined {
  const value = item?.[ATTRIBUTE];
  return value === undefined || value === null ? undefined : Number(value);
}

/**
 * Raises the reach to `days` (in the transaction that sets a conversation's policy), if it is lower: the
 * condition fails the transaction when a concurrent raise went higher, and the writer reads again.
 */
export function raiseListReachAction(tableName: string, owner: string, days: number): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: keys.largeGroups(owner),
      // The item sits in the list index (a first page's Query reads it): its list key goes with it.
      UpdateExpression: 'SET listSk = :listSk, #reach = :days',
      ConditionExpression: 'attribute_not_exists(#reach) OR #reach < :days',
      ExpressionAttributeNames: { '#reach': ATTRIBUTE },
      ExpressionAttributeValues: { ':listSk': LARGE_GROUPS_LIST_SK, ':days': days },
    },
  };
}
