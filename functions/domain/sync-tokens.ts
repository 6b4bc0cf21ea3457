import { ValidationError } from '../core/errors.js';
import type { GroupPositions } from './large-group-sides.js';

/**
 * The opaque strings a client passes back: sync tokens (`?since=`), since continuation cursors and list
 * cursors. They are base64url text so clients treat them as opaque; decoding validates their shape.
 */

/**
 * Everything changed in epoch `epoch` or later; `at` is when the token was issued (for its expiry);
 * `groups`: the position of each of the user's large groups then (large-group-sides.ts), whose new
 * messages stamp no marker of the user's.
 */
export interface SyncToken {
  epoch: number;
  at: number;
  groups?: GroupPositions;
}

/**
 * A since call's next page: markers of epochs [from, below) after `afterSk`; `groups`: the large
 * groups' positions as the first page read them, for the token the last page answers with.
 */
export interface SinceCursor {
  from: number;
  below: number;
  afterSk: string;
  at: number;
  groups: GroupPositions;
}

export type DecodedSince =
  | { kind: 'token'; from: number; at: number; groups: GroupPositions }
  | ({ kind: 'cursor' } & SinceCursor);

export function encodeSyncToken(token: SyncToken): string {
  const groups = token.groups?.size ? `.${encodePositions(token.groups)}` : '';
  return encode(`t.${token.epoch}.${token.at}${groups}`);
}

export function encodeSinceCursor(cursor: SinceCursor): string {
  return encode(
    `c.${cursor.from}.${cursor.below}.${cursor.at}.${encodePositions(cursor.groups)}.${cursor.afterSk}`,
  );
}

const POSITIONS = '((?:[A-Za-z0-9_-]{8}:\\d{1,12}(?:,[A-Za-z0-9_-]{8}:\\d{1,12})*)?)';
const TOKEN_PATTERN = new RegExp(`^t\\.(\\d{1,12})\\.(\\d{1,15})(?:\\.${POSITIONS})?$`);
// afterSk is a change marker's key, a deleted-ids record's right after it (keys.deletedIdsSk), or a
// resync marker's (keys.resyncSk).
const CURSOR_PATTERN = new RegExp(
  `^c\\.(\\d{1,12})\\.(\\d{1,12})\\.(\\d{1,15})\\.${POSITIONS}\\.(E\\d{12}#(?:C#(?:single|group)#[^#]+(?:#D#\\d{12})?|RESYNC))$`,
);

export function decodeSince(value: string): DecodedSince {
  const text = decode(value);
  const token = TOKEN_PATTERN.exec(text);
  if (token) {
    return { kind: 'token', from: Number(token[1]), at: Number(token[2]), groups: decodePositions(token[3]) };
  }
  const cursor = CURSOR_PATTERN.exec(text);
  if (cursor) {
    return {
      kind: 'cursor',
      from: Number(cursor[1]),
      below: Number(cursor[2]),
      at: Number(cursor[3]),
      groups: decodePositions(cursor[4]),
      afterSk: cursor[5] as string,
    };
  }
  throw new ValidationError('since: not a sync token from this service');
}

function encodePositions(positions: GroupPositions): string {
  return [...positions].map(([digest, seq]) => `${digest}:${seq}`).join(',');
}

function decodePositions(text: string | undefined): GroupPositions {
  const positions: GroupPositions = new Map();
  if (!text) return positions;
  for (const entry of text.split(',')) {
    const [digest, seq] = entry.split(':') as [string, string];
    positions.set(digest, Number(seq));
  }
  return positions;
}

/** A list cursor names the last item's position: a list key (full and mark lists) or a pin key. */
export type CursorKind = 'list' | 'pinned';

const CURSOR_PATTERNS: Record<CursorKind, RegExp> = {
  list: /^[0-9A-HJKMNP-TV-Z]{26}#(single|group)#[^#]+$/,
  pinned: /^\d{15}#(single|group)#[^#]+$/,
};

export function encodeCursor(sortKey: string, kind: CursorKind): string {
  return encode(`${kind === 'pinned' ? 'p' : 'l'}.${sortKey}`);
}

export function decodeCursor(cursor: string, kind: CursorKind): string {
  const text = decode(cursor);
  const prefix = `${kind === 'pinned' ? 'p' : 'l'}.`;
  const sortKey = text.slice(prefix.length);
  if (!text.startsWith(prefix) || !CURSOR_PATTERNS[kind].test(sortKey)) {
    throw new ValidationError(
      `cursor: not a cursor of this list (${kind === 'pinned' ? 'pinned' : 'conversations'})`,
    );
  }
  return sortKey;
}

function encode(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function decode(value: string): string {
  return Buffer.from(value, 'base64url').toString();
}
