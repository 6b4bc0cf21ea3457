import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import {
  cancelPendingRetention,
  clearUserRetention,
  getRetention,
  type PolicyChange,
  setAppRetention,
  setUserRetention,
} from '../domain/policies.js';
import { requestBudget } from '../domain/request-budget.js';
import { previewRetention } from '../domain/retention-preview.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';
import {
  pendingRetentionSchema,
  retentionDaysSchema,
  retentionPreviewSchema,
  retentionViewSchema,
} from '../http/responses.js';
import { id, integer, intParam } from '../http/schemas.js';

/** Retention in whole days (1 to 100 years), or null to keep history forever. */
const DAYS_RULE = 'must be a whole number of days from 1 to 36500, or null to keep forever';
/** Up to 30 days: a shortening waits this long (config.retentionDelaySeconds when left out); 0: at once. */
const DELAY_RULE = 'must be a whole number of seconds from 0 to 2592000';
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
    delaySeconds: z.optional(
      z
        .number({ error: DELAY_RULE })
        .check(
          z.int({ error: DELAY_RULE }),
          z.minimum(0, { error: DELAY_RULE }),
          z.maximum(2_592_000, { error: DELAY_RULE }),
        ),
    ),
  }),
);
const userPath = /* @__PURE__ */ lazy(() => z.object({ userId: id() }));
const previewQuery = /* @__PURE__ */ lazy(() =>
  z.object({ days: intParam(1, 36_500), userId: z.optional(id()) }),
);
const pendingQuery = /* @__PURE__ */ lazy(() => z.object({ userId: z.optional(id()) }));

const delayMsOf = (body: { delaySeconds?: number }) =>
  body.delaySeconds === undefined ? undefined : body.delaySeconds * 1000;

/** A shortening answers 202 with when it takes effect and what it will delete then (policies.ts). */
function shortenedReply(change: PolicyChange, target: { userId: string | null; days: number | null }) {
  const { effectiveAt, preview } = change.shortened as NonNullable<PolicyChange['shortened']>;
  return { status: 202 as const, body: { ...target, effectiveAt, preview } };
}

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

/**
 * PUT /v1/admin/retention {days, delaySeconds?}: 200 when it keeps as much or more (at once), 202 when it
 * keeps less (it waits, and can be cancelled until effectiveAt).
 */
export const makePutRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ body: daysBody() }),
      responses: () => ({ 200: z.object({ appDays: retentionDaysSchema() }), 202: pendingRetentionSchema() }),
    },
    async function putRetentionRoute({ caller, input }) {
      const { days } = input.body;
      const change = await setAppRetention(deps, caller.userId, days, delayMsOf(input.body));
      logAdminAction(change.record);
      if (change.shortened) return shortenedReply(change, { userId: null, days });
      return { body: { appDays: days } };
    },
  );

/** PUT /v1/admin/retention/users/{userId} {days, delaySeconds?}: 200 or 202, as the app default's. */
export const makePutUserRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: userPath(), body: daysBody() }),
      responses: () => ({
        200: z.object({ userId: id(), days: retentionDaysSchema() }),
        202: pendingRetentionSchema(),
      }),
    },
    async function putUserRetentionRoute({ caller, input }) {
      const { userId } = input.path;
      const { days } = input.body;
      const change = await setUserRetention(deps, caller.userId, userId, days, delayMsOf(input.body));
      logAdminAction(change.record);
      if (change.shortened) return shortenedReply(change, { userId, days });
      return { body: { userId, days } };
    },
  );

/** GET /v1/admin/retention/preview?days=N[&userId=U]: what that policy would delete now. */
export const makePreviewRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ query: previewQuery() }),
      responses: () => ({ 200: retentionPreviewSchema() }),
    },
    async function previewRetentionRoute({ input }) {
      return { body: await previewRetention(deps, input.query) };
    },
  );

/** DELETE /v1/admin/retention/pending[?userId=U]: cancels a waiting shortening (409 if none waits). */
export const makeCancelPendingRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ query: pendingQuery() }),
      responses: () => ({
        200: z.object({
          userId: z.nullable(id()),
          cancelled: z.object({ days: integer(z.minimum(1), z.maximum(36_500)), effectiveAt: integer() }),
        }),
      }),
    },
    async function cancelPendingRetentionRoute({ caller, input }) {
      const { userId } = input.query;
      const change = await cancelPendingRetention(deps, caller.userId, userId);
      logAdminAction(change.record);
      const cancelled = change.cancelled as NonNullable<PolicyChange['cancelled']>;
      return { body: { userId: userId ?? null, cancelled } };
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
