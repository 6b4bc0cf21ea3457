import * as z from 'zod/mini';
import { ULID_PATTERN } from '../core/ids.js';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { listAudit } from '../domain/policies.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { auditPageSchema } from '../http/responses.js';
import { intParam } from '../http/schemas.js';

const query = /* @__PURE__ */ lazy(() =>
  z.object({
    limit: z._default(intParam(1, 100), 50),
    cursor: z.optional(z.string().check(z.regex(ULID_PATTERN, 'must be a cursor from an earlier page'))),
  }),
);

/** GET /v1/admin/audit?limit=&cursor=: admin actions, newest first (who, what, before, after, when). */
export const makeListAuditHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ query: query() }),
      responses: () => ({ 200: auditPageSchema() }),
    },
    async function listAuditRoute({ input }) {
      return { body: await listAudit(deps, input.query) };
    },
  );
