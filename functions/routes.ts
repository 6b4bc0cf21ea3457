import type { StoreAccess } from './store-access.js';

/**
 * Every HTTP route, in one table: the local server routes by it and the CDK stack creates one Lambda
 * and one API route per entry from it, so the two cannot drift. `store` is what the route's function may
 * ask of DynamoDB, and all it is granted: exactly these actions on these partitions (store-access.ts);
 * read routes get no write action.
 */
export interface RouteSpec {
  /** Names the handler (functions/handlers/registry.ts) and its Lambda entry (functions/lambda/{name}.ts). */
  name: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  access: 'user' | 'admin';
  store: StoreAccess;
  /**
   * It writes idempotency records (their HMAC needs the stack's key): its function is given the key and
   * refuses to start without it (functions/runtime.ts). test/infra/bundling.test.ts finds every bundle
   * that can write such a record and holds it to this flag.
   */
  keepsRetryRecords?: true;
}

/*
 * A conversation write, on the owner's partitions (U#*): its items are read in one BatchGetItem and
 * written in one transaction: UpdateItem of the conversation, the sync head, the change marker and rate
 * limits; ConditionCheckItem of the sync epoch; PutItem of a mark entry (a marked conversation's entries
 * are rewritten by every change), of a delete's ids record or of a retry record; DeleteItem of a mark
 * entry that moves (a new latest message) or goes (off the list, or the mark removed), or of a copy.
 * Each route lists those its writes can make; test/route-access.test.ts records a session of every route
 * and checks that each request is granted and each grant is used.
 */
const CONVERSATION_READ_WRITE = ['BatchGetItem', 'ConditionCheckItem', 'UpdateItem'] as const;

