import { z } from 'zod';
import type { Deps } from '../domain/deps.js';
import { fetchHistory } from '../domain/history.js';
import { endpoint } from '../http/endpoint.js';
import { historyPageSchema } from '../http/responses.js';
import { conversationPath, id, intParam, listParam, messageType, msgId, timeParam } from '../http/schemas.js';

const query = z
  .object({
    pageSize: intParam(1, 50).default(20),
    startMsgId: msgId.optional(),
    direction: z.enum(['up', 'down']).default('up'),
    types: listParam(messageType, 7).optional(),
    from: listParam(id, 50).optional(),
    startTime: timeParam.optional(),
    endTime: timeParam.optional(),
  })
  .refine((q) => q.startTime === undefined || q.endTime === undefined || q.startTime <= q.endTime, {
    message: 'startTime must not be after endTime',
  });

/** GET /v1/conversations/{chatType}/{convId}/messages */
export const makeFetchHistoryHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      input: z.object({ path: conversationPath, query }),
      responses: { 200: historyPageSchema },
    },
    async function fetchHistoryRoute({ caller, input }) {
      const { chatType, convId } = input.path;
      return { body: await fetchHistory(deps, { owner: caller.userId, chatType, convId }, input.query) };
    },
  );
