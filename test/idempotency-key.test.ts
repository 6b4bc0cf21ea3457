import { describe, expect, it } from 'vitest';
import { ROUTES, type RouteSpec } from '../functions/routes.js';
import { createDeps, DEVELOPMENT_IDEMPOTENCY_KEY, depsFromEnv, needsOf } from '../functions/runtime.js';
import { MissingIdempotencyKeyError, retryableRequest } from '../functions/store/idempotency-store.js';

/**
 * The key of the idempotency records' HMAC on Lambda: the functions whose routes keep retry records
 * refuse to start without it, the others are given none, and without it nothing is hashed at all: no
 * fallback to a key anyone can read in this repository. (test/infra/bundling.test.ts checks the built
 * bundles and the template.)
 */
const LAMBDA_ENV = { TABLE_NAME: 'roaming-test', AWS_REGION: 'eu-west-1' };
const KEY = 'a-key-of-the-stack-at-least-32-characters-long';

describe('the idempotency key on Lambda', () => {
  it('is required at cold start by exactly the routes that keep retry records', () => {
    const keepers = (ROUTES as readonly RouteSpec[]).filter((route) => route.keepsRetryRecords);
    expect(keepers.map((route) => route.name).sort()).toEqual(['createGroup', 'sendMessage']);
    for (const route of ROUTES) {
      const start = () => depsFromEnv(LAMBDA_ENV, needsOf(route.name));
      if ((route as RouteSpec).keepsRetryRecords) {
        expect(start, route.name).toThrow('ROAMING_IDEMPOTENCY_KEY must be set (at least 32 characters)');
        expect(
          depsFromEnv({ ...LAMBDA_ENV, ROAMING_IDEMPOTENCY_KEY: KEY }, needsOf(route.name)).idempotencyKey,
        ).toBe(KEY);
      } else {
        expect(start().idempotencyKey, route.name).toBeUndefined();
      }
    }
  });

  it('refuses a short key, and never falls back to the development key', () => {
    const short = { ...LAMBDA_ENV, ROAMING_IDEMPOTENCY_KEY: 'short' };
    expect(() => depsFromEnv(short, needsOf('sendMessage'))).toThrow(/at least 32 characters/);
    expect(() => depsFromEnv(short)).toThrow(/at least 32 characters/);
    expect(depsFromEnv(LAMBDA_ENV).idempotencyKey).not.toBe(DEVELOPMENT_IDEMPOTENCY_KEY);
  });

  it('without it a record cannot be hashed: a function given no key fails rather than use another', () => {
    const key = { pk: 'U#alice#IDEM', sk: 'm-1' };
    expect(() => retryableRequest(key, { text: 'hi' }, undefined)).toThrow(MissingIdempotencyKeyError);
    // Tests, benchmarks and local tools compose with the development key unless given one.
    const local = createDeps({ client: { send: () => Promise.reject(new Error('unused')) }, tableName: 't' });
    expect(local.idempotencyKey).toBe(DEVELOPMENT_IDEMPOTENCY_KEY);
  });
});
