import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { FrontDoorOptions } from './front-door.js';
import type { RoamingStackProps } from './roaming-stack.js';
import { DEFAULT_STAGE, productionProblems, readStage, STAGES_DIR, type StageConfig } from './stage.js';

/**
 * Placeholders that let a non-production stage synthesize with no issuer. An API deployed with them
 * rejects every token; a production stage refuses them (infra/stage.ts productionProblems).
 */
export const PLACEHOLDER_JWT_ISSUER = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_PLACEHOLDER';
export const PLACEHOLDER_JWT_AUDIENCE = 'placeholder-app-client-id';

/** The `-c key=value` settings a non-production stage may override (a production stage takes none). */
export const OVERRIDE_KEYS = [
  'stackName',
  'jwtIssuer',
  'jwtAudience',
  'corsOrigins',
  'sweepSchedule',
  'sweepReservedConcurrency',
  'logRetentionDays',
  'alarmTopicArn',
  'tableName',
  'webhookUrl',
  'presendUrl',
] as const;

/** The app's settings: the stage file (infra/stages/{stage}.json), then any `-c` overrides. */
export interface AppSettings {
  readonly stage: string;
  readonly stackName: string;
  readonly props: Omit<RoamingStackProps, 'env'>;
  /** Where the stack deploys; a null account in the stage file means the CLI's (CDK_DEFAULT_ACCOUNT). */
  readonly env: { account?: string; region: string };
  readonly terminationProtection: boolean;
  readonly tags: Record<string, string>;
  /** Settings that fell back to a placeholder (the app warns; a production stage fails instead). */
  readonly placeholders: readonly string[];
  /** The optional front door stack (us-east-1). */
  readonly frontDoor?: FrontDoorOptions;
}

/**
 * The settings of the stage named by `-c stage=NAME` (default dev). A production stage is only its
 * committed file: any placeholder, missing value or `-c` override fails synthesis, so a deploy that
 * forgets a flag (an emergency rollback) cannot ship placeholders. Other stages take overrides: `-c` keys
 * OVERRIDE_KEYS, and the issuer and audience also from ROAMING_JWT_ISSUER and ROAMING_JWT_AUDIENCE.
 */
export function appSettings(
  context: (key: string) => unknown,
  env: Record<string, string | undefined> = {},
  stagesDir = STAGES_DIR,
): AppSettings {
  const stageName = text(context('stage')) ?? DEFAULT_STAGE;
  const stage = readStage(stageName, stagesDir);
  const given = OVERRIDE_KEYS.filter((key) => text(context(key)) !== undefined || list(context(key)));
  if (env.ROAMING_JWT_ISSUER) given.push('jwtIssuer');
  if (env.ROAMING_JWT_AUDIENCE) given.push('jwtAudience');
  if (stage.production) {
    if (given.length > 0) {
      throw new Error(
        `Stage ${stageName} is production: set ${[...new Set(given)].join(', ')} in infra/stages/${stageName}.json, not with -c or the environment`,
      );
    }
    const problems = productionProblems(stage);
    if (problems.length > 0) {
      throw new Error(
        `Stage ${stageName} (infra/stages/${stageName}.json) is not ready to deploy: ${problems.join('; ')}`,
      );
    }
  }
  return settingsOf(stageName, withOverrides(stage, context, env), env.CDK_DEFAULT_ACCOUNT);
}

