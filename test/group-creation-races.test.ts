import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commandGate, isCommand } from './support/command-gate.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Issue 20, item 12: a createGroup retry (same clientRequestId) answers with the group as it is now,
 * whatever another attempt of the same creation and a member's removal did while it ran. Races are
 * staged by holding one DynamoDB command of the real client (command-gate.ts).
 */
const gate = commandGate();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ wrapClient: (client) => gate.wrap(client) });
});
afterEach(() => gate.reset());
afterAll(async () => {
  await h.close();
});

describe('a createGroup retry racing a member removal', () => {
  it('answers with the group as it is now when, after it read the record, another retry joined the rest and one of them left', async () => {
    // Prepare: 30 invitees; the creation stops after its first transaction (the owner and 23 joined).
    const owner = await h.as('gcr1-owner');
    const invitees = Array.from({ length: 30 }, (_, i) => `gcr1-m${String(i).padStart(2, '0')}`);
    const request = { name: 'Big', members: invitees, clientRequestId: 'gcr1-create' };
    gate.before(isCommand('TransactWriteCommand'), () => undefined);
    gate.before(isCommand('TransactWriteCommand'), () => {
      throw new Error('the instance died before the second transaction');
    });
    await expect(owner.createGroup(request)).rejects.toMatchObject({ status: 500 });
    // Right after this retry read the record ("joined through 24")...
    let other: Awaited<ReturnType<typeof owner.createGroup>> | undefined;
    gate.after(isCommand('BatchGetCommand'), async () => {
      // ...another retry of the same creation joins the rest, and the last of them leaves.
      other = await owner.createGroup(request);
      await (await h.as('gcr1-m29')).removeGroupMember(other.groupId, 'gcr1-m29');
    });
    // Act
    const retried = await owner.createGroup(request);
    // Assess: the same group, as it is now: everyone but the one who left, who stays out.
    expect(retried.groupId).toBe(other?.groupId);
    const now = ['gcr1-owner', ...invitees.filter((m) => m !== 'gcr1-m29')].sort();
    expect([...retried.members].sort()).toEqual(now);
    const group = await owner.addGroupMember(retried.groupId, 'gcr1-m00');
    expect([...group.members].sort()).toEqual(now);
  });

  it('does not join again a founder who left while the retry ran', async () => {
    // Prepare: a small group, made whole by its first request.
    const owner = await h.as('gcr2-owner');
    const request = { name: 'Small', members: ['gcr2-bob', 'gcr2-carol'], clientRequestId: 'gcr2-create' };
    const made = await owner.createGroup(request);
    // Right after the retry read the record, bob leaves.
    gate.after(isCommand('BatchGetCommand'), async () => {
      await (await h.as('gcr2-bob')).removeGroupMember(made.groupId, 'gcr2-bob');
    });
    // Act
    const retried = await owner.createGroup(request);
    // Assess
    expect(retried.groupId).toBe(made.groupId);
    expect([...retried.members].sort()).toEqual(['gcr2-carol', 'gcr2-owner']);
  });
});
