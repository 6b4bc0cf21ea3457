import type {
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayProxyStructuredResultV2,
  Context,
} from 'aws-lambda';
import type { Deps } from '../domain/deps.js';
import { localExportsOf } from '../exports/local-exports.js';
import type { RouteName } from '../routes.js';
import { makeListAuditHandler } from './audit.js';
import { makePutConversationRetentionHandler } from './conversation-retention.js';
import { makeDeleteConversationHandler } from './delete-conversation.js';
import { makeDeleteMessagesHandler } from './delete-messages.js';
import { makeGetErasureHandler, makeStartErasureHandler } from './erasures.js';
import { makeReplayEventsHandler } from './events.js';
import { makeGetExportHandler, makeStartExportHandler } from './exports.js';
import { makeFetchHistoryHandler } from './fetch-history.js';
import { makeAddMemberHandler, makeCreateGroupHandler, makeRemoveMemberHandler } from './groups.js';
import { makeDeleteHoldHandler, makeListHoldsHandler, makePutHoldHandler } from './holds.js';
import { makeListConversationsHandler } from './list-conversations.js';
import { makeMarkReadHandler } from './mark-read.js';
import {
  makeMarkConversationHandler,
  makePinConversationHandler,
  makeUnmarkConversationHandler,
  makeUnpinConversationHandler,
} from './pins-and-marks.js';
import {
  makeCancelPendingRetentionHandler,
  makeDeleteUserRetentionHandler,
  makeGetRetentionHandler,
  makePreviewRetentionHandler,
  makePutRetentionHandler,
  makePutUserRetentionHandler,
} from './retention.js';
import { makeModifyMessageHandler, makeRecallMessageHandler } from './revise-message.js';
import { makeSendMessageHandler } from './send-message.js';
import { makeListSweepsHandler, makeStartSweepHandler } from './sweeps.js';

export type HttpHandler = (
  event: APIGatewayProxyEventV2WithJWTAuthorizer,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Each route's handler factory, by route name: what the local server mounts. */
export const HANDLER_FACTORIES: Record<RouteName, (deps: Deps) => HttpHandler> = {
  sendMessage: makeSendMessageHandler,
  listConversations: makeListConversationsHandler,
  fetchHistory: makeFetchHistoryHandler,
  deleteMessages: makeDeleteMessagesHandler,
  recallMessage: makeRecallMessageHandler,
  modifyMessage: makeModifyMessageHandler,
  markRead: makeMarkReadHandler,
  pinConversation: makePinConversationHandler,
  unpinConversation: makeUnpinConversationHandler,
  markConversation: makeMarkConversationHandler,
  unmarkConversation: makeUnmarkConversationHandler,
  putConversationRetention: makePutConversationRetentionHandler,
  deleteConversation: makeDeleteConversationHandler,
  createGroup: makeCreateGroupHandler,
  addMember: makeAddMemberHandler,
  removeMember: makeRemoveMemberHandler,
  getRetention: makeGetRetentionHandler,
  putRetention: makePutRetentionHandler,
  putUserRetention: makePutUserRetentionHandler,
  deleteUserRetention: makeDeleteUserRetentionHandler,
  putHold: makePutHoldHandler,
  listHolds: makeListHoldsHandler,
  deleteHold: makeDeleteHoldHandler,
  previewRetention: makePreviewRetentionHandler,
  cancelPendingRetention: makeCancelPendingRetentionHandler,
  listSweeps: makeListSweepsHandler,
  listAudit: makeListAuditHandler,
  replayEvents: makeReplayEventsHandler,
  // Locally the sweep runs in this process; functions/lambda/startSweep.ts invokes the sweep function.
  startSweep: (deps) => makeStartSweepHandler(deps),
  // Locally exports run in this process into a folder; functions/lambda/ invokes the worker and uses S3.
  startExport: (deps) => makeStartExportHandler(deps, localExportsOf(deps).starter),
  getExport: (deps) => makeGetExportHandler(deps, localExportsOf(deps).sink),
  // Locally the erasure runs in this process; functions/lambda/startErasure.ts invokes the erasure function.
  startErasure: (deps) => makeStartErasureHandler(deps),
  getErasure: makeGetErasureHandler,
};
