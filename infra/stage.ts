import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { MAX_PRESEND_TIMEOUT_MS } from '../functions/domain/deps.js';
import { ROUTES } from '../functions/routes.js';
import { PROJECT_ROOT } from './paths.js';

/** The committed stages: one JSON file per stage (`infra/stages/{name}.json`); add a file to add a stage. */
export const STAGES_DIR = join(PROJECT_ROOT, 'infra', 'stages');
export const DEFAULT_STAGE = 'dev';

/** A value still to be filled in: any string containing this marker. */
export const PLACEHOLDER_MARK = 'PLACEHOLDER';

const ROUTE_NAMES = ROUTES.map((route) => route.name) as [string, ...string[]];

const throttle = z.strictObject({
  rateLimit: z.number().positive(),
  burstLimit: z.number().int().positive(),
});

/** The schema of a stage file. Every key is required, so a stage says what it chose (null = not used). */
export const StageSchema = z.strictObject({
  $comment: z.string().optional(),
  /** A production stage: placeholders fail synthesis, termination protection is on, no `-c` overrides. */
  production: z.boolean(),
  stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/),
  /** 12 digits; null: the account the CLI's credentials resolve to (not allowed for production). */
  account: z.string().nullable(),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/),
  /** null: a placeholder the API rejects every token against (not allowed for production). */
  jwtIssuer: z.string().nullable(),
  jwtAudience: z.array(z.string()).nullable(),
  corsOrigins: z.array(z.string()),
  alarms: z.strictObject({
    emails: z.array(z.string()),
    /** An existing SNS topic instead of the stack's own. */
    topicArn: z.string().nullable(),
    /** An AWS Chatbot (Amazon Q Developer in chat applications) Slack channel, already authorized. */
    slack: z.strictObject({ workspaceId: z.string(), channelId: z.string() }).nullable(),
    /** The account's Lambda concurrency quota: the concurrency alarm fires at 80% of it. */
    accountConcurrencyLimit: z.number().int().positive(),
  }),
  logRetentionDays: z.number().int().positive(),
  throughputCaps: z.strictObject({
    maxReadRequestUnits: z.number().int().positive(),
    maxWriteRequestUnits: z.number().int().positive(),
  }),
  api: z.strictObject({
    throttlingRateLimit: z.number().positive(),
    throttlingBurstLimit: z.number().int().positive(),
    routeThrottles: z.partialRecord(z.enum(ROUTE_NAMES), throttle),
    /** The scope the user routes need (the issuer's name for it, e.g. a Cognito resource server's). */
    userScope: z.string().regex(/^[!#-[\]-~]+$/),
    /** Reserved concurrency of the API's functions (infra/constructs/api.ts, ReservedConcurrency). */
    reservedConcurrency: z.strictObject({
      userRoute: z.number().int().min(1),
      adminRoute: z.number().int().min(1),
      unrouted: z.number().int().min(1),
      routes: z.partialRecord(z.enum(ROUTE_NAMES), z.number().int().min(1)),
    }),
  }),
  sweep: z.strictObject({
    schedule: z.string(),
    reservedConcurrency: z.number().int().min(1),
  }),
  deployment: z.enum(['allAtOnce', 'canary10Percent5Minutes', 'linear10PercentEvery1Minute']),
  /** A table to use instead of the stack's own (a restored table: docs/runbooks/restore.md). */
  tableName: z.string().nullable(),
  backup: z.strictObject({
    deleteAfterDays: z.number().int().positive(),
    /** Copy each recovery point to a vault in another region or account. */
    copy: z.strictObject({ vaultArn: z.string(), deleteAfterDays: z.number().int().positive() }).nullable(),
  }),
  contributorInsights: z.boolean(),
  /** The optional CloudFront + WAF front door (infra/front-door.ts, docs/front-door.md), its own stack in us-east-1. */
  frontDoor: z
    .strictObject({
      apiDomain: z.string(),
      rateLimitPerIp: z.number().int().min(10),
      rateLimitPerToken: z.number().int().min(10),
      customDomain: z.strictObject({ domainName: z.string(), certificateArn: z.string() }).nullable(),
    })
    .nullable(),
  /** Events (infra/constructs/events.ts, docs/aws.md "Events"): null = no webhook, no pre-send hook, a generated bus name. */
  events: z.strictObject({
    webhookUrl: z.string().nullable(),
    presendUrl: z.string().nullable(),
    presendPolicy: z.enum(['open', 'closed']),
    presendTimeoutMs: z.number().int().min(1).max(MAX_PRESEND_TIMEOUT_MS),
    busName: z.string().nullable(),
  }),
  tags: z.record(z.string(), z.string()),
});

export type StageConfig = z.infer<typeof StageSchema>;

/** The stage names there are files for. */
export function stageNames(dir = STAGES_DIR): string[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.slice(0, -'.json'.length))
    .sort();
}

/** Reads and validates `{dir}/{name}.json`. */
export function readStage(name: string, dir = STAGES_DIR): StageConfig {
  const file = join(dir, `${name}.json`);
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !existsSync(file)) {
    throw new Error(`No stage "${name}": the stages are ${stageNames(dir).join(', ')} (infra/stages/*.json)`);
  }
  const parsed = StageSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Stage ${name} (infra/stages/${name}.json) is invalid: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * What a production stage may not have: placeholders, a missing issuer, audience, account or alarm
 * destination. Each problem names its key.
 */
export function productionProblems(stage: StageConfig): string[] {
  const problems: string[] = [];
  for (const [path, value] of leaves(stage)) {
    if (path !== '$comment' && typeof value === 'string' && value.includes(PLACEHOLDER_MARK)) {
      problems.push(`${path} is a placeholder`);
    }
  }
  if (!stage.account || !/^\d{12}$/.test(stage.account))
    problems.push('account must be a 12-digit account id');
  if (!stage.jwtIssuer) problems.push('jwtIssuer is missing');
  if (!stage.jwtAudience || stage.jwtAudience.length === 0) problems.push('jwtAudience is missing');
  const { alarms } = stage;
  if (alarms.emails.length === 0 && !alarms.topicArn && !alarms.slack) {
    problems.push('alarms needs a destination (emails, topicArn or slack)');
  }
  return problems;
}

function leaves(value: unknown, path = ''): [string, unknown][] {
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, child]) => leaves(child, path ? `${path}.${key}` : key));
  }
  return [[path, value]];
}
