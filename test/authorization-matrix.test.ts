import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type RouteSpec } from '../functions/routes.js';
import {
  type ForgedAuthorization,
  forgedAuthorizations,
  nonAdminAuthorizations,
  nonUserAuthorizations,
  TOKEN_CASES,
} from './support/forged-tokens.js';
import { type Harness, startHarness, TEST_SECRET } from './support/harness.js';
import { checkedPairs, contractProblems } from './support/openapi-contract.js';
import {
  exampleRequest,
  type RequestTarget,
  type RouteRequest,
  sendRequest,
  sendRouteRequest,
  urlOf,
  type WireResponse,
} from './support/route-requests.js';
import { alteredItems, snapshotTable, tableChanges } from './support/table-snapshot.js';
import { buildVictimWorld, leakedSecrets, type VictimWorld } from './support/victim-world.js';

/**
 * Who may reach what: every route of the route table × every way in that must fail. Generated from
 * functions/routes.ts, so a new route is in the matrix without edits. Each cell checks the status, that
 * no answer carries another user's messages, conversations or group membership (on the raw bytes), that
 * a refused request changed nothing in the table (byte for byte), and that nothing the victims had was
 * altered by an accepted one.
 */

let h: Harness;

type IdentityCaseName = 'another user' | 'group non-member' | 'removed member';
const IDENTITY_CASES: readonly IdentityCaseName[] = ['another user', 'group non-member', 'removed member'];

/** What each identity case asks for, as whom: the victims' own requests, sent with the wrong identity. */
function identityRequest(route: RouteSpec, world: VictimWorld, name: IdentityCaseName) {
  const caller = name === 'removed member' ? world.carol : world.mallory;
  // The intruder joins (PUT) or throws a victim out (DELETE); admin routes name a victim.
  const userId = route.method === 'PUT' && route.access === 'user' ? caller : world.bob;
  const target: RequestTarget =
    name === 'another user'
      ? // alice's request about her chat with bob, her messages in it, her group: mallory's token.
        { chatType: 'single', convId: world.bob, groupId: world.groupId, userId, msgIds: world.singleMsgIds }
      : {
          chatType: 'group',
          convId: world.groupId,
          groupId: world.groupId,
          userId,
          msgIds: world.groupMsgIds,
        };
  return { caller, target, request: exampleRequest(route, target) };
}

/**
 * The answers a cell may get. Refusals are exact; an intruder's request about their own (empty) side of
 * a single chat is answered like any user's, with nothing in it ("the caller has no such conversation":
 * an empty page, a no-op delete, 404 for a read ack).
 */
function allowedStatuses(route: RouteSpec, request: RouteRequest, name: IdentityCaseName): number[] {
  const guess = request.guessed ? [400] : [];
  if (route.access === 'admin') return [403];
  const aboutGroup = route.path.includes('{groupId}') || (request.namesTarget && name !== 'another user');
  if (aboutGroup) return [403, ...guess];
  return [200, 201, 202, 204, 404, ...guess];
}

interface Cell {
  world: VictimWorld;
  request: RouteRequest;
  authorizations: ForgedAuthorization[];
  expected: number[];
}

/** The error code each refusal carries (functions/core/errors.ts). */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
};

/** Sends every authorization of a cell and checks the answers and the table. */
async function checkCell(cell: Cell): Promise<void> {
  const before = await snapshotTable(h.documentClient, h.tableName);
  const answers: { label: string; answer: WireResponse }[] = [];
  for (const { label, authorization } of cell.authorizations) {
    answers.push({ label, answer: await sendRouteRequest(h.baseUrl, cell.request, authorization) });
  }
  const after = await snapshotTable(h.documentClient, h.tableName);
  const sent = {
    url: urlOf(cell.request),
    body: cell.request.body === undefined ? undefined : JSON.stringify(cell.request.body),
  };
  for (const { label, answer } of answers) {
    const seen = { label, status: answer.status, text: answer.text.slice(0, 300) };
    expect(cell.expected, JSON.stringify(seen)).toContain(answer.status);
    expect(leakedSecrets(cell.world, sent, answer), label).toEqual([]);
    // The answer is one the OpenAPI document lists for this operation, with a body its schema allows.
    expect(contractProblems({ method: cell.request.method, url: sent.url }, answer), label).toEqual([]);
    if (answer.status >= 400) {
      expect(JSON.parse(answer.text).error?.code, label).toBe(CODE_OF_STATUS[answer.status]);
    }
  }
  if (answers.every(({ answer }) => answer.status >= 400)) {
    // Refused: not one byte of the table changed.
    expect(tableChanges(before, after)).toEqual([]);
  } else {
    // Accepted (the intruder's own side): whatever the victims had is exactly as it was.
    expect(alteredItems(before, after, cell.world.ownsKey)).toEqual([]);
  }
}

