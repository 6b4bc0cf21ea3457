import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AppSettings,
  appSettings,
  PLACEHOLDER_JWT_AUDIENCE,
  PLACEHOLDER_JWT_ISSUER,
} from '../../infra/context.js';
import { RoamingStack } from '../../infra/roaming-stack.js';
import { readStage, STAGES_DIR, stageNames } from '../../infra/stage.js';
import { cdkJsonContext } from './support/stack.js';

const none = () => undefined;
let dir: string;

/** The committed prod stage with its placeholders filled in (and `changes` applied), in a scratch stages folder. */
function writeProd(changes: Record<string, unknown> = {}): void {
  const prod = JSON.parse(readFileSync(join(STAGES_DIR, 'prod.json'), 'utf8')) as Record<string, unknown>;
  const filled = {
    ...prod,
    account: '210987654321',
    jwtIssuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_RealPool1',
    jwtAudience: ['real-app-client'],
    corsOrigins: ['https://app.example.org'],
    alarms: { ...(prod.alarms as object), emails: ['oncall@example.org'] },
    ...changes,
  };
  writeFileSync(join(dir, 'prod.json'), JSON.stringify(filled));
}

/** Builds the stack from settings the way infra/app.ts does, without bundling. */
function stackOf(settings: AppSettings): { app: App; stack: RoamingStack } {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new RoamingStack(app, settings.stackName, {
    ...settings.props,
    env: settings.env,
    terminationProtection: settings.terminationProtection,
    tags: settings.tags,
  });
  return { app, stack };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'roaming-stages-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the committed stages', () => {
  it('are dev and prod, and each file is valid', () => {
    expect(stageNames()).toEqual(['dev', 'prod']);
    for (const name of stageNames()) expect(() => readStage(name)).not.toThrow();
  });

  it('set no webhook and no pre-send hook (the bus alone gets the events); a hook is a stage setting', () => {
    for (const name of stageNames()) {
      expect(readStage(name).events, name).toEqual({
        webhookUrl: null,
        presendUrl: null,
        presendPolicy: 'open',
        presendTimeoutMs: 500,
        busName: null,
      });
    }
    const settings = appSettings(none, {});
    expect(settings.props.events).toEqual({
      webhookUrl: undefined,
      presendUrl: undefined,
      presendPolicy: 'open',
      presendTimeoutMs: 500,
      busName: undefined,
    });
    writeProd({
      events: {
        webhookUrl: 'https://hooks.example.org/roaming',
        presendUrl: 'https://hooks.example.org/presend',
        presendPolicy: 'closed',
        presendTimeoutMs: 800,
        busName: 'roaming-events',
      },
    });
    expect(appSettings((key) => (key === 'stage' ? 'prod' : undefined), {}, dir).props.events).toEqual({
      webhookUrl: 'https://hooks.example.org/roaming',
      presendUrl: 'https://hooks.example.org/presend',
      presendPolicy: 'closed',
      presendTimeoutMs: 800,
      busName: 'roaming-events',
    });
    writeProd({ events: { ...readStage('prod').events, presendTimeoutMs: 20_000 } });
    expect(() => appSettings((key) => (key === 'stage' ? 'prod' : undefined), {}, dir)).toThrow(
      /events.presendTimeoutMs/,
    );
  });

  it('dev is the default: its own region, the CLI account, placeholders (with a warning), no termination protection', () => {
    const settings = appSettings(none, { CDK_DEFAULT_ACCOUNT: '111122223333' });
    expect(settings.stage).toBe('dev');
    expect(settings.stackName).toBe('RoamingDev');
    expect(settings.env).toEqual({ account: '111122223333', region: 'eu-west-1' });
    expect(settings.terminationProtection).toBe(false);
    expect(settings.placeholders).toEqual(['jwtIssuer', 'jwtAudience']);
    expect(settings.props.jwtIssuer).toBe(PLACEHOLDER_JWT_ISSUER);
    expect(settings.props.jwtAudience).toEqual([PLACEHOLDER_JWT_AUDIENCE]);
    expect(settings.tags).toMatchObject({ project: 'roaming', stage: 'dev' });
    expect(settings.props.throughputCaps).toEqual({ maxReadRequestUnits: 1000, maxWriteRequestUnits: 500 });
  });

  it('synthesis of the committed prod stage fails and names every placeholder', () => {
    expect(() => appSettings((key) => (key === 'stage' ? 'prod' : undefined), {})).toThrow(
      /Stage prod .*not ready to deploy: .*account is a placeholder.*jwtIssuer is a placeholder.*jwtAudience\.0 is a placeholder.*alarms\.emails\.0 is a placeholder/,
    );
  });

  it('an unknown stage is refused with the list of stages', () => {
    expect(() => appSettings((key) => (key === 'stage' ? 'qa' : undefined), {})).toThrow(
      /No stage "qa": the stages are dev, prod/,
    );
  });
});

