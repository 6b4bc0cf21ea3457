import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { fetchHistory } from '../domain/history.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { historyPageSchema } from '../http/responses.js';
import { conversationPath, id, intParam, listParam, messageType, msgId, timeParam } from '../http/schemas.js';

const query = /* @__PURE__ */ lazy(() =>
  z
    .object({
      pageSize: z._default(intParam(1, 50), 20),
      startMsgId: z.optional(msgId()),
      direction: z._default(z.enum(['up', 'down']), 'up'),
      types: z.optional(listParam(messageType(), 7)),
      from: z.optional(listParam(id(), 50)),
      startTime: z.optional(timeParam()),
      endTime: z.optional(timeParam()),
    })
    .check(
      z.refine((q) => q.startTime === undefined || q.endTime === undefined || q.startTime <= q.endTime, {
        message: 'startTime must not be after endTime',
      }),
    ),
);

/** GET /v1/conversations/{chatType}/{convId}/messages */
export const makeFetchHistoryHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () => z.object({ path: conversationPath(), query: query() }),
      responses: () => ({ 200: historyPageSchema() }),
    },
    async function fetchHistoryRoute({ caller, input }) {
      const { chatType, convId } = input.path;
      return { body: await fetchHistory(deps, { owner: caller.userId, chatType, convId }, input.query) };
    },
  );
