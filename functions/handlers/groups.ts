import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { addMember, createGroup, removeMember } from '../domain/groups.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { groupSchema } from '../http/responses.js';
import { described, id } from '../http/schemas.js';

/**
 * The server makes group ids (ULIDs): a client cannot choose one, so nobody can probe which ids exist.
 * `members` may name at most maxGroupMembers - 1 others (the domain checks; this bounds the parse).
 */
const createInput = /* @__PURE__ */ lazy(() =>
  z.object({
    body: z.strictObject({
      groupId: z.optional(z.never({ error: 'the server makes group ids: leave groupId out' })),
      name: z.optional(z.string().check(z.maxLength(200))),
      members: z.optional(z.array(id()).check(z.maxLength(1000))),
      clientRequestId: z.optional(
        described(
          id(),
          'Makes the request safe to retry: within ROAMING_IDEMPOTENCY_DAYS (7), the same id answers with the group it made; with a different name or member list, 409',
        ),
      ),
    }),
  }),
);

const memberPath = /* @__PURE__ */ lazy(() => z.object({ path: z.object({ groupId: id(), userId: id() }) }));

const groupReply = /* @__PURE__ */ lazy(() => z.object({ group: groupSchema() }));

/** POST /v1/groups */
export const makeCreateGroupHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: createInput,
      responses: () => ({ 201: groupReply() }),
    },
    async function createGroupRoute({ caller, input }) {
      return { status: 201 as const, body: { group: await createGroup(deps, caller.userId, input.body) } };
    },
  );

/** PUT /v1/groups/{groupId}/members/{userId} */
export const makeAddMemberHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: memberPath,
      responses: () => ({ 200: groupReply() }),
    },
    async function addMemberRoute({ caller, input }) {
      return { body: { group: await addMember(deps, caller.userId, input.path.groupId, input.path.userId) } };
    },
  );

/** DELETE /v1/groups/{groupId}/members/{userId} */
export const makeRemoveMemberHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: memberPath,
      responses: () => ({ 200: groupReply() }),
    },
    async function removeMemberRoute({ caller, input }) {
      return {
        body: { group: await removeMember(deps, caller.userId, input.path.groupId, input.path.userId) },
      };
    },
  );
