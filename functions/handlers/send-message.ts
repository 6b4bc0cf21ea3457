import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { requestBudget } from '../domain/request-budget.js';
import { sendMessage } from '../domain/send.js';
import { endpoint } from '../http/endpoint.js';
import { messageSchema } from '../http/responses.js';
import { bodyFitsType, chatType, id, jsonObject, messageType, TEXT_BODY_RULE } from '../http/schemas.js';

const input = /* @__PURE__ */ lazy(() =>
  z.object({
    body: z
      .object({
        to: id(),
        chatType: chatType(),
        type: messageType(),
        body: jsonObject(),
        ext: z.optional(jsonObject()),
        clientMsgId: z.optional(id()),
      })
      .check(z.refine((m) => bodyFitsType(m.type, m.body), { message: TEXT_BODY_RULE, path: ['body'] })),
  }),
);

const responses = () => ({ 201: z.object({ message: messageSchema() }) });

/** POST /v1/messages */
export const makeSendMessageHandler = (deps: Deps) =>
  endpoint(
    { access: 'user', budget: requestBudget(deps), input, responses },
    async function sendMessageRoute({ caller, input }) {
      const message = await sendMessage(deps, caller.userId, input.body);
      return { status: 201 as const, body: { message } };
    },
  );
