import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { listAllHolds, releaseHold, setHold } from '../domain/holds.js';
import { requestBudget } from '../domain/request-budget.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';
import { holdSchema } from '../http/responses.js';
import { chatType, id } from '../http/schemas.js';

/** No value twice in a list (`key` says what makes two the same). */
const distinct = <T>(key: (value: T) => string) =>
  z.superRefine((values: T[], ctx) => {
    const seen = new Set<string>();
    for (const value of values) {
      const k = key(value);
      if (seen.has(k)) {
        ctx.addIssue({ code: 'custom', message: `names ${k} twice` });
        return;
      }
      seen.add(k);
    }
  });

const holdBody = /* @__PURE__ */ lazy(() =>
  z.object({
    userIds: z.array(id()).check(
      z.minLength(1, 'must name 1 to 100 users'),
      z.maxLength(100, 'must name 1 to 100 users'),
      distinct((userId: string) => userId),
    ),
    reason: z
      .string()
      .check(z.minLength(1, 'must be 1 to 500 characters'), z.maxLength(500, 'must be 1 to 500 characters')),
    conversations: z.optional(
      z.array(z.object({ chatType: chatType(), convId: id() })).check(
        z.minLength(1, 'must name 1 to 100 conversations (leave it out to hold everything of the users)'),
        z.maxLength(100, 'must name 1 to 100 conversations'),
        distinct((c: { chatType: string; convId: string }) => `${c.chatType}/${c.convId}`),
      ),
    ),
  }),
);
const holdPath = /* @__PURE__ */ lazy(() => z.object({ holdId: id() }));

/** PUT /v1/admin/holds/{holdId} {userIds, reason, conversations?}: creates or replaces a legal hold. */
export const makePutHoldHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: holdPath(), body: holdBody() }),
      responses: () => ({ 200: holdSchema() }),
    },
    async function putHoldRoute({ caller, input }) {
      const { hold, record } = await setHold(deps, caller.userId, {
        holdId: input.path.holdId,
        ...input.body,
      });
      logAdminAction(record);
      return { body: hold };
    },
  );

/** GET /v1/admin/holds: every hold in force, by id. */
export const makeListHoldsHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({}),
      responses: () => ({ 200: z.object({ holds: z.array(holdSchema()) }) }),
    },
    async function listHoldsRoute() {
      return { body: { holds: await listAllHolds(deps) } };
    },
  );

/** DELETE /v1/admin/holds/{holdId}: releases it (404 if there is none); answers the hold released. */
export const makeDeleteHoldHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: holdPath() }),
      responses: () => ({ 200: z.object({ released: holdSchema() }) }),
    },
    async function deleteHoldRoute({ caller, input }) {
      const { hold, record } = await releaseHold(deps, caller.userId, input.path.holdId);
      logAdminAction(record);
      return { body: { released: hold } };
    },
  );
