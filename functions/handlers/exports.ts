import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { exportView, startExport } from '../domain/export-job.js';
import type { ExportSink } from '../domain/export-sink.js';
import { requestBudget } from '../domain/request-budget.js';
import type { ExportStarter } from '../export-starter.js';
import { logAdminAction } from '../http/admin-log.js';
import { endpoint } from '../http/endpoint.js';
import { exportViewSchema, startedExportSchema } from '../http/export-responses.js';
import { id, msgId } from '../http/schemas.js';

const startBody = /* @__PURE__ */ lazy(() =>
  z.object({
    userId: id(),
    includeHidden: z._default(z.boolean({ error: 'must be true or false' }), false),
  }),
);

/**
 * POST /v1/admin/exports {userId, includeHidden?}: creates the job (with its audit record) and answers
 * 202 at once; `starter` gets it worked on (the Lambda entry's invokes the export worker function).
 */
export const makeStartExportHandler = (deps: Deps, starter: ExportStarter) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ body: startBody() }),
      responses: () => ({ 202: startedExportSchema() }),
    },
    async function startExportRoute({ caller, input }) {
      const { job, audit } = await startExport(deps, caller.userId, input.body);
      logAdminAction(audit);
      await starter.start(job.exportId);
      const { exportId, userId, includeHidden, startedAt } = job;
      return {
        status: 202 as const,
        body: { exportId, userId, includeHidden, status: 'running' as const, startedAt },
      };
    },
  );

/** GET /v1/admin/exports/{exportId}: progress, and where the file is once done. */
export const makeGetExportHandler = (deps: Deps, sink: ExportSink) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ path: z.object({ exportId: msgId() }) }),
      responses: () => ({ 200: exportViewSchema() }),
    },
    async function getExportRoute({ input }) {
      return { body: await exportView(deps, sink, input.path.exportId) };
    },
  );
