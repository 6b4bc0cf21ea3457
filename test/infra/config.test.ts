import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, DEFAULT_CONFIG, type RoamingConfig } from '../../functions/domain/deps.js';
import { configFromEnv } from '../../functions/runtime.js';
import { tuningEnvironment } from '../../infra/tuning.js';
import { synthesize } from './support/stack.js';

describe('tuning', () => {
  it('sets one ROAMING_ variable per tunable, which the runtime reads back into the same key', () => {
    const tuning = Object.fromEntries(
      Object.keys(DEFAULT_CONFIG).map((key, i) => [key, 1000 + i]),
    ) as unknown as RoamingConfig;
    const environment = tuningEnvironment(tuning);
    expect(Object.keys(environment).sort()).toEqual(Object.values(CONFIG_ENV).sort());
    expect(Object.keys(environment).every((name) => name.startsWith('ROAMING_'))).toBe(true);
    expect(configFromEnv(environment)).toEqual(tuning);
  });

  it('rejects negative or non-finite values', () => {
    expect(() => tuningEnvironment({ purgeShards: -1 })).toThrow(/purgeShards/);
    expect(() => tuningEnvironment({ inlinePurgeBudgetMs: Number.NaN })).toThrow(/inlinePurgeBudgetMs/);
  });
});

describe('stack props are validated before anything is built', () => {
  it.each([
    ['a non-https issuer', { jwtIssuer: 'http://issuer.example.com' }, /jwtIssuer/],
    ['no audience', { jwtAudience: [] }, /jwtAudience/],
    ['a route timeout above 29 s', { api: { timeout: Duration.seconds(30) } }, /29 seconds/],
    ['a zero burst limit', { api: { throttlingBurstLimit: 0 } }, /throttlingBurstLimit/],
    ['a schedule that is not rate/cron', { sweep: { schedule: 'every hour' } }, /rate\(\.\.\.\) or cron/],
    ['a sweep timeout above 15 minutes', { sweep: { timeout: Duration.minutes(16) } }, /15 minutes/],
    [
      'a sweep timeout within the stop margin',
      { sweep: { timeout: Duration.seconds(30) }, tuning: { sweepStopBeforeTimeoutMs: 30_000 } },
      /sweepStopBeforeTimeoutMs/,
    ],
    ['zero reserved concurrency', { sweep: { reservedConcurrency: 0 } }, /reserved concurrency/],
    ['a negative tunable', { tuning: { maxGroupMembers: -5 } }, /maxGroupMembers/],
  ] as const)('rejects %s', (_, props, message) => {
    expect(() => synthesize({ props })).toThrow(message);
  });
});
