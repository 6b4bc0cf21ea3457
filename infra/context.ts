import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { RoamingStackProps } from './roaming-stack.js';

/**
 * Placeholders that let `cdk synth` run with no arguments. An API deployed with them rejects every token:
 * deploy with `-c jwtIssuer=... -c jwtAudience=...` (see docs/aws.md).
 */
export const PLACEHOLDER_JWT_ISSUER = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_PLACEHOLDER';
export const PLACEHOLDER_JWT_AUDIENCE = 'placeholder-app-client-id';

export const DEFAULT_STACK_NAME = 'Roaming';

/** The app's settings; each comes from CDK context (`-c key=value` or cdk.json), some also from the environment. */
export interface AppSettings {
  readonly stackName: string;
  readonly props: Omit<RoamingStackProps, 'env'>;
  /** Settings that fell back to a placeholder (the app warns). */
  readonly placeholders: readonly string[];
}

/**
 * Context keys: stackName, jwtIssuer (or env ROAMING_JWT_ISSUER), jwtAudience (comma-separated, or env
 * ROAMING_JWT_AUDIENCE), corsOrigins (comma-separated), sweepSchedule, sweepReservedConcurrency,
 * logRetentionDays, alarmTopicArn.
 */
export function appSettings(
  context: (key: string) => unknown,
  env: Record<string, string | undefined> = {},
): AppSettings {
  const placeholders: string[] = [];
  let jwtIssuer = text(context('jwtIssuer')) ?? text(env.ROAMING_JWT_ISSUER);
  if (!jwtIssuer) {
    jwtIssuer = PLACEHOLDER_JWT_ISSUER;
    placeholders.push('jwtIssuer');
  }
  let jwtAudience = list(context('jwtAudience')) ?? list(env.ROAMING_JWT_AUDIENCE);
  if (!jwtAudience) {
    jwtAudience = [PLACEHOLDER_JWT_AUDIENCE];
    placeholders.push('jwtAudience');
  }
  const corsAllowedOrigins = list(context('corsOrigins'));
  const schedule = text(context('sweepSchedule'));
  const reservedConcurrency = integer(context('sweepReservedConcurrency'), 'sweepReservedConcurrency');
  const logRetentionDays = integer(context('logRetentionDays'), 'logRetentionDays');
  return {
    stackName: text(context('stackName')) ?? DEFAULT_STACK_NAME,
    placeholders,
    props: {
      jwtIssuer,
      jwtAudience,
      api: corsAllowedOrigins ? { corsAllowedOrigins } : undefined,
      sweep: { schedule, reservedConcurrency },
      // CloudWatch accepts only its listed retention periods; the stack rejects others at deploy time.
      logRetention: logRetentionDays as RetentionDays | undefined,
      alarmTopicArn: text(context('alarmTopicArn')),
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
