import * as z from 'zod/mini';
import type { Deps } from '../domain/deps.js';
import { recordAdminAction } from '../domain/policies.js';
import { requestBudget } from '../domain/request-budget.js';
import { listSweepRuns, startSweepRun } from '../domain/sweep.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';
import { startedSweepSchema, sweepRunSchema } from '../http/responses.js';
import { intParam } from '../http/schemas.js';
import { inProcessSweepStarter, type SweepStarter } from '../sweep-starter.js';

/** GET /v1/admin/sweeps?limit=: recent runs, newest first, with progress. */
export const makeListSweepsHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ query: z.object({ limit: z._default(intParam(1, 100), 20) }) }),
      responses: () => ({ 200: z.object({ runs: z.array(sweepRunSchema()) }) }),
    },
    async function listSweepsRoute({ input }) {
      return { body: { runs: await listSweepRuns(deps, input.query.limit) } };
    },
  );

/**
 * POST /v1/admin/sweeps: starts a run now (or joins the one in progress) and answers 202 with its id at
 * once; `starter` gets it worked on (the Lambda entry passes one that invokes the sweep function).
 */
export const makeStartSweepHandler = (deps: Deps, starter: SweepStarter = inProcessSweepStarter(deps)) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({}),
      responses: () => ({ 202: startedSweepSchema() }),
    },
    async function startSweepRoute({ caller }) {
      const started = await startSweepRun(deps, 'admin');
      logAdminAction(
        await recordAdminAction(deps, {
          actor: caller.userId,
          action: 'sweep.start',
          target: started.run.runId,
          before: null,
          after: { joined: started.joined, now: started.run.now },
        }),
      );
      await starter.start(started.run.runId);
      const { runId, startedAt, now } = started.run;
      return {
        status: 202 as const,
        body: { runId, status: 'running' as const, joined: started.joined, startedAt, now },
      };
    },
  );
