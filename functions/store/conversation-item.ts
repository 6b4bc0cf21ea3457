import { DAY_MS } from '../core/clock.js';
import type { ChatType, ConversationRef } from '../core/model.js';
import type { ConversationState } from './conversation-state.js';
import { keys, purgeShardOf } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import type { UpdateExpression } from './update-expression.js';

/**
 * The conversation item, declared once: how each field of ConversationState is stored. The reader
 * (`stateOf`), every event's update (`change`: the event states the fields it changes, once, and the
 * update and the next state both follow), the mark entries (`entryOf`) and the purge index's projection
 * derive from this table, so an attribute is added here and nowhere else. docs/consistency.md, section 2,
 * says what each one means.
 */
type Item = Record<string, unknown>;

/** The fields an item stores (the ref is its key; `exists` is whether there is an item at all). */
export type StoredFields = Omit<ConversationState, 'ref' | 'exists' | 'advanced'>;
type Field = keyof StoredFields;

interface Column<F extends Field> {
  attribute: string;
  /** The field when the item has no attribute. */
  absent: StoredFields[F];
  /** Values stored as no attribute at all. @default undefined only */
  omitted?: (value: StoredFields[F]) => boolean;
  read?: (stored: unknown) => StoredFields[F];
  write?: (value: StoredFields[F]) => unknown;
  /** Shown in a list: copied into the conversation's entries in the lists of its marks. */
  listed?: true;
}

const COLUMNS: { [F in Field]: Column<F> } = {
  rev: { attribute: 'rev', absent: 0, read: Number },
  seq: { attribute: 'seq', absent: 0, read: Number },
  headMsgId: { attribute: 'headMsgId', absent: undefined, listed: true },
  lastMessage: {
    attribute: 'lastMessage',
    absent: undefined,
    read: (stored) => fromStoredMessage(stored as StoredMessage),
    write: (message) => message && toStoredMessage(message),
    listed: true,
  },
  listSk: { attribute: 'listSk', absent: undefined, listed: true },
  readThrough: { attribute: 'readThrough', absent: undefined, listed: true },
  clearedThrough: { attribute: 'clearedThrough', absent: undefined, listed: true },
  unread: { attribute: 'unreadCount', absent: 0, read: Number, listed: true },
  pinnedAt: { attribute: 'pinnedAt', absent: undefined, read: Number, listed: true },
  marks: {
    attribute: 'marks',
    absent: [],
    read: (stored) => (Array.isArray(stored) ? stored.map(Number).sort((a, b) => a - b) : []),
    omitted: (marks) => marks.length === 0,
    listed: true,
  },
  changeEpoch: { attribute: 'changeEpoch', absent: -1, read: Number },
  markedAt: { attribute: 'markedAt', absent: undefined, read: Number },
  left: { attribute: 'left', absent: false, read: (stored) => stored === true, omitted: (left) => !left },
  purgeSk: { attribute: 'purgeSk', absent: undefined },
  retentionDays: { attribute: 'retentionDays', absent: undefined, read: Number, listed: true },
  retentionFloor: { attribute: 'retentionFloor', absent: undefined, read: Number, listed: true },
  shared: {
    attribute: 'shared',
    absent: false,
    read: (stored) => stored === true,
    omitted: (shared) => !shared,
  },
};

/**
 * A shared-mode member's list key is stored under another name: the list index must not show it at a
 * position the group has moved past (list pages merge large groups in; member-view.ts).
 */
const SHARED_LIST_SK = 'sharedListSk';

function attributeOf(field: Field, shared: boolean): string {
  return field === 'listSk' && shared ? SHARED_LIST_SK : COLUMNS[field].attribute;
}

const FIELDS = Object.keys(COLUMNS) as Field[];

/** Who the item belongs to: written when it is created, read back by `refOfItem`. */
const IDENTITY = ['owner', 'convId', 'chatType'] as const;

