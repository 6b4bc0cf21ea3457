import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { replayEvents } from '../domain/event-replay.js';
import { recordAdminAction } from '../domain/policies.js';
import { requestBudget } from '../domain/request-budget.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';

const epochMs = () => z.number().check(z.int('must be a whole number of ms'), z.nonnegative('must be ≥ 0'));

const replayBody = /* @__PURE__ */ lazy(() =>
  z.object({ from: epochMs(), to: z.optional(epochMs()) }).check(
    z.refine((body) => body.to === undefined || body.to >= body.from, {
      message: 'to must not be before from',
      path: ['to'],
    }),
  ),
);

const replayAnswer = /* @__PURE__ */ lazy(() =>
  z.object({
    replayId: z.string(),
    replayed: z.number(),
    from: z.number(),
    to: z.number(),
    next: z.nullable(z.number()),
  }),
);

/**
 * POST /v1/admin/events/replay {from, to?}: delivers again the stored events that occurred in the window
 * (ms; `to` defaults to now), with their own ids. Audited.
 */
export const makeReplayEventsHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ body: replayBody() }),
      responses: () => ({ 200: replayAnswer() }),
    },
    async function replayEventsRoute({ caller, input }) {
      const window = { from: input.body.from, to: input.body.to ?? deps.clock.now() };
      const outcome = await replayEvents(deps, window);
      logAdminAction(
        await recordAdminAction(deps, {
          actor: caller.userId,
          action: 'events.replay',
          target: outcome.replayId,
          before: null,
          after: { ...window, replayed: outcome.replayed, next: outcome.next },
        }),
      );
      return { body: { ...outcome, ...window } };
    },
  );
