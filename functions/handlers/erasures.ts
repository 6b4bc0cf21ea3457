import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { getErasureView, startErasure } from '../domain/erasure.js';
import { requestBudget } from '../domain/request-budget.js';
import { type ErasureStarter, inProcessErasureStarter } from '../erasure-starter.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';
import { erasureSchema } from '../http/responses.js';
import { id } from '../http/schemas.js';

const erasurePath = /* @__PURE__ */ lazy(() =>
  z.object({
    erasureId: z
      .string()
      .check(z.regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an erasure id from POST /v1/admin/erasures')),
  }),
);

/**
 * POST /v1/admin/erasures {userId}: starts erasing everything stored about the user (409 `held` under a
 * legal hold) and answers 202 with the job at once; `starter` gets it worked on (the Lambda entry passes
 * one that invokes the erasure function). Audited: the record names the user id, nothing else.
 */
export const makeStartErasureHandler = (
  deps: Deps,
  starter: ErasureStarter = inProcessErasureStarter(deps),
) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ body: z.object({ userId: id() }) }),
      responses: () => ({ 202: z.object({ erasureId: z.string(), status: z.literal('running') }) }),
    },
    async function startErasureRoute({ caller, input }) {
      const { job, audit } = await startErasure(deps, caller.userId, input.body.userId);
      logAdminAction(audit);
      await starter.start(job.erasureId);
      return { status: 202 as const, body: { erasureId: job.erasureId, status: 'running' as const } };
    },
  );

/** GET /v1/admin/erasures/{erasureId}: the job's progress (404 for an unknown id). */
export const makeGetErasureHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: erasurePath() }),
      responses: () => ({ 200: erasureSchema() }),
    },
    async function getErasureRoute({ input }) {
      return { body: await getErasureView(deps, input.path.erasureId) };
    },
  );
