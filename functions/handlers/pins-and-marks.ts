import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { Deps } from '../domain/deps.js';
import { MAX_MARK, setMarked, setPinned } from '../domain/pins-and-marks.js';
import { requestBudget } from '../domain/request-budget.js';
import { endpoint } from '../http/endpoint.js';
import { conversationSchema } from '../http/responses.js';
import { conversationPath, intParam } from '../http/schemas.js';

const pinInput = /* @__PURE__ */ lazy(() => z.object({ path: conversationPath() }));
const markInput = /* @__PURE__ */ lazy(() =>
  z.object({ path: z.extend(conversationPath(), { mark: intParam(0, MAX_MARK) }) }),
);

const conversationReply = /* @__PURE__ */ lazy(() => z.object({ conversation: conversationSchema() }));
const responses = () => ({ 200: conversationReply() });

const pinned = (deps: Deps, isPinned: boolean) =>
  endpoint(
    { access: 'user', budget: requestBudget(deps), input: pinInput, responses },
    async function pinRoute({ caller, input }) {
      const ref = { owner: caller.userId, ...input.path };
      return { body: { conversation: await setPinned(deps, ref, isPinned) } };
    },
  );

const marked = (deps: Deps, isMarked: boolean) =>
  endpoint(
    { access: 'user', budget: requestBudget(deps), input: markInput, responses },
    async function markRoute({ caller, input }) {
      const { mark, ...conversation } = input.path;
      const ref = { owner: caller.userId, ...conversation };
      return { body: { conversation: await setMarked(deps, ref, mark, isMarked) } };
    },
  );

/** PUT /v1/conversations/{chatType}/{convId}/pin */
export const makePinConversationHandler = (deps: Deps) => pinned(deps, true);
/** DELETE /v1/conversations/{chatType}/{convId}/pin */
export const makeUnpinConversationHandler = (deps: Deps) => pinned(deps, false);
/** PUT /v1/conversations/{chatType}/{convId}/marks/{mark} */
export const makeMarkConversationHandler = (deps: Deps) => marked(deps, true);
/** DELETE /v1/conversations/{chatType}/{convId}/marks/{mark} */
export const makeUnmarkConversationHandler = (deps: Deps) => marked(deps, false);
