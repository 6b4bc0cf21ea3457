import { ValidationError } from '../core/errors.js';

/**
 * The opaque strings a client passes back: sync tokens (`?since=`), since continuation cursors and list
 * cursors. They are base64url text so clients treat them as opaque; decoding validates their shape.
 */

/** Everything changed in epoch `epoch` or later; `at` is when the token was issued (for its expiry). */
export interface SyncToken {
  epoch: number;
  at: number;
}

/** A since call's next page: markers of epochs [from, below) after `afterSk`. */
export interface SinceCursor {
  from: number;
  below: number;
  afterSk: string;
  at: number;
}

export type DecodedSince = { kind: 'token'; from: number; at: number } | ({ kind: 'cursor' } & SinceCursor);

export function encodeSyncToken(token: SyncToken): string {
  return encode(`t.${token.epoch}.${token.at}`);
}

export function encodeSinceCursor(cursor: SinceCursor): string {
  return encode(`c.${cursor.from}.${cursor.below}.${cursor.at}.${cursor.afterSk}`);
}

const TOKEN_PATTERN = /^t\.(\d{1,12})\.(\d{1,15})$/;
const CURSOR_PATTERN = /^c\.(\d{1,12})\.(\d{1,12})\.(\d{1,15})\.(E\d{12}#C#(?:single|group)#[^#]+)$/;

export function decodeSince(value: string): DecodedSince {
  const text = decode(value);
  const token = TOKEN_PATTERN.exec(text);
  if (token) return { kind: 'token', from: Number(token[1]), at: Number(token[2]) };
  const cursor = CURSOR_PATTERN.exec(text);
  if (cursor) {
    return {
      kind: 'cursor',
      from: Number(cursor[1]),
      below: Number(cursor[2]),
      at: Number(cursor[3]),
      afterSk: cursor[4] as string,
    };
  }
  throw new ValidationError('since: not a sync token from this service');
}

const LIST_SK_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}#(single|group)#[^#]+$/;

export function encodeListCursor(listSk: string): string {
  return encode(listSk);
}

export function decodeListCursor(cursor: string): string {
  const listSk = decode(cursor);
  if (!LIST_SK_PATTERN.test(listSk)) throw new ValidationError('cursor: not a cursor from this service');
  return listSk;
}

function encode(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function decode(value: string): string {
  return Buffer.from(value, 'base64url').toString();
}