export const ROUTES = [
  {
    name: 'sendMessage',
    method: 'POST',
    path: '/v1/messages',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'PutItem', 'DeleteItem'],
        // GetItem: a replay of a finished group send reads the message's log entry, not the group.
        group: ['BatchGetItem', 'GetItem', 'PutItem', 'Query', 'UpdateItem'],
        // A send that finishes a group's switch to shared mode registers the group (PutItem).
        sharedGroups: ['PutItem'],
      },
    },
    keepsRetryRecords: true,
  },
  // A since call starts a new sync epoch: one UpdateItem of the caller's sync head.
  {
    name: 'listConversations',
    method: 'GET',
    path: '/v1/conversations',
    access: 'user',
    store: {
      // GetItem of the user's large groups, BatchGetItem of their METAs (docs/large-groups.md).
      table: {
        user: ['BatchGetItem', 'GetItem', 'Query', 'UpdateItem'],
        group: ['BatchGetItem'],
        policy: ['BatchGetItem'],
      },
      indexes: ['byLatest', 'byPinned'],
    },
  },
  {
    name: 'fetchHistory',
    method: 'GET',
    path: '/v1/conversations/{chatType}/{convId}/messages',
    access: 'user',
    // A group's page reads its shared history along (a Query of G#{groupId}#H).
    store: { table: { user: ['GetItem', 'Query'], group: ['Query'], policy: ['BatchGetItem'] } },
  },
  {
    name: 'deleteMessages',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}/messages',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'PutItem', 'DeleteItem', 'Query', 'BatchWriteItem'],
        group: ['BatchGetItem', 'Query'],
        // Every delete reads the legal holds: under one, copies become tombstones and purges stop.
        holds: ['Query'],
      },
    },
  },
  // A revision (docs/recall-and-edit.md): the participants' sides, copies and the message's revision
  // record (U#{sender}#REV) read in one BatchGetItem and written in one transaction (a single chat), or
  // the record, log entry and shared copy first and each member's side after (a group: its members and
  // log read by Query, the fan-out of the position finished, META's latest message updated). A group
  // owner's recall of another's message appends an audit record.
  {
    name: 'recallMessage',
    method: 'POST',
    path: '/v1/conversations/{chatType}/{convId}/messages/{msgId}/recall',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'PutItem', 'DeleteItem'],
        group: ['BatchGetItem', 'Query', 'UpdateItem'],
        pendingRevisions: ['BatchGetItem', 'PutItem', 'DeleteItem'],
        // Under a legal hold a side keeps what it had (a held version, with its held-delete records).
        holds: ['Query'],
      },
      audit: 'append',
    },
  },
  {
    name: 'modifyMessage',
    method: 'PATCH',
    path: '/v1/conversations/{chatType}/{convId}/messages/{msgId}',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'PutItem', 'DeleteItem'],
        group: ['BatchGetItem', 'Query', 'UpdateItem'],
        pendingRevisions: ['BatchGetItem', 'PutItem', 'DeleteItem'],
        // Under a legal hold a side keeps what it had (a held version, with its held-delete records).
        holds: ['Query'],
      },
    },
  },
  // Reading across a delete's gap records: a Query of them.
  {
    name: 'markRead',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/read',
    access: 'user',
    store: {
      table: { user: [...CONVERSATION_READ_WRITE, 'PutItem', 'Query'], group: ['BatchGetItem', 'Query'] },
    },
  },
  // At the pin cap, pinned conversations retention hides are unpinned first: the pinned index and the policies.
  {
    name: 'pinConversation',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/pin',
    access: 'user',
    store: {
      table: {
        user: ['BatchGetItem', 'UpdateItem', 'PutItem'],
        group: ['BatchGetItem'],
        policy: ['BatchGetItem'],
      },
      indexes: ['byPinned'],
    },
  },
  {
    name: 'unpinConversation',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}/pin',
    access: 'user',
    store: { table: { user: ['BatchGetItem', 'UpdateItem', 'PutItem'], group: ['BatchGetItem'] } },
  },
  {
    name: 'markConversation',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/marks/{mark}',
    access: 'user',
    store: { table: { user: [...CONVERSATION_READ_WRITE, 'PutItem'], group: ['BatchGetItem'] } },
  },
  {
    name: 'unmarkConversation',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}/marks/{mark}',
    access: 'user',
    store: {
      table: { user: [...CONVERSATION_READ_WRITE, 'PutItem', 'DeleteItem'], group: ['BatchGetItem'] },
    },
  },
  // A conversation's own retention: the user's policy is read (for the floor), and the lists' reach
  // (U#{owner} / LARGE) raised in the same transaction (list-reach.ts); for a group, its registry
  // item's keepDays too (SHARED_GROUPS: the shared purge keeps its copies that long).
  {
    name: 'putConversationRetention',
    method: 'PUT',
    path: '/v1/conversations/{chatType}/{convId}/retention',
    access: 'user',
    store: {
      table: {
        user: [...CONVERSATION_READ_WRITE, 'PutItem'],
        group: ['BatchGetItem'],
        policy: ['BatchGetItem'],
        sharedGroups: ['BatchGetItem', 'UpdateItem'],
      },
    },
  },
  // With deleteMessages=true its copies are purged inline: a Query of them, BatchWriteItem deletes
  // (none under a legal hold: each batch reads the holds first).
  {
    name: 'deleteConversation',
    method: 'DELETE',
    path: '/v1/conversations/{chatType}/{convId}',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'DeleteItem', 'Query', 'BatchWriteItem'],
        group: ['BatchGetItem'],
        holds: ['Query'],
      },
    },
  },
  // More than 24 members join in more than one transaction: the later ones update the group's META.
  {
    name: 'createGroup',
    method: 'POST',
    path: '/v1/groups',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'PutItem'],
        group: ['BatchGetItem', 'PutItem', 'Query', 'UpdateItem'],
      },
    },
    keepsRetryRecords: true,
  },
  {
    name: 'addMember',
    method: 'PUT',
    path: '/v1/groups/{groupId}/members/{userId}',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE],
        group: ['BatchGetItem', 'PutItem', 'Query', 'UpdateItem'],
      },
    },
  },
  // The member leaves with their history: it is purged inline, as a delete with deleteMessages=true.
  {
    name: 'removeMember',
    method: 'DELETE',
    path: '/v1/groups/{groupId}/members/{userId}',
    access: 'user',
    store: {
      table: {
        events: ['PutItem'],
        user: [...CONVERSATION_READ_WRITE, 'DeleteItem', 'Query', 'BatchWriteItem'],
        group: ['BatchGetItem', 'DeleteItem', 'Query', 'UpdateItem'],
        holds: ['Query'],
      },
    },
  },
  {
    name: 'getRetention',
    method: 'GET',
    path: '/v1/admin/retention',
    access: 'admin',
    store: { table: { policy: ['Query'] } },
  },
  // A shortening answers with the app default's preview: the policies (Query), the purge index and the
  // copies it would delete (Select COUNT and the oldest kept: Query of U#*).
  {
    name: 'putRetention',
    method: 'PUT',
    path: '/v1/admin/retention',
    access: 'admin',
    store: {
      table: { policy: ['BatchGetItem', 'PutItem', 'Query'], user: ['Query'] },
      indexes: ['byPurge'],
      audit: 'append',
    },
  },
  // A user's policy is written conditioned on the app default as read: a ConditionCheckItem of it. A
  // shortening's preview reads the user's own partitions (their conversations, then copy counts).
  {
    name: 'putUserRetention',
    method: 'PUT',
    path: '/v1/admin/retention/users/{userId}',
    access: 'admin',
    store: {
      table: { policy: ['BatchGetItem', 'ConditionCheckItem', 'PutItem'], user: ['Query'] },
      audit: 'append',
    },
  },
  // The preview reads no item it returns: the policies, the purge index, copy counts (retention-preview.ts).
  {
    name: 'previewRetention',
    method: 'GET',
    path: '/v1/admin/retention/preview',
    access: 'admin',
    store: { table: { policy: ['Query'], user: ['Query'] }, indexes: ['byPurge'] },
  },
  // A cancel writes the item as a change does: removed when nothing of it is left (no days, no floor).
  {
    name: 'cancelPendingRetention',
    method: 'DELETE',
    path: '/v1/admin/retention/pending',
    access: 'admin',
    store: {
      table: { policy: ['BatchGetItem', 'ConditionCheckItem', 'PutItem', 'DeleteItem'] },
      audit: 'append',
    },
  },
  // A cleared override is kept for its floor (PutItem), or removed when it has none (DeleteItem).
  {
    name: 'deleteUserRetention',
    method: 'DELETE',
    path: '/v1/admin/retention/users/{userId}',
    access: 'admin',
    store: {
      table: { policy: ['BatchGetItem', 'ConditionCheckItem', 'PutItem', 'DeleteItem'] },
      audit: 'append',
    },
  },
  // A hold is decided on its own item as read (GetItem) and written with its audit record.
  {
    name: 'putHold',
    method: 'PUT',
    path: '/v1/admin/holds/{holdId}',
    access: 'admin',
    store: { table: { holds: ['GetItem', 'PutItem'] }, audit: 'append' },
  },
  {
    name: 'listHolds',
    method: 'GET',
    path: '/v1/admin/holds',
    access: 'admin',
    store: { table: { holds: ['Query'] } },
  },
  {
    name: 'deleteHold',
    method: 'DELETE',
    path: '/v1/admin/holds/{holdId}',
    access: 'admin',
    store: { table: { holds: ['GetItem', 'DeleteItem'] }, audit: 'append' },
  },
  {
    name: 'listSweeps',
    method: 'GET',
    path: '/v1/admin/sweeps',
    access: 'admin',
    store: { table: { sweepRuns: ['Query'], sweepShards: ['Query'] } },
  },
  {
    name: 'listAudit',
    method: 'GET',
    path: '/v1/admin/audit',
    access: 'admin',
    store: { table: {}, audit: 'read' },
  },
  // Opens the run (or joins it, or clears the pointer of a finished one); the sweep function works on it.
  {
    name: 'startSweep',
    method: 'POST',
    path: '/v1/admin/sweeps',
    access: 'admin',
    store: { table: { sweepRuns: ['GetItem', 'PutItem', 'DeleteItem'] }, audit: 'append' },
  },
  // A Query of each outbox shard over the window, an UpdateItem of each event in it (docs/events.md).
  {
    name: 'replayEvents',
    method: 'POST',
    path: '/v1/admin/events/replay',
    access: 'admin',
    store: { table: { events: ['Query', 'UpdateItem'] }, audit: 'append' },
  },
  // The job and its audit record in one transaction; the user's retention cutoff is fixed at the start.
  {
    name: 'startExport',
    method: 'POST',
    path: '/v1/admin/exports',
    access: 'admin',
    store: { table: { exports: ['PutItem'], policy: ['BatchGetItem'] }, audit: 'append' },
  },
  {
    name: 'getExport',
    method: 'GET',
    path: '/v1/admin/exports/{exportId}',
    access: 'admin',
    store: { table: { exports: ['GetItem'] } },
  },
  // Checks the holds, appends the audit record with the job's item (one transaction); the erasure
  // function does the work.
  {
    name: 'startErasure',
    method: 'POST',
    path: '/v1/admin/erasures',
    access: 'admin',
    store: { table: { holds: ['Query'], erasures: ['PutItem'] }, audit: 'append' },
  },
  {
    name: 'getErasure',
    method: 'GET',
    path: '/v1/admin/erasures/{erasureId}',
    access: 'admin',
    store: { table: { erasures: ['GetItem'] } },
  },
] as const satisfies readonly RouteSpec[];

