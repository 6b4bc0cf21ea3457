import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import { type ListRequest, listConversations } from '../domain/conversations.js';
import type { Deps } from '../domain/deps.js';
import { MAX_MARK } from '../domain/pins-and-marks.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { conversationPageSchema } from '../http/responses.js';
import { intParam } from '../http/schemas.js';

/**
 * Page numbers read through every earlier page, so they stop at the first 1,000 conversations (the
 * field keeps a few hundred per user on the server); the cursor form goes on at constant cost.
 */
export const MAX_PAGED_CONVERSATIONS = 1000;

const query = /* @__PURE__ */ lazy(() =>
  z
    .object({
      pageSize: z.optional(intParam(1, 20)),
      pageNum: z.optional(intParam(1, 100_000)),
      limit: z.optional(intParam(1, 50)),
      cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
      since: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
      pinned: z.optional(z.literal('true', { error: 'must be true (leave it out for every conversation)' })),
      mark: z.optional(intParam(0, MAX_MARK)),
    })
    .check(
      z.refine(
        (q) =>
          !(
            (q.pageSize !== undefined || q.pageNum !== undefined) &&
            (q.cursor !== undefined || q.limit !== undefined || q.since !== undefined)
          ),
        { message: 'use either pageSize/pageNum or limit/cursor/since, not both' },
      ),
      z.refine((q) => !(q.cursor !== undefined && q.since !== undefined), {
        message: 'use either cursor or since, not both',
      }),
      z.refine((q) => (q.pageNum ?? 1) * (q.pageSize ?? 20) <= MAX_PAGED_CONVERSATIONS, {
        message: `pageNum: page numbers reach the first ${MAX_PAGED_CONVERSATIONS} conversations; use limit and cursor to go further`,
      }),
      z.refine(
        (q) =>
          (q.pinned === undefined && q.mark === undefined) ||
          ((q.pinned === undefined) !== (q.mark === undefined) &&
            q.since === undefined &&
            q.pageSize === undefined &&
            q.pageNum === undefined),
        { message: 'pinned and mark each go with limit and cursor only, one at a time' },
      ),
    ),
);

/** Which form the query asks for (see ListRequest). */
function toListRequest(q: z.output<ReturnType<typeof query>>): ListRequest {
  if (q.pinned !== undefined) return { form: 'pinned', limit: q.limit ?? 20, cursor: q.cursor };
  if (q.mark !== undefined) return { form: 'mark', mark: q.mark, limit: q.limit ?? 20, cursor: q.cursor };
  if (q.since !== undefined) return { form: 'since', since: q.since, limit: q.limit ?? 50 };
  if (q.pageSize !== undefined || q.pageNum !== undefined) {
    return { form: 'page', pageSize: q.pageSize ?? 20, pageNum: q.pageNum ?? 1 };
  }
  if (q.limit !== undefined || q.cursor !== undefined)
    return { form: 'cursor', limit: q.limit ?? 20, cursor: q.cursor };
  return { form: 'recent' };
}

/** GET /v1/conversations */
export const makeListConversationsHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () => z.object({ query: query() }),
      responses: () => ({ 200: conversationPageSchema() }),
    },
    async function listConversationsRoute({ caller, input }) {
      return { body: await listConversations(deps, caller.userId, toListRequest(input.query)) };
    },
  );