/** What the purge index copies (table.ts): enough for the sweep to know whose copies, and how far hidden. */
export const PURGE_ENTRY_ATTRIBUTES: readonly string[] = [...IDENTITY, COLUMNS.clearedThrough.attribute];

function isAbsent<F extends Field>(field: F, value: StoredFields[F]): boolean {
  const omitted = COLUMNS[field].omitted;
  return value === undefined || omitted?.(value) === true;
}

function readField<F extends Field>(field: F, item: Item): StoredFields[F] {
  const column = COLUMNS[field];
  const stored = item[attributeOf(field, item.shared === true)];
  if (stored === undefined || stored === null) return column.absent;
  return column.read ? column.read(stored) : (stored as StoredFields[F]);
}

function writeField<F extends Field>(field: F, value: StoredFields[F]): unknown {
  const write = COLUMNS[field].write;
  return write ? write(value) : value;
}

export function stateOf(ref: ConversationRef, item: Item | undefined): ConversationState {
  const fields = Object.fromEntries(
    FIELDS.map((field) => [field, item ? readField(field, item) : COLUMNS[field].absent]),
  ) as unknown as StoredFields;
  return { ref, exists: item !== undefined, ...fields };
}

/** The ref of a conversation item (or mark entry) read from the table. */
export function refOfItem(item: Item): ConversationRef {
  return { owner: item.owner as string, chatType: item.chatType as ChatType, convId: item.convId as string };
}

/** A mark entry: the conversation as its list shows it (`stateOf` reads it back like the item). */
export function entryOf(state: ConversationState): Item {
  const entry: Item = identityOf(state.ref);
  for (const field of FIELDS) {
    const value = state[field];
    if (COLUMNS[field].listed && !isAbsent(field, value))
      entry[COLUMNS[field].attribute] = writeField(field, value);
  }
  return entry;
}

/** The whole item of a state (seeding a table without a request per event: bench and tests). */
export function itemOf(state: ConversationState, purgeShards: number): Item {
  const item: Item = { ...keys.conversation(state.ref), ...identityOf(state.ref) };
  for (const field of FIELDS) {
    const value = state[field];
    if (!isAbsent(field, value)) item[attributeOf(field, state.shared)] = writeField(field, value);
  }
  Object.assign(item, companionsOf(state, purgeShards));
  return item;
}

function identityOf(ref: ConversationRef): Item {
  return { owner: ref.owner, chatType: ref.chatType, convId: ref.convId };
}

/** Index keys that follow a field: the pinned index's key follows the pin, the purge shard the filing. */
function companionsOf(
  state: Pick<StoredFields, 'pinnedAt' | 'purgeSk' | 'retentionDays'> & { ref: ConversationRef },
  purgeShards: number,
) {
  const companions: Item = {};
  if (state.pinnedAt !== undefined) {
    companions.pinSk = keys.pinSk(state.pinnedAt, state.ref.chatType, state.ref.convId);
  }
  if (state.purgeSk !== undefined) {
    companions.purgeShard = purgeShardKey({ ...state, purgeSk: state.purgeSk }, purgeShards);
  }
  return companions;
}

type Filing = Pick<StoredFields, 'retentionDays'> & { ref: ConversationRef };

/**
 * The purge shard of a filing: a conversation with its own retention is filed by when its oldest copy
 * expires, in the owner's `P#{n}#C` (the sweep reads it up to its run's time); every other filing, and a
 * due-now one (time 0: a one-way delete's), in `P#{n}` by its oldest copy's time.
 */
export function purgeShardKey(state: Filing & { purgeSk: string }, purgeShards: number): string {
  const shard = purgeShardOf(state.ref.owner, purgeShards);
  const ownFiled = state.retentionDays !== undefined && keys.dueAtOfPurgeSk(state.purgeSk) > 0;
  return ownFiled ? keys.ownPurgeShard(shard) : keys.purgeShard(shard);
}