export type RouteName = (typeof ROUTES)[number]['name'];

/** A route's spec by name. */
export function routeNamed(name: RouteName): RouteSpec {
  const route = (ROUTES as readonly RouteSpec[]).find((candidate) => candidate.name === name);
  if (!route) throw new Error(`No route named ${name}`);
  return route;
}

/**
 * GET /health: "ready?" for a load balancer, a container or a script. Not in ROUTES: it has no caller
 * (no token, no authorizer on API Gateway) and says only whether the store answers: its function reads
 * one key that never exists.
 */
export const HEALTH_ROUTE = {
  name: 'health',
  method: 'GET',
  path: '/health',
  store: { table: { health: ['GetItem'] } },
} as const satisfies Omit<RouteSpec, 'access'>;

/**
 * The retention sweep's function (scheduled, and started by POST /v1/admin/sweeps): it works on every
 * user's partitions by design, deleting copies past retention and settling their conversations, and on
 * large groups' shared histories (shared-history-purge.ts).
 */
export const SWEEP_FUNCTION = {
  name: 'sweep',
  store: {
    table: {
      // A finished run's event; the send events of expired messages (deleted with their copies).
      events: ['PutItem', 'BatchWriteItem'],
      user: [
        'BatchGetItem',
        'Query',
        'BatchWriteItem',
        'ConditionCheckItem',
        'PutItem',
        'UpdateItem',
        'DeleteItem',
      ],
      // A group member's side is derived from META: it is read with the member's item. Once a run,
      // the shared histories of the registered groups: a key Query, BatchWriteItem deletes.
      // Group revisions their writer left pending: carried to every member (log entry, META: UpdateItem).
      group: ['BatchGetItem', 'Query', 'BatchWriteItem', 'UpdateItem'],
      pendingRevisions: ['Query', 'DeleteItem'],
      sharedGroups: ['Query'],
      policy: ['BatchGetItem', 'Query'],
      // Each round, and each page of shared histories, reads the legal holds: held ones are skipped.
      holds: ['Query'],
      sweepRuns: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'],
      sweepShards: ['Query', 'UpdateItem'],
    },
    indexes: ['byPurge'],
  },
} as const satisfies { name: string; store: StoreAccess };

