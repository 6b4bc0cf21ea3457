import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { requestBudget } from '../domain/request-budget.js';
import { reviseMessage } from '../domain/revise.js';
import { endpoint } from '../http/endpoint.js';
import { messageSchema } from '../http/responses.js';
import { conversationPath, jsonObject, msgId } from '../http/schemas.js';

const messagePath = /* @__PURE__ */ lazy(() => z.extend(conversationPath(), { msgId: msgId() }));

const responses = () => ({ 200: z.object({ message: messageSchema() }) });

/** POST /v1/conversations/{chatType}/{convId}/messages/{msgId}/recall: the seed SDK's recallMessage. */
export const makeRecallMessageHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () => z.object({ path: messagePath() }),
      responses,
    },
    async function recallMessageRoute({ caller, input }) {
      const { msgId: id, ...conversation } = input.path;
      const ref = { owner: caller.userId, ...conversation };
      return { body: { message: await reviseMessage(deps, ref, id, { kind: 'recall' }) } };
    },
  );

/** PATCH /v1/conversations/{chatType}/{convId}/messages/{msgId}: the seed SDK's modifyMessage. */
export const makeModifyMessageHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: () =>
        z.object({
          path: messagePath(),
          body: z.object({ body: jsonObject(), ext: z.optional(jsonObject()) }),
        }),
      responses,
    },
    async function modifyMessageRoute({ caller, input }) {
      const { msgId: id, ...conversation } = input.path;
      const ref = { owner: caller.userId, ...conversation };
      const { body, ext } = input.body;
      const edit = { kind: 'edit' as const, body, ...(ext !== undefined ? { ext } : {}) };
      return { body: { message: await reviseMessage(deps, ref, id, edit) } };
    },
  );