const cellCount = { total: 0 };

afterAll(() => {
  console.log(`authorization matrix: ${checkedPairs.size} (operation, status) pairs seen, each documented`);
});

for (const route of ROUTES) {
  describe(`${route.method} ${route.path}`, () => {
    let world: VictimWorld;
    // A table per route: each cell scans it whole, twice.
    beforeAll(async () => {
      h = await startHarness();
      world = await buildVictimWorld(h, route.name);
    });
    afterAll(async () => {
      await h.close();
    });

    for (const name of TOKEN_CASES) {
      cellCount.total++;
      it(`${name}: 401`, async () => {
        // alice's own valid request about her own data, with a token that must not get in.
        const request = exampleRequest(route, {
          chatType: 'single',
          convId: world.bob,
          groupId: world.groupId,
          userId: world.bob,
          msgIds: world.singleMsgIds,
        });
        const authorizations = await forgedAuthorizations(name, {
          secret: TEST_SECRET,
          sub: world.alice,
          otherSub: world.bob,
        });
        await checkCell({ world, request, authorizations, expected: [401] });
      });
    }

    for (const name of IDENTITY_CASES) {
      cellCount.total++;
      it(`${name}: ${route.access === 'admin' ? '403' : 'refused or their own empty side'}`, async () => {
        const { caller, request } = identityRequest(route, world, name);
        const authorizations = [
          { label: `${name} (${caller})`, authorization: `Bearer ${await h.token(caller)}` },
        ];
        const expected = allowedStatuses(route, request, name);
        await checkCell({ world, request, authorizations, expected });
      });
    }

    if (route.access === 'user') {
      cellCount.total++;
      it('no user scope (an ID token, another API, admin only): 403', async () => {
        // alice's own valid request about her own data, with a token of the issuer not meant for it.
        const request = exampleRequest(route, {
          chatType: 'single',
          convId: world.bob,
          groupId: world.groupId,
          userId: world.bob,
          msgIds: world.singleMsgIds,
        });
        const authorizations = await nonUserAuthorizations(world.alice, TEST_SECRET);
        await checkCell({ world, request, authorizations, expected: [403] });
      });
    }

    if (route.access === 'admin') {
      cellCount.total++;
      it('non-admin: 403', async () => {
        const request = exampleRequest(route, {
          chatType: 'single',
          convId: world.alice,
          groupId: world.groupId,
          userId: world.alice,
          msgIds: [],
        });
        const authorizations = await nonAdminAuthorizations(world.bob, TEST_SECRET);
        await checkCell({ world, request, authorizations, expected: [403] });
      });
    }
  });
}

describe('the matrix', () => {
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('would see a leak: the victims own answers carry the canaries it looks for (control)', async () => {
    const world = await buildVictimWorld(h, 'control');
    const as = async (user: string) => ({ authorization: `Bearer ${await h.token(user)}` });
    const history = { url: `/v1/conversations/single/${world.bob}/messages` };
    const answer = await sendRequest(h.baseUrl, {
      method: 'GET',
      ...history,
      headers: await as(world.alice),
    });
    expect(answer.status).toBe(200);
    expect(leakedSecrets(world, history, answer)).toEqual(
      expect.arrayContaining([world.singleMsgIds[0], expect.stringMatching(/^canary-a-to-b-/)]),
    );
    const list = { url: '/v1/conversations' };
    const listed = await sendRequest(h.baseUrl, { method: 'GET', ...list, headers: await as(world.dave) });
    expect(leakedSecrets(world, list, listed)).toEqual(
      expect.arrayContaining([world.groupId, expect.stringMatching(/^canary-group-after-removal-/)]),
    );
  });

  it('covers every route with every case that applies to it', () => {
    const admin = ROUTES.filter((r) => r.access === 'admin').length;
    const user = ROUTES.length - admin;
    const expected = ROUTES.length * (TOKEN_CASES.length + IDENTITY_CASES.length) + admin + user;
    expect(cellCount.total).toBe(expected);
    console.log(
      `authorization matrix: ${ROUTES.length} routes × ${TOKEN_CASES.length + IDENTITY_CASES.length} cases ` +
        `+ ${admin} admin routes × non-admin + ${user} user routes × no user scope = ${expected} cells`,
    );
  });
});