/**
 * The export worker (started by POST /v1/admin/exports, and by itself to go on): it reads one user's
 * conversations and copies (a group member's side is derived from META; a shared-mode group's history
 * is read along) and moves its job on (functions/domain/export-job.ts); the file goes to the bucket.
 */
export const EXPORT_FUNCTION = {
  name: 'exportWorker',
  store: {
    table: {
      user: ['BatchGetItem', 'Query'],
      group: ['BatchGetItem', 'Query'],
      exports: ['GetItem', 'UpdateItem'],
    },
  },
} as const satisfies { name: string; store: StoreAccess };

/**
 * The erasure function (started by POST /v1/admin/erasures, and by itself to go on): it scans the whole
 * table (IAM cannot limit a Scan by partition) and deletes or rewrites what holds the erased user's data,
 * in every user's partitions and every group's (functions/domain/erasure.ts).
 */
export const ERASURE_FUNCTION = {
  name: 'erasure',
  store: {
    table: {
      // Their own items and peers' single chats with them: BatchWriteItem; a pinned one with the peer's
      // pin count (a transaction: DeleteItem, UpdateItem); tombstones: UpdateItem; resync markers: the
      // peer's head (GetItem) and a marker put under its epoch check.
      user: [
        'GetItem',
        'BatchWriteItem',
        'DeleteItem',
        'UpdateItem',
        'PutItem',
        'ConditionCheckItem',
        'Query',
      ],
      // Leaving a group: its items (Query), META's count (UpdateItem), the member item (DeleteItem);
      // tombstones in logs and shared histories (UpdateItem).
      group: ['Query', 'UpdateItem', 'DeleteItem'],
      // The closing walk reads the user's policy item and request budgets by key (erasure-walk.ts).
      policy: ['GetItem', 'BatchWriteItem'],
      budget: ['Query', 'BatchWriteItem'],
      holds: ['Query'],
      // Events that name the user (erasure-plan.ts); the closing walk reads those told since it began.
      events: ['Query', 'BatchWriteItem'],
      erasures: ['GetItem', 'UpdateItem'],
    },
    scan: true,
  },
} as const satisfies { name: string; store: StoreAccess };