/**
 * The purge key of a conversation whose oldest copy is from `oldest` (ms): that time, or, with its own
 * retention, when that copy expires by it (oldest + days). The one place a filing's key is computed.
 */
export function purgeKeyOf(state: Filing, oldest: number): string {
  const days = state.retentionDays;
  // 0 is "due now" (held tombstones or versions to delete once released), whatever the own days say.
  return keys.purgeSk(days === undefined || oldest === 0 ? oldest : oldest + days * DAY_MS, state.ref);
}

/** The oldest copy's time (ms) a filing of `state` stands for (0: due now). */
export function oldestOfPurgeKey(state: Filing, purgeSk: string): number {
  const dueAt = keys.dueAtOfPurgeSk(purgeSk);
  return dueAt === 0 || state.retentionDays === undefined ? dueAt : dueAt - state.retentionDays * DAY_MS;
}

/** How an event changes its fields: most are set to the patch's value; these two are relative. */
export interface ChangeOptions {
  /** Added to the stored number (a write not conditioned on `rev` must not overwrite another's count). */
  add?: Partial<Record<'rev' | 'unread', number>>;
  /** Filed for purge under this key unless filed already (the earliest filing stands). */
  fileIfUnfiled?: string;
  /** The item may not exist yet: write who it belongs to. */
  create?: boolean;
  purgeShards: number;
}

/**
 * Writes `patch` (the fields an event changes) into `u`, absent values as removals, with the index keys
 * that follow them, and returns the state after it.
 */
export function change(
  u: UpdateExpression,
  state: ConversationState,
  patch: Partial<StoredFields>,
  options: ChangeOptions,
): ConversationState {
  // A derived state's position, head, latest and unread are stored with the change (member-view.ts).
  const written: Partial<StoredFields> = state.advanced
    ? {
        seq: state.seq,
        headMsgId: state.headMsgId,
        lastMessage: state.lastMessage,
        listSk: state.listSk,
        unread: state.unread,
        ...patch,
      }
    : patch;
  const next: ConversationState = { ...state, ...written, advanced: false };
  if (options.create) for (const attribute of IDENTITY) u.set(attribute, state.ref[attribute]);
  // Moving to shared mode moves the list key out of the list index's attribute; a shared side never
  // keeps one there (it would list the group at a position it has moved past).
  if (next.shared !== state.shared && state.listSk !== undefined) {
    u.remove(attributeOf('listSk', state.shared));
    if (!('listSk' in written)) u.set(attributeOf('listSk', next.shared), state.listSk);
  } else if (next.shared) {
    u.remove(COLUMNS.listSk.attribute);
  }
  for (const field of Object.keys(written) as Field[]) {
    const value = next[field];
    const attribute = attributeOf(field, next.shared);
    if (isAbsent(field, value)) u.remove(attribute);
    else u.set(attribute, writeField(field, value));
  }
  for (const [field, delta] of Object.entries(options.add ?? {}) as ['rev' | 'unread', number][]) {
    u.increment(COLUMNS[field].attribute, delta);
    next[field] = state[field] + delta;
  }
  if (options.fileIfUnfiled !== undefined) {
    // Whatever the read said: a settle may have unfiled it since (it does not change `seq`).
    u.setIfAbsent(COLUMNS.purgeSk.attribute, options.fileIfUnfiled);
    u.setIfAbsent(
      'purgeShard',
      purgeShardKey({ ...next, purgeSk: options.fileIfUnfiled }, options.purgeShards),
    );
    next.purgeSk = state.purgeSk ?? options.fileIfUnfiled;
  }
  const companions = companionsOf(next, options.purgeShards);
  if ('pinnedAt' in patch) {
    if (companions.pinSk === undefined) u.remove('pinSk');
    else u.set('pinSk', companions.pinSk);
  }
  if ('purgeSk' in patch) {
    if (companions.purgeShard === undefined) u.remove('purgeShard');
    else u.set('purgeShard', companions.purgeShard);
  }
  return next;
}
