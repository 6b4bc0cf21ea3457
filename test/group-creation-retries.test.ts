import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commandGate, isCommand } from './support/command-gate.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Creating a group with a clientRequestId is safe to retry, as a send with a clientMsgId is: the record
 * is written in the creating transaction, so a retry finds the group the first attempt made, whatever
 * happened to its answer. One group a day per user here, so a second group would show.
 */
const gate = commandGate();
let h: Harness;
/** The same service with no rate limits. */
let open: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { groupsPerDay: 1 }, wrapClient: (client) => gate.wrap(client) });
  open = await startHarness({ wrapClient: (client) => gate.wrap(client) });
});
afterEach(() => gate.reset());
afterAll(async () => {
  await h.close();
  await open.close();
});

/** The groups `owner` owns, as stored (META items). */
async function groupsOwnedBy(owner: string, on: Harness = h): Promise<string[]> {
  const { Items = [] } = (await on.documentClient.send(
    new ScanCommand({
      TableName: on.tableName,
      FilterExpression: 'sk = :meta AND #owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':meta': 'META', ':owner': owner },
      ConsistentRead: true,
    }),
  )) as { Items?: { groupId: string }[] };
  return Items.map((item) => item.groupId);
}

describe('creating a group with a clientRequestId', () => {
  it('answers a retry with the group the first request made, and spends the day’s limit once', async () => {
    // Prepare
    const owner = await h.as('gr1-owner');
    const request = { name: 'Team', members: ['gr1-bob'], clientRequestId: 'create-1' };
    const first = await owner.createGroup(request);
    // Act
    const retried = await owner.createGroup(request);
    // Assess: the same group (a retry lists the members as the group stores them: sorted).
    expect({ ...retried, members: [...retried.members].sort() }).toEqual({
      ...first,
      members: [...first.members].sort(),
    });
    expect(await groupsOwnedBy('gr1-owner')).toEqual([first.groupId]);
    const another = await h.raw('POST', '/v1/groups', {
      token: await h.token('gr1-owner'),
      body: JSON.stringify({ name: 'Other' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(another.status).toBe(429);
  });

  it('makes one group when two requests with the same clientRequestId race', async () => {
    // Prepare: both read "no record" before either writes (the first read is held until both sent theirs).
    // Without limits, so only the record's condition can stop the second group.
    const owner = await open.as('gr5-owner');
    const request = { name: 'Team', members: ['gr5-bob'], clientRequestId: 'create-5' };
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => {
      release = resolve;
    });
    gate.before(isCommand('BatchGetCommand'), () => bothRead);
    gate.after(isCommand('BatchGetCommand'), () => release());
    // Act
    const [a, b] = await Promise.all([owner.createGroup(request), owner.createGroup(request)]);
    // Assess: the loser's transaction failed on the record and its retry found the winner's group.
    expect(b.groupId).toBe(a.groupId);
    expect([...b.members].sort()).toEqual([...a.members].sort());
    expect(await groupsOwnedBy('gr5-owner', open)).toEqual([a.groupId]);
  });

  it('refuses the same clientRequestId for a different group with 409, and creates nothing', async () => {
    // Prepare
    const owner = await h.as('gr2-owner');
    await owner.createGroup({ name: 'Team', members: ['gr2-bob'], clientRequestId: 'create-2' });
    // Act
    const reused = await h.raw('POST', '/v1/groups', {
      token: await h.token('gr2-owner'),
      body: JSON.stringify({ name: 'Team', members: ['gr2-carol'], clientRequestId: 'create-2' }),
      headers: { 'content-type': 'application/json' },
    });
    // Assess
    expect(reused.status).toBe(409);
    expect(reused.body.error?.message).toMatch(/clientRequestId was already used/);
    expect(await groupsOwnedBy('gr2-owner')).toHaveLength(1);
  });

  it('makes one group when the first answer was lost after the group was created', async () => {
    // Prepare: the creating transaction commits, then its answer is lost.
    const owner = await h.as('gr3-owner');
    const request = { name: 'Team', members: ['gr3-bob'], clientRequestId: 'create-3' };
    gate.after(isCommand('TransactWriteCommand'), () => {
      throw new Error('connection reset after the commit');
    });
    await expect(owner.createGroup(request)).rejects.toMatchObject({ status: 500 });
    const made = await groupsOwnedBy('gr3-owner');
    expect(made).toHaveLength(1);
    // Act
    const retried = await owner.createGroup(request);
    // Assess
    expect(retried.groupId).toBe(made[0]);
    expect(await groupsOwnedBy('gr3-owner')).toEqual(made);
  });

  it('does not bring back, on a retry, a member who left the group it made', async () => {
    // Prepare: 30 invitees, made whole; then one who joined in the second transaction, and one founder, leave.
    const owner = await h.as('gr6-owner');
    const invitees = Array.from({ length: 30 }, (_, i) => `gr6-m${String(i).padStart(2, '0')}`);
    const request = { name: 'Big', members: invitees, clientRequestId: 'create-6' };
    const made = await owner.createGroup(request);
    await owner.removeGroupMember(made.groupId, 'gr6-m29');
    await owner.removeGroupMember(made.groupId, 'gr6-m00');
    // Act
    const retried = await owner.createGroup(request);
    // Assess: the same group, as it is now.
    expect(retried.groupId).toBe(made.groupId);
    const now = invitees.filter((m) => m !== 'gr6-m29' && m !== 'gr6-m00');
    expect([...retried.members].sort()).toEqual(['gr6-owner', ...now].sort());
    const group = await owner.addGroupMember(made.groupId, 'gr6-m01');
    expect([...group.members].sort()).toEqual(['gr6-owner', ...now].sort());
  });

  it('finishes joining the members of a large group whose creation stopped after its first transaction', async () => {
    // Prepare: 30 invitees (the first transaction takes the owner and 18); the second join fails.
    const owner = await h.as('gr4-owner');
    const invitees = Array.from({ length: 30 }, (_, i) => `gr4-m${String(i).padStart(2, '0')}`);
    const request = { name: 'Big', members: invitees, clientRequestId: 'create-4' };
    // Each gate hook fires once: the first transaction passes, the second is refused.
    gate.before(isCommand('TransactWriteCommand'), () => undefined);
    gate.before(isCommand('TransactWriteCommand'), () => {
      throw new Error('the second transaction never got there');
    });
    await expect(owner.createGroup(request)).rejects.toMatchObject({ status: 500 });
    const [stopped] = await groupsOwnedBy('gr4-owner');
    const founders = await owner.addGroupMember(stopped as string, 'gr4-m00');
    expect(founders.members).toHaveLength(19);
    // Act
    const retried = await owner.createGroup(request);
    // Assess: one group, with everyone in it.
    expect(await groupsOwnedBy('gr4-owner')).toEqual([retried.groupId]);
    const group = await owner.addGroupMember(retried.groupId, 'gr4-m00');
    expect([...group.members].sort()).toEqual(['gr4-owner', ...invitees].sort());
  });
});
