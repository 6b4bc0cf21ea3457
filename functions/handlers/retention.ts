import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { clearUserRetention, getRetention, setAppRetention, setUserRetention } from '../domain/policies.js';
import { requestBudget } from '../domain/request-budget.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';
import { retentionDaysSchema, retentionViewSchema } from '../http/responses.js';
import { id } from '../http/schemas.js';

/** Retention in whole days (1 to 100 years), or null to keep history forever. */
const DAYS_RULE = 'must be a whole number of days from 1 to 36500, or null to keep forever';
const daysBody = /* @__PURE__ */ lazy(() =>
  z.object({
    days: z.nullable(
      z
        .number({ error: DAYS_RULE })
        .check(
          z.int({ error: DAYS_RULE }),
          z.minimum(1, { error: DAYS_RULE }),
          z.maximum(36_500, { error: DAYS_RULE }),
        ),
    ),
  }),
);
const userPath = /* @__PURE__ */ lazy(() => z.object({ userId: id() }));

/** GET /v1/admin/retention */
export const makeGetRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({}),
      responses: () => ({ 200: retentionViewSchema() }),
    },
    async function getRetentionRoute() {
      return { body: await getRetention(deps) };
    },
  );

/** PUT /v1/admin/retention {days} */
export const makePutRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ body: daysBody() }),
      responses: () => ({ 200: z.object({ appDays: retentionDaysSchema() }) }),
    },
    async function putRetentionRoute({ caller, input }) {
      logAdminAction(await setAppRetention(deps, caller.userId, input.body.days));
      return { body: { appDays: input.body.days } };
    },
  );

/** PUT /v1/admin/retention/users/{userId} {days} */
export const makePutUserRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: userPath(), body: daysBody() }),
      responses: () => ({ 200: z.object({ userId: id(), days: retentionDaysSchema() }) }),
    },
    async function putUserRetentionRoute({ caller, input }) {
      logAdminAction(await setUserRetention(deps, caller.userId, input.path.userId, input.body.days));
      return { body: { userId: input.path.userId, days: input.body.days } };
    },
  );

/** DELETE /v1/admin/retention/users/{userId}: the user follows the app default again. */
export const makeDeleteUserRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: userPath() }),
      responses: () => ({ 200: z.object({ userId: id(), removed: z.boolean() }) }),
    },
    async function deleteUserRetentionRoute({ caller, input }) {
      const record = await clearUserRetention(deps, caller.userId, input.path.userId);
      if (record) logAdminAction(record);
      return { body: { userId: input.path.userId, removed: record !== undefined } };
    },
  );