describe('a production stage', () => {
  const prod = (key: string) => (key === 'stage' ? 'prod' : undefined);

  it('without an issuer fails synthesis', () => {
    writeProd({ jwtIssuer: null });
    expect(() => appSettings(prod, {}, dir)).toThrow(/jwtIssuer is missing/);
  });

  it('without an audience, an account or an alarm destination fails synthesis', () => {
    writeProd({ jwtAudience: null });
    expect(() => appSettings(prod, {}, dir)).toThrow(/jwtAudience is missing/);
    writeProd({ account: null });
    expect(() => appSettings(prod, {}, dir)).toThrow(/account must be a 12-digit account id/);
    writeProd({ alarms: { emails: [], topicArn: null, slack: null, accountConcurrencyLimit: 1000 } });
    expect(() => appSettings(prod, {}, dir)).toThrow(/alarms needs a destination/);
  });

  it('may turn on the front door, which then deploys as its own stack settings', () => {
    writeProd({
      frontDoor: {
        apiDomain: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
        rateLimitPerIp: 2000,
        rateLimitPerToken: 1000,
        customDomain: null,
      },
    });
    expect(appSettings(prod, {}, dir).frontDoor).toEqual({
      apiDomain: 'abc123defg.execute-api.eu-west-1.amazonaws.com',
      rateLimitPerIp: 2000,
      rateLimitPerToken: 1000,
      customDomain: undefined,
    });
    writeProd();
    expect(appSettings(prod, {}, dir).frontDoor).toBeUndefined();
  });

  it('takes no -c overrides or issuer from the environment: its file is the only source', () => {
    writeProd();
    expect(() =>
      appSettings((key) => ({ stage: 'prod', jwtIssuer: 'https://other.example.org' })[key], {}, dir),
    ).toThrow(/Stage prod is production: set jwtIssuer in infra\/stages\/prod.json/);
    expect(() => appSettings(prod, { ROAMING_JWT_ISSUER: 'https://other.example.org' }, dir)).toThrow(
      /set jwtIssuer/,
    );
  });

  it('a non-production stage has no termination protection', () => {
    const settings = appSettings(none, {});
    expect(settings.terminationProtection).toBe(false);
    expect(stackOf(settings).stack.terminationProtection).toBe(false);
  });
});

describe('a filled-in production stage', () => {
  let settings: AppSettings;
  let template: Template;
  let artifact: { terminationProtection?: boolean; tags: Record<string, string> };

  beforeAll(() => {
    writeProd();
    settings = appSettings(
      (key) => (key === 'stage' ? 'prod' : undefined),
      { CDK_DEFAULT_ACCOUNT: '111122223333' },
      dir,
    );
    const { app, stack } = stackOf(settings);
    template = Template.fromStack(stack);
    artifact = app.synth().getStackArtifact(stack.artifactId);
  });

  it('deploys to its own account and region, whatever the CLI resolves', () => {
    expect(settings.env).toEqual({ account: '210987654321', region: 'eu-west-1' });
    expect(settings.placeholders).toEqual([]);
  });

  it('has termination protection on', () => {
    expect(artifact.terminationProtection).toBe(true);
  });

  it('tags the stack and every taggable resource with its tags', () => {
    expect(artifact.tags).toMatchObject({ project: 'roaming', stage: 'prod', owner: 'roaming-team' });
    for (const type of [
      'AWS::DynamoDB::Table',
      'AWS::Lambda::Function',
      'AWS::SNS::Topic',
      'AWS::SQS::Queue',
    ]) {
      template.allResourcesProperties(type, {
        Tags: Match.arrayWith([
          { Key: 'project', Value: 'roaming' },
          { Key: 'stage', Value: 'prod' },
        ]),
      });
    }
  });

  it('caps the table, rolls out by canary and subscribes its on-call email to the alarms', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      OnDemandThroughput: { MaxReadRequestUnits: 10000, MaxWriteRequestUnits: 4000 },
    });
    template.allResourcesProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.org',
    });
  });
});

describe('overrides of a non-production stage', () => {
  it('read -c strings: lists split on commas, numbers parsed', () => {
    const context: Record<string, string> = {
      stackName: 'RoamingMine',
      jwtIssuer: 'https://login.example.com/',
      jwtAudience: 'web, ios ,android',
      corsOrigins: 'https://app.example.com,https://admin.example.com',
      sweepSchedule: 'rate(30 minutes)',
      sweepReservedConcurrency: '3',
      logRetentionDays: '14',
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms',
      tableName: 'Roaming-restored',
      webhookUrl: 'https://hooks.example.com/roaming',
      presendUrl: 'https://hooks.example.com/presend',
    };
    const settings = appSettings((key) => context[key], {});
    expect(settings.placeholders).toEqual([]);
    expect(settings.stackName).toBe('RoamingMine');
    expect(settings.props).toMatchObject({
      jwtIssuer: 'https://login.example.com/',
      jwtAudience: ['web', 'ios', 'android'],
      api: { corsAllowedOrigins: ['https://app.example.com', 'https://admin.example.com'] },
      sweep: { schedule: 'rate(30 minutes)', reservedConcurrency: 3 },
      logRetention: 14,
      alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:alarms' },
      tableName: 'Roaming-restored',
      events: {
        webhookUrl: 'https://hooks.example.com/roaming',
        presendUrl: 'https://hooks.example.com/presend',
        presendPolicy: 'open',
        presendTimeoutMs: 500,
      },
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
