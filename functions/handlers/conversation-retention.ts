import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import { MAX_CONVERSATION_DAYS, setConversationRetention } from '../domain/conversation-retention.js';
import type { Deps } from '../domain/deps.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { conversationSchema } from '../http/responses.js';
import { conversationPath } from '../http/schemas.js';

const DAYS_RULE = `must be a whole number of days from 1 to ${MAX_CONVERSATION_DAYS}, or null to follow your policy`;
const retentionInput = /* @__PURE__ */ lazy(() =>
  z.object({
    path: conversationPath(),
    body: z.object({
      days: z.nullable(
        z
          .number({ error: DAYS_RULE })
          .check(
            z.int({ error: DAYS_RULE }),
            z.minimum(1, { error: DAYS_RULE }),
            z.maximum(MAX_CONVERSATION_DAYS, { error: DAYS_RULE }),
          ),
      ),
    }),
  }),
);

const conversationReply = /* @__PURE__ */ lazy(() => z.object({ conversation: conversationSchema() }));

/** PUT /v1/conversations/{chatType}/{convId}/retention {days} */
export const makePutConversationRetentionHandler = (deps: Deps) =>
  endpoint(
    {
      access: 'user',
      budget: requestBudget(deps),
      input: retentionInput,
      responses: () => ({ 200: conversationReply() }),
    },
    async function conversationRetentionRoute({ caller, input }) {
      const ref = { owner: caller.userId, ...input.path };
      return { body: { conversation: await setConversationRetention(deps, ref, input.body.days) } };
    },
  );
