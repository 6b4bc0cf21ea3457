import * as z from 'zod/mini';
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
    cursor: z.optional(z.string().check(z.regex(/^[1-9]\d{0,11}$/, 'must be a cursor from an earlier page'))),
    verify: z._default(z.enum(['true', 'false']), 'false'),
  }),
);

/**
 * GET /v1/admin/audit?limit=&cursor=&verify=: admin actions, newest first (who, what, before, after,
 * when, and the chain); with verify=true also the whole trail's chain checked.
 */
export const makeListAuditHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'admin',
      budget: requestBudget(deps),
      input: () => z.object({ query: query() }),
      responses: () => ({ 200: auditPageSchema() }),
    },
    async function listAuditRoute({ input }) {
      const { limit, cursor, verify } = input.query;
      return { body: await listAudit(deps, { limit, cursor, verify: verify === 'true' }) };
    },
  );
