import * as z from 'zod/mini';
import { deleteMessagesBefore, deleteMessagesByIds } from '../domain/deletion.js';
import type { Deps } from '../domain/deps.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { purgeReportSchema } from '../http/responses.js';
import { conversationPath, integer, listParam, msgId, timeParam } from '../http/schemas.js';

/** Exactly one of: msgIds (1..50, the SDK's removeMessagesFromServerWithMsgIds) or before (a ms timestamp). */
const query = () =>
  z.object({ msgIds: z.optional(listParam(msgId(), 50)), before: z.optional(timeParam()) }).check(
    z.refine((q) => (q.msgIds === undefined) !== (q.before === undefined), {
      message: 'give either msgIds (1 to 50 message ids) or before (a timestamp in ms), exactly one',
    }),
  );

/**
 * By ids: how many of them this call deleted (ids the caller does not have, or deleted already, are not
 * counted); before a timestamp: what was purged now and what the sweep finishes.
 */
const deleted = () => z.union([z.object({ deleted: integer(z.minimum(0)) }), purgeReportSchema()]);

/** DELETE /v1/conversations/{chatType}/{convId}/messages?msgIds=a,b or ?before=<ms> */
export const makeDeleteMessagesHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () => z.object({ path: conversationPath(), query: query() }),
      responses: () => ({ 200: deleted() }),
    },
    async function deleteMessagesRoute({ caller, input }) {
      const ref = { owner: caller.userId, ...input.path };
      if (input.query.msgIds) {
        return { body: { deleted: await deleteMessagesByIds(deps, ref, input.query.msgIds) } };
      }
      const report = await deleteMessagesBefore(deps, ref, input.query.before as number);
      return { body: report };
    },
  );
