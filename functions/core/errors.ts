/**
 * One error hierarchy for the whole service. Domain and store code throw these; exactly one place
 * (functions/http/error-response.ts) turns them into HTTP responses. Messages of client errors (< 500)
 * are shown to the caller, so they name the problem without leaking other users' data.
 */
export abstract class RoamingError extends Error {
  /** Spelled out in each class: the Lambda bundles are minified, which renames classes (new.target.name). */
  abstract override readonly name: string;
  abstract readonly status: number;
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export class ValidationError extends RoamingError {
  override readonly name = 'ValidationError';
  readonly status = 400;
  readonly code = 'bad_request';
}

export class UnauthorizedError extends RoamingError {
  override readonly name = 'UnauthorizedError';
  readonly status = 401;
  readonly code = 'unauthorized';
}

export class ForbiddenError extends RoamingError {
  override readonly name = 'ForbiddenError';
  readonly status = 403;
  readonly code = 'forbidden';
}

/** The app's pre-send hook refused the message (docs/presend-hook.md): the message is the hook's reason. */
export class RejectedError extends RoamingError {
  override readonly name = 'RejectedError';
  readonly status = 403;
  readonly code = 'rejected';
}

export class NotFoundError extends RoamingError {
  override readonly name = 'NotFoundError';
  readonly status = 404;
  readonly code = 'not_found';
}

export class MethodNotAllowedError extends RoamingError {
  override readonly name = 'MethodNotAllowedError';
  readonly status = 405;
  readonly code = 'method_not_allowed';
}

/**
 * The request named a host this server does not answer to (the local server: a web page reaching it
 * through DNS rebinding names its own host).
 */
export class MisdirectedRequestError extends RoamingError {
  override readonly name = 'MisdirectedRequestError';
  readonly status = 421;
  readonly code = 'misdirected_request';
}

export class ConflictError extends RoamingError {
  override readonly name = 'ConflictError';
  readonly status = 409;
  readonly code = 'conflict';
}

/** A legal hold covers what the request would physically delete (an erasure of a held user). */
export class HeldError extends RoamingError {
  override readonly name = 'HeldError';
  readonly status = 409;
  readonly code = 'held';
}

/** A sync token older than the change records kept: the device must fetch the list afresh. */
export class ResyncRequiredError extends RoamingError {
  override readonly name = 'ResyncRequiredError';
  readonly status = 410;
  readonly code = 'resync_required';
}

export class PayloadTooLargeError extends RoamingError {
  override readonly name = 'PayloadTooLargeError';
  readonly status = 413;
  readonly code = 'payload_too_large';
}

export class UnsupportedMediaTypeError extends RoamingError {
  override readonly name = 'UnsupportedMediaTypeError';
  readonly status = 415;
  readonly code = 'unsupported_media_type';
}

/**
 * An error after which the caller may simply try again: the HTTP answer carries `Retry-After` with
 * `retryAfterSeconds`.
 */
export abstract class RetryableError extends RoamingError {
  readonly retryAfterSeconds: number;
  constructor(message: string, options?: ErrorOptions & { retryAfterSeconds?: number }) {
    super(message, options);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

/** The per-user limits a 429 `rate_limited` names (its `limit`): docs/api.md, "Per-user limits". */
export const LIMIT_NAMES = [
  'requests',
  'adminRequests',
  'send',
  'sendCopies',
  'inbound',
  'sendsInFlight',
  'createGroup',
  'addMembers',
] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** The caller went over one of their limits: the answer names it (`limit`) and when to retry. */
export class RateLimitedError extends RetryableError {
  override readonly name = 'RateLimitedError';
  readonly status = 429;
  readonly code = 'rate_limited';
  /** Every limit names itself; optional only so that the class can be built like the others. */
  readonly limit?: LimitName;
  constructor(message: string, options?: ErrorOptions & { retryAfterSeconds?: number; limit?: LimitName }) {
    super(message, options);
    this.limit = options?.limit;
  }
}

/** The store kept throttling after every retry: the caller may try again later. */
export class ThrottledError extends RetryableError {
  override readonly name = 'ThrottledError';
  readonly status = 429;
  readonly code = 'throttled';
}

/**
 * The store cannot be reached (stopped, restarting, connection refused or reset): nothing the caller
 * sent is wrong, so it is a 503 with `Retry-After`, never a 500. The message is shown to the caller.
 */
export class ServiceUnavailableError extends RetryableError {
  override readonly name = 'ServiceUnavailableError';
  readonly status = 503;
  readonly code = 'unavailable';
}

/**
 * The pre-send hook gave no usable answer and its policy is `closed` (docs/presend-hook.md). That outcome
 * is final for the send's clientMsgId (the hook is never asked twice about one), so a later try needs a
 * new clientMsgId; a send without one simply asks again.
 */
export class HookUnavailableError extends RetryableError {
  override readonly name = 'HookUnavailableError';
  readonly status = 503;
  readonly code = 'hook_unavailable';
}

/** Something on our side failed; the message is logged, never shown. */
export class StoreError extends RoamingError {
  override readonly name = 'StoreError';
  readonly status = 500;
  readonly code = 'internal';
}
