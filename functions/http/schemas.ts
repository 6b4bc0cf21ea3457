import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { MAX_ID_TIME, ULID_PATTERN } from '../core/ids.js';
import { lazy } from '../core/lazy.js';
import { CHAT_TYPES, MESSAGE_TYPES } from '../core/model.js';

/**
 * Zod pieces shared by the routes' input schemas. User, conversation and group ids exclude '#' (the key
 * separator), '/' and spaces, so they can never forge another item's key or path.
 *
 * The schemas use `zod/mini` (the same schemas, messages and JSON Schema as classic zod, as functions
 * rather than methods, so a bundle carries and loads only what it uses), with zod's English messages.
 * Each piece is built on first use (core/lazy.ts): importing this module builds nothing.
 */
z.config(en());

export const ID_PATTERN = /^[A-Za-z0-9_.@:|+=-]{1,128}$/;

export const id = /* @__PURE__ */ lazy(() =>
  z.string().check(z.regex(ID_PATTERN, 'must be 1-128 characters of A-Z a-z 0-9 _ . @ : | + = -')),
);
export const msgId = /* @__PURE__ */ lazy(() =>
  z.string().check(z.regex(ULID_PATTERN, 'must be a message id (26-character ULID)')),
);
export const chatType = /* @__PURE__ */ lazy(() => z.enum(CHAT_TYPES));
export const messageType = /* @__PURE__ */ lazy(() => z.enum(MESSAGE_TYPES));

/**
 * A copy of `schema` with a description. A copy, so a shared piece keeps none of its own; registered on
 * the copy alone (as classic zod's `.describe()` does), since a check would be copied into every schema
 * built from this one.
 */
export function described<T extends z.ZodMiniType>(schema: T, description: string): T {
  return named(schema, { description });
}

/** A copy of `schema` with metadata; an `id` makes it a named schema of the OpenAPI document. */
export function named<T extends z.ZodMiniType>(schema: T, meta: z.core.GlobalMeta): T {
  const copy = schema.clone() as T;
  z.globalRegistry.add(copy, meta);
  return copy;
}

/** A whole number (JSON Schema `integer`), with further checks (bounds). */
export function integer(...checks: z.core.$ZodCheck<number>[]) {
  return z.number().check(z.int(), ...checks);
}

/** A whole number from a query string, within bounds. */
export const intParam = (min: number, max: number) =>
  z.pipe(
    z.pipe(z.string().check(z.regex(/^-?\d+$/, 'must be a whole number')), z.transform(Number)),
    integer(z.minimum(min), z.maximum(max)),
  );

/** A server time in ms from a query string: a whole number a message id can encode. */
export const timeParam = /* @__PURE__ */ lazy(() => intParam(0, MAX_ID_TIME));

/**
 * A comma-separated list from a query string (API Gateway joins repeated keys with commas too): at least
 * one value, no empty one, no value twice.
 */
export const listParam = <T extends z.ZodMiniType<unknown, string>>(item: T, max: number) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((value: string) => value.split(',')),
    ),
    z.array(item).check(
      z.minLength(1, 'must name at least one value'),
      z.maxLength(max, `must name at most ${max} values`),
      z.superRefine((values, ctx) => {
        const seen = new Set<unknown>();
        for (const value of values) {
          if (seen.has(value)) {
            ctx.addIssue({ code: 'custom', message: `names ${String(value)} twice` });
            return;
          }
          seen.add(value);
        }
      }),
    ),
  );

/**
 * A JSON object, passed through as parsed (not copied): a copy would drop a `__proto__` key, which
 * JSON.parse keeps as an own property and a message body may carry.
 */
export const jsonObject = /* @__PURE__ */ lazy(() =>
  z.custom<Record<string, unknown>>(
    (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
    'must be a JSON object',
  ),
);

/**
 * A message's body by its type, beyond being a JSON object: a text message needs `body.text`, a
 * non-empty string. The send route checks it, and so does a pre-send hook's rewrite.
 */
export const TEXT_BODY_RULE = 'a text message needs body.text, a non-empty string';
export function bodyFitsType(type: string, body: Record<string, unknown>): boolean {
  return type !== 'text' || (typeof body.text === 'string' && body.text.length > 0);
}

export const conversationPath = /* @__PURE__ */ lazy(() => z.object({ chatType: chatType(), convId: id() }));

/** Zod's issues as one readable sentence naming each field. */
export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length ? issue.path.join('.') : 'input';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}
