import * as z from 'zod/mini';
import { PayloadTooLargeError } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import type { SendRequest } from '../core/model.js';
import type { PresendHookSettings } from '../domain/deps.js';
import { checkMessageSize } from '../domain/message-limits.js';
import { bodyFitsType, jsonObject } from '../http/schemas.js';
import { signedHeaders } from './signing.js';

/**
 * The pre-send hook's client (docs/presend-hook.md): one signed POST of the message about to be sent,
 * and the hook's answer read as a decision. Anything but a valid answer within the timeout is
 * `unavailable` (with why, for the log), never an exception: the caller applies the hook's policy.
 */
export type PresendDecision =
  | { action: 'allow' }
  | { action: 'reject'; reason: string }
  | { action: 'rewrite'; body: Record<string, unknown> }
  | { action: 'unavailable'; why: string };

/** What a hook may answer; unknown fields are ignored. */
const hookAnswer = /* @__PURE__ */ lazy(() =>
  z.discriminatedUnion('action', [
    z.object({ action: z.literal('allow') }),
    z.object({ action: z.literal('reject'), reason: z.optional(z.string()) }),
    z.object({ action: z.literal('rewrite'), body: jsonObject() }),
  ]),
);

/** A reason is shown to the sender as the 403's message: bounded, so a hook cannot make answers huge. */
const MAX_REASON_CHARACTERS = 500;
const DEFAULT_REASON = 'The message was rejected';
/** A hook's answer is a small JSON object; past this it is an error, not something to parse. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The JSON the hook receives (signed over exactly these bytes). */
export function presendRequestBody(sender: string, message: SendRequest, occurredAt: number): string {
  const { to, chatType, type, body, ext, clientMsgId } = message;
  return JSON.stringify({
    type: 'message.presend',
    occurredAt,
    data: {
      from: sender,
      to,
      chatType,
      type,
      body,
      ...(ext !== undefined ? { ext } : {}),
      ...(clientMsgId !== undefined ? { clientMsgId } : {}),
    },
  });
}

export async function askPresendHook(
  hook: PresendHookSettings,
  request: { sender: string; message: SendRequest; occurredAt: number; timeoutMs: number },
): Promise<PresendDecision> {
  const { sender, message, occurredAt, timeoutMs } = request;
  const abort = new AbortController();
  // One deadline for the whole call: reading the secret, connecting, and reading the answer.
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const secret = await untilAborted(hook.secret(), abort.signal);
    const rawBody = presendRequestBody(sender, message, occurredAt);
    const response = await fetch(hook.url, {
      method: 'POST',
      headers: signedHeaders(secret, rawBody),
      body: rawBody,
      signal: abort.signal,
      // A redirect would re-send the signed message somewhere else: it is an error instead.
      redirect: 'manual',
    });
    const text = await response.text();
    if (response.status < 200 || response.status > 299)
      return unavailable(`the hook answered HTTP ${response.status}`);
    if (Buffer.byteLength(text) > MAX_ANSWER_BYTES) return unavailable('the answer is too large');
    return decisionOf(message, text);
  } catch (error) {
    const why = abort.signal.aborted ? String((abort.signal.reason as Error).message) : errorText(error);
    return unavailable(why);
  } finally {
    clearTimeout(timer);
  }
}

/** The hook's answer as a decision; a rewrite must be a valid body for the message's type and size. */
export function decisionOf(message: SendRequest, text: string): PresendDecision {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return unavailable('the answer is not JSON');
  }
  const answer = hookAnswer().safeParse(parsed);
  if (!answer.success) return unavailable('the answer is not {action: allow | reject | rewrite}');
  const decided = answer.data;
  if (decided.action === 'allow') return { action: 'allow' };
  if (decided.action === 'reject') {
    const reason = decided.reason?.trim().slice(0, MAX_REASON_CHARACTERS) || DEFAULT_REASON;
    return { action: 'reject', reason };
  }
  const problem = rewriteProblem(message, decided.body);
  return problem ? unavailable(`invalid rewrite: ${problem}`) : { action: 'rewrite', body: decided.body };
}

/** Why a rewritten body could not be sent as this message (the send route's rules), or undefined. */
function rewriteProblem(message: SendRequest, body: Record<string, unknown>): string | undefined {
  if (!bodyFitsType(message.type, body)) return `not a valid body for a ${message.type} message`;
  try {
    checkMessageSize({ ...message, body });
  } catch (error) {
    if (error instanceof PayloadTooLargeError) return error.message;
    throw error;
  }
  return undefined;
}

function unavailable(why: string): PresendDecision {
  return { action: 'unavailable', why };
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** `promise`, or a rejection as soon as `signal` aborts (a secret read that hangs counts against the timeout). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
