import { z } from 'zod';
import { MAX_ID_TIME, ULID_PATTERN } from '../core/ids.js';
import { CHAT_TYPES, MESSAGE_TYPES } from '../core/model.js';

/**
 * Zod pieces shared by the routes' input schemas. User, conversation and group ids exclude '#' (the key
 * separator), '/' and spaces, so they can never forge another item's key or path.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.@:|+=-]{1,128}$/;

export const id = z.string().regex(ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . @ : | + = -');
export const msgId = z.string().regex(ULID_PATTERN, 'must be a message id (26-character ULID)');
export const chatType = z.enum(CHAT_TYPES);
export const messageType = z.enum(MESSAGE_TYPES);

/** A whole number from a query string, within bounds. */
export const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A server time in ms from a query string: a whole number a message id can encode. */
export const timeParam = intParam(0, MAX_ID_TIME);

/**
 * A comma-separated list from a query string (API Gateway joins repeated keys with commas too): at least
 * one value, no empty one, no value twice.
 */
export const listParam = <T extends z.ZodType<unknown, string>>(item: T, max: number) =>
  z
    .string()
    .transform((value) => value.split(','))
    .pipe(
      z
        .array(item)
        .min(1, 'must name at least one value')
        .max(max, `must name at most ${max} values`)
        .superRefine((values, ctx) => {
          const seen = new Set<unknown>();
          for (const value of values) {
            if (seen.has(value)) {
              ctx.addIssue({ code: 'custom', message: `names ${String(value)} twice` });
              return;
            }
            seen.add(value);
          }
        }),
    );

/**
 * A JSON object, passed through as parsed (not copied): a copy would drop a `__proto__` key, which
 * JSON.parse keeps as an own property and a message body may carry.
 */
export const jsonObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be a JSON object',
);

export const conversationPath = z.object({ chatType, convId: id });

/** Zod's issues as one readable sentence naming each field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length ? issue.path.join('.') : 'input';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}
