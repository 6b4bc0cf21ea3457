import { z } from 'zod';
import { ULID_PATTERN } from '../core/ids.js';
import type { Deps } from '../domain/deps.js';
import { listAudit } from '../domain/policies.js';
import { endpoint } from '../http/endpoint.js';
import { auditPageSchema } from '../http/responses.js';
import { intParam } from '../http/schemas.js';

const query = z.object({
  limit: intParam(1, 100).default(50),
  cursor: z.string().regex(ULID_PATTERN, 'must be a cursor from an earlier page').optional(),
});

/** GET /v1/admin/audit?limit=&cursor=: admin actions, newest first (who, what, before, after, when). */
export const makeListAuditHandler = (deps: Deps) =>
  endpoint(
    { access: 'admin', input: z.object({ query }), responses: { 200: auditPageSchema } },
    async function listAuditRoute({ input }) {
      return { body: await listAudit(deps, input.query) };
    },
  );
