import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { CONFIG_ENV, DEFAULT_CONFIG, type RoamingConfig } from '../../functions/domain/deps.js';
import { configFromEnv } from '../../functions/runtime.js';
import {
  appSettings,
  DEFAULT_STACK_NAME,
  PLACEHOLDER_JWT_AUDIENCE,
  PLACEHOLDER_JWT_ISSUER,
} from '../../infra/context.js';
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

describe('app settings from context', () => {
  const none = () => undefined;

  it('fall back to placeholders for the issuer and audience, and say so', () => {
    const settings = appSettings(none, {});
    expect(settings.stackName).toBe(DEFAULT_STACK_NAME);
    expect(settings.props.jwtIssuer).toBe(PLACEHOLDER_JWT_ISSUER);
    expect(settings.props.jwtAudience).toEqual([PLACEHOLDER_JWT_AUDIENCE]);
    expect(settings.placeholders).toEqual(['jwtIssuer', 'jwtAudience']);
  });

  it('read -c strings: lists split on commas, numbers parsed', () => {
    const context: Record<string, string> = {
      stackName: 'RoamingDev',
      jwtIssuer: 'https://login.example.com/',
      jwtAudience: 'web, ios ,android',
      corsOrigins: 'https://app.example.com,https://admin.example.com',
      sweepSchedule: 'rate(30 minutes)',
      sweepReservedConcurrency: '3',
      logRetentionDays: '14',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms',
    };
    const settings = appSettings((key) => context[key], {});
    expect(settings.placeholders).toEqual([]);
    expect(settings.stackName).toBe('RoamingDev');
    expect(settings.props).toMatchObject({
      jwtIssuer: 'https://login.example.com/',
      jwtAudience: ['web', 'ios', 'android'],
      api: { corsAllowedOrigins: ['https://app.example.com', 'https://admin.example.com'] },
      sweep: { schedule: 'rate(30 minutes)', reservedConcurrency: 3 },
      logRetention: 14,
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms',
    });
  });

  it('read the issuer and audience from the environment when the context has none', () => {
    const settings = appSettings(none, {
      ROAMING_JWT_ISSUER: 'https://issuer.example.com',
      ROAMING_JWT_AUDIENCE: 'a,b',
    });
    expect(settings.props).toMatchObject({
      jwtIssuer: 'https://issuer.example.com',
      jwtAudience: ['a', 'b'],
    });
    expect(settings.placeholders).toEqual([]);
  });

  it('accept arrays and numbers from cdk.json and reject a non-integer number', () => {
    const settings = appSettings(
      (key) => ({ jwtAudience: ['x', 'y'], sweepReservedConcurrency: 5 })[key],
      {},
    );
    expect(settings.props.jwtAudience).toEqual(['x', 'y']);
    expect(settings.props.sweep?.reservedConcurrency).toBe(5);
    expect(() => appSettings((key) => (key === 'sweepReservedConcurrency' ? 'two' : undefined), {})).toThrow(
      /sweepReservedConcurrency/,
    );
  });
});
