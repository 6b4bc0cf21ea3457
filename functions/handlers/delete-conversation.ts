import * as z from 'zod/mini';
import { deleteConversation } from '../domain/deletion.js';
import type { Deps } from '../domain/deps.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { purgeReportSchema } from '../http/responses.js';
import { conversationPath } from '../http/schemas.js';

const query = () =>
  z.object({
    // Absent means false: the destructive variant must be asked for.
    deleteMessages: z._default(z.enum(['true', 'false']), 'false'),
  });

/** DELETE /v1/conversations/{chatType}/{convId}?deleteMessages=true|false */
export const makeDeleteConversationHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () => z.object({ path: conversationPath(), query: query() }),
      responses: () => ({ 200: purgeReportSchema() }),
    },
    async function deleteConversationRoute({ caller, input }) {
      const ref = { owner: caller.userId, ...input.path };
      return { body: await deleteConversation(deps, ref, input.query.deleteMessages === 'true') };
    },
  );
