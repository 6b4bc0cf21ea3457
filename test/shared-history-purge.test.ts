import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import type { Message } from '../functions/core/model.js';
import { purgeSharedHistories } from '../functions/domain/shared-history-purge.js';
import { runSweep } from '../functions/domain/sweep.js';
import { batchWriteAll } from '../functions/store/db.js';
import { keys } from '../functions/store/keys.js';
import { copyItem, sharedHistoryOf } from '../functions/store/message-store.js';
import { text } from './support/fixtures.js';
import { partitionItems, viewOf } from './support/group-views.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * The sweep deletes a large group's shared copies once no policy in force for anyone keeps them: at or
 * before the cutoff of the longest retention (the app default and every override; "forever" anywhere
 * keeps everything). Members see the same before and after: each one's reads were bounded by their own
 * cutoff already. Each test has a table of its own (the policies are the whole table's).
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function started(): Promise<Harness> {
  const h = await startHarness({ config: { sharedHistoryAbove: 3, maxGroupMembers: 50 } });
  harnesses.push(h);
  return h;
}

/**
 * A group past the threshold (four members and its owner): its first send finishes the switch. Each
 * message of `timeline` is sent by the owner, then `daysAfter` pass.
 */
async function largeGroup(h: Harness, prefix: string, timeline: [words: string, daysAfter: number][]) {
  const owner = await h.as(`${prefix}-owner`);
  const members = ['a', 'b', 'c', 'd'].map((name) => `${prefix}-${name}`);
  const { groupId } = await owner.createGroup({ name: prefix, members });
  const sent: Message[] = [];
  for (const [words, daysAfter] of timeline) {
    sent.push(await owner.sendMessage(text(groupId, words, { chatType: 'group' })));
    h.clock.advance(daysAfter * DAY_MS);
  }
  const texts = new Map(sent.map((m) => [m.msgId, m.body?.text as string]));
  /** The shared copies in the table, as the texts sent (ids seeded directly show as themselves). */
  const sharedCopies = async () =>
    (await partitionItems(h, keys.sharedHistoryPk(groupId))).map((item) => {
      const msgId = keys.msgIdOfSk(item.sk as string);
      return texts.get(msgId) ?? msgId;
    });
  return { owner, members, groupId, sharedCopies, users: [`${prefix}-owner`, ...members] };
}

async function viewsOf(h: Harness, users: readonly string[], groupId: string) {
  const views: Record<string, Awaited<ReturnType<typeof viewOf>>> = {};
  for (const user of users) views[user] = await viewOf(await h.as(user), groupId);
  return views;
}

describe('purging shared histories', () => {
  it('deletes the copies older than every policy keeps, keeps the newer ones; members see the same', async () => {
    const h = await started();
    // 20, 5 and 1 day old at the sweep.
    const group = await largeGroup(h, 'sp1', [
      ['old one', 0],
      ['old two', 15],
      ['middle', 4],
      ['new', 1],
    ]);
    const [longest, shortest] = group.members as [string, string];
    const admin = await h.as('sp1-ops', { admin: true });
    await admin.setAppRetention(7);
    await admin.setUserRetention(longest, 10);
    await admin.setUserRetention(shortest, 3);
    expect(await partitionItems(h, keys.sharedGroupsPk)).toEqual([keys.sharedGroup(group.groupId)]);
    const before = await viewsOf(h, group.users, group.groupId);
    expect(before[longest]?.history).toEqual(['middle', 'new']);
    expect(before[shortest]?.history).toEqual(['new']);

    const summary = await runSweep(h.deps);

    // The longest retention in force is 10 days: the copies 20 days old go, the one 5 days old stays.
    expect(summary.sharedHistories).toEqual({ groups: 1, copiesDeleted: 2 });
    expect(await group.sharedCopies()).toEqual(['middle', 'new']);
    expect(await viewsOf(h, group.users, group.groupId)).toEqual(before);
  });

  it('an override that keeps longer, or forever, keeps the copies; a cleared one follows the default', async () => {
    const h = await started();
    const group = await largeGroup(h, 'sp2', [
      ['old', 20],
      ['new', 1],
    ]);
    const member = group.members[0] as string;
    const admin = await h.as('sp2-ops', { admin: true });
    await admin.setAppRetention(7);
    await admin.setUserRetention(member, 30);
    // Someone in no group at all keeps forever: nothing is read or deleted.
    await admin.setUserRetention('sp2-archivist', null);
    h.requests.reset();
    expect((await runSweep(h.deps)).sharedHistories).toEqual({ groups: 0, copiesDeleted: 0 });
    expect(h.requests.byCommand.BatchWriteItem ?? 0).toBe(0);
    expect(await group.sharedCopies()).toEqual(['old', 'new']);

    // The longest now is the member's 30 days: the copy 21 days old stays.
    await admin.clearUserRetention('sp2-archivist');
    expect((await runSweep(h.deps)).sharedHistories).toEqual({ groups: 1, copiesDeleted: 0 });
    expect(await group.sharedCopies()).toEqual(['old', 'new']);

    // Cleared, the member's item keeps a floor but no days: the app default's 7 days decide.
    const before = await viewsOf(h, group.users, group.groupId);
    await admin.clearUserRetention(member);
    const cleared = (await partitionItems(h, keys.policyPk)).find(
      (item) => item.sk === keys.userPolicySk(member),
    );
    expect(cleared).toMatchObject({ floor: expect.any(Number) });
    expect(cleared?.retentionDays).toBeUndefined();
    expect((await runSweep(h.deps)).sharedHistories).toEqual({ groups: 1, copiesDeleted: 1 });
    expect(await group.sharedCopies()).toEqual(['new']);
    // The member no longer sees "old" (7 days now); everyone else never did.
    const after = await viewsOf(h, group.users, group.groupId);
    expect(after[member]?.history).toEqual(['new']);
    expect({ ...after, [member]: undefined }).toEqual({ ...before, [member]: undefined });
  });

  it('is idempotent: a second sweep deletes nothing more', async () => {
    const h = await started();
    const group = await largeGroup(h, 'sp3', [
      ['old one', 0],
      ['old two', 20],
      ['new', 1],
    ]);
    const admin = await h.as('sp3-ops', { admin: true });
    await admin.setAppRetention(7);
    const first = await runSweep(h.deps);
    expect(first.sharedHistories).toEqual({ groups: 1, copiesDeleted: 2 });
    const views = await viewsOf(h, group.users, group.groupId);

    h.requests.reset();
    const second = await runSweep(h.deps);
    expect(second.sharedHistories).toEqual({ groups: 1, copiesDeleted: 0 });
    expect(h.requests.byCommand.BatchWriteItem ?? 0).toBe(0);
    // Called again at the same `now`, outside a run: nothing either.
    expect(await purgeSharedHistories(h.deps, h.clock.now())).toEqual({ groups: 1, copiesDeleted: 0 });
    expect(await group.sharedCopies()).toEqual(['new']);
    expect(await viewsOf(h, group.users, group.groupId)).toEqual(views);
  });

  it('a purge its invocation stops (its batch limit) is finished by the next run', async () => {
    const h = await started();
    const group = await largeGroup(h, 'sp4', [
      ['old', 20],
      ['new', 1],
    ]);
    // 300 more copies from before "old" (a long history), written directly: two pages of due keys.
    const oldTime = h.clock.now() - 30 * DAY_MS;
    const seeded = Array.from({ length: 300 }, (_, i) =>
      copyItem(
        sharedHistoryOf(group.groupId),
        {
          msgId: h.deps.ids.at(oldTime + i),
          from: 'sp4-owner',
          to: group.groupId,
          chatType: 'group',
          type: 'text',
          body: { text: `seeded ${i}` },
          timestamp: oldTime + i,
        },
        0,
      ),
    );
    await batchWriteAll(
      h.deps.db,
      seeded.map((item) => ({ PutRequest: { Item: item } })),
    );
    const admin = await h.as('sp4-ops', { admin: true });
    await admin.setAppRetention(7);
    const views = await viewsOf(h, group.users, group.groupId);

    // Two batches of 50 copies, then the invocation stops; the run is closed all the same.
    const stopped = await runSweep(h.deps, { maxBatches: 2 });
    expect(stopped.outcome).toBe('finished');
    expect(stopped.sharedHistories).toEqual({ groups: 1, copiesDeleted: 100, stoppedBy: 'batches' });
    expect(await group.sharedCopies()).toHaveLength(202);

    const next = await runSweep(h.deps);
    expect(next.sharedHistories).toEqual({ groups: 1, copiesDeleted: 201 });
    expect(await group.sharedCopies()).toEqual(['new']);
    expect(await viewsOf(h, group.users, group.groupId)).toEqual(views);
  });
});