function withOverrides(
  stage: StageConfig,
  context: (key: string) => unknown,
  env: Record<string, string | undefined>,
): StageConfig {
  const schedule = text(context('sweepSchedule'));
  const concurrency = integer(context('sweepReservedConcurrency'), 'sweepReservedConcurrency');
  const topicArn = text(context('alarmTopicArn'));
  return {
    ...stage,
    stackName: text(context('stackName')) ?? stage.stackName,
    jwtIssuer: text(context('jwtIssuer')) ?? text(env.ROAMING_JWT_ISSUER) ?? stage.jwtIssuer,
    jwtAudience: list(context('jwtAudience')) ?? list(env.ROAMING_JWT_AUDIENCE) ?? stage.jwtAudience,
    corsOrigins: list(context('corsOrigins')) ?? stage.corsOrigins,
    sweep: {
      schedule: schedule ?? stage.sweep.schedule,
      reservedConcurrency: concurrency ?? stage.sweep.reservedConcurrency,
    },
    logRetentionDays: integer(context('logRetentionDays'), 'logRetentionDays') ?? stage.logRetentionDays,
    alarms: { ...stage.alarms, topicArn: topicArn ?? stage.alarms.topicArn },
    tableName: text(context('tableName')) ?? stage.tableName,
    events: {
      ...stage.events,
      webhookUrl: text(context('webhookUrl')) ?? stage.events.webhookUrl,
      presendUrl: text(context('presendUrl')) ?? stage.events.presendUrl,
    },
  };
}

function settingsOf(name: string, stage: StageConfig, cliAccount: string | undefined): AppSettings {
  const placeholders: string[] = [];
  if (!stage.jwtIssuer) placeholders.push('jwtIssuer');
  if (!stage.jwtAudience || stage.jwtAudience.length === 0) placeholders.push('jwtAudience');
  const account = stage.account ?? cliAccount;
  return {
    stage: name,
    stackName: stage.stackName,
    env: account ? { account, region: stage.region } : { region: stage.region },
    terminationProtection: stage.production,
    tags: { ...stage.tags },
    placeholders,
    frontDoor: stage.frontDoor
      ? {
          apiDomain: stage.frontDoor.apiDomain,
          rateLimitPerIp: stage.frontDoor.rateLimitPerIp,
          rateLimitPerToken: stage.frontDoor.rateLimitPerToken,
          customDomain: stage.frontDoor.customDomain ?? undefined,
        }
      : undefined,
    props: {
      jwtIssuer: stage.jwtIssuer ?? PLACEHOLDER_JWT_ISSUER,
      jwtAudience: stage.jwtAudience?.length ? stage.jwtAudience : [PLACEHOLDER_JWT_AUDIENCE],
      api: {
        corsAllowedOrigins: stage.corsOrigins.length > 0 ? stage.corsOrigins : undefined,
        throttlingRateLimit: stage.api.throttlingRateLimit,
        throttlingBurstLimit: stage.api.throttlingBurstLimit,
        routeThrottles: stage.api.routeThrottles,
        userScope: stage.api.userScope,
        reservedConcurrency: stage.api.reservedConcurrency,
      },
      sweep: { schedule: stage.sweep.schedule, reservedConcurrency: stage.sweep.reservedConcurrency },
      // CloudWatch accepts only its listed retention periods; the stack rejects others at deploy time.
      logRetention: stage.logRetentionDays as RetentionDays,
      alarms: {
        topicArn: stage.alarms.topicArn ?? undefined,
        emails: stage.alarms.emails,
        slack: stage.alarms.slack ?? undefined,
        accountConcurrencyLimit: stage.alarms.accountConcurrencyLimit,
      },
      throughputCaps: stage.throughputCaps,
      deployment: stage.deployment,
      tableName: stage.tableName ?? undefined,
      backup: {
        deleteAfterDays: stage.backup.deleteAfterDays,
        copy: stage.backup.copy ?? undefined,
      },
      contributorInsights: stage.contributorInsights,
      events: {
        webhookUrl: stage.events.webhookUrl ?? undefined,
        presendUrl: stage.events.presendUrl ?? undefined,
        presendPolicy: stage.events.presendPolicy,
        presendTimeoutMs: stage.events.presendTimeoutMs,
        busName: stage.events.busName ?? undefined,
      },
    },
  };
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = String(value).trim();
  return trimmed === '' ? undefined : trimmed;
}

function list(value: unknown): string[] | undefined {
  const items = (Array.isArray(value) ? value.map(String) : (text(value)?.split(',') ?? []))
    .map((item) => item.trim())
    .filter((item) => item !== '');
  return items.length === 0 ? undefined : items;
}

function integer(value: unknown, key: string): number | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const number = Number(raw);
  if (!Number.isInteger(number)) throw new Error(`Context ${key} must be an integer, got "${raw}"`);
  return number;
}
