import * as z from 'zod/mini';
import type { Deps } from '../domain/deps.js';
import { markConversationRead } from '../domain/read-position.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { readPositionSchema } from '../http/responses.js';
import { conversationPath, msgId } from '../http/schemas.js';

/** The body is optional: without `msgId` the caller has read everything they have. */
const body = () => z.optional(z.strictObject({ msgId: z.optional(msgId()) }));

/** PUT /v1/conversations/{chatType}/{convId}/read {msgId?} */
export const makeMarkReadHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () => z.object({ path: conversationPath(), body: body() }),
      responses: () => ({ 200: readPositionSchema() }),
    },
    async function markReadRoute({ caller, input }) {
      const ref = { owner: caller.userId, ...input.path };
      return { body: await markConversationRead(deps, ref, input.body?.msgId) };
    },
  );
