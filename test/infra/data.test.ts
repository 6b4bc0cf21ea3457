import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type RouteSpec } from '../../functions/routes.js';
import { KEY_ATTRIBUTES, TABLE_INDEXES, TABLE_KEYS, TTL_ATTRIBUTE } from '../../functions/store/table.js';
import {
  actionsOf,
  allStatements,
  auditTableId,
  messageTableId,
  onlyResource,
  resourcesOf,
  synthesize,
} from './support/stack.js';

let template: Template;
let tableId: string;

beforeAll(() => {
  template = synthesize().template;
  tableId = messageTableId(template);
});

describe('the table', () => {
  it('has the shared key schema, every key attribute a string', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    expect(TABLE_KEYS).toEqual({ partitionKey: 'pk', sortKey: 'sk' });
    const table = template.findResources('AWS::DynamoDB::Table')[tableId];
    const definitions = table?.Properties?.AttributeDefinitions as {
      AttributeName: string;
      AttributeType: string;
    }[];
    expect(definitions.map((d) => d.AttributeName).sort()).toEqual([...KEY_ATTRIBUTES].sort());
    expect(new Set(definitions.map((d) => d.AttributeType))).toEqual(new Set(['S']));
  });

  it('has the three indexes of functions/store/table.ts with their keys and projections', () => {
    expect(TABLE_INDEXES.map((index) => index.indexName)).toEqual(['byLatest', 'byPinned', 'byPurge']);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byLatest',
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'listSk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'byPinned',
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'pinSk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'byPurge',
          KeySchema: [
            { AttributeName: 'purgeShard', KeyType: 'HASH' },
            { AttributeName: 'purgeSk', KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: ['owner', 'convId', 'chatType', 'clearedThrough'],
          },
        },
      ],
    });
  });

  it('expires items by the TTL attribute', () => {
    expect(TTL_ATTRIBUTE).toBe('expiresAt');
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('is on-demand with point-in-time recovery and deletion protection', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      ProvisionedThroughput: Match.absent(),
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
  });

  it('is retained when the stack is deleted or the table replaced, removed only if its first create fails', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('keeps its logical id: a renamed construct would make CloudFormation create a new, empty table', () => {
    // If this fails, the stack would replace the table: do not update the id here, restore the construct path.
    expect(tableId).toBe('DataTableFDBAD0F2');
  });

  it('has no throughput caps and no Contributor Insights unless asked', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      OnDemandThroughput: Match.absent(),
      ContributorInsightsSpecification: Match.absent(),
    });
  });

  it('outputs the table name', () => {
    template.hasOutput('TableName', { Value: { Ref: tableId } });
  });
});

describe('the idempotency key', () => {
  it('is a generated secret, kept when the stack goes, resolved at deploy time into exactly the functions that keep retry records', () => {
    const [secretId, secret] = onlyResource(template, 'AWS::SecretsManager::Secret');
    expect(secret.Properties?.GenerateSecretString).toMatchObject({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
    expect((secret as { DeletionPolicy?: string }).DeletionPolicy).toBe('RetainExceptOnCreate');
    const functions = template.findResources('AWS::Lambda::Function');
    const withKey = Object.entries(functions).filter(
      ([, fn]) => fn.Properties?.Environment?.Variables?.ROAMING_IDEMPOTENCY_KEY !== undefined,
    );
    const keepers = (ROUTES as readonly RouteSpec[]).filter((route) => route.keepsRetryRecords);
    expect(keepers.map((route) => route.name).sort()).toEqual(['createGroup', 'sendMessage']);
    expect(withKey.map(([, fn]) => String(fn.Properties?.Description).split(' ')[0]).sort()).toEqual(
      keepers.map((route) => route.name).sort(),
    );
    for (const [, fn] of withKey) {
      // A dynamic reference to the secret: the key itself is never in the template.
      expect(JSON.stringify(fn.Properties?.Environment?.Variables?.ROAMING_IDEMPOTENCY_KEY)).toMatch(
        new RegExp(
          `resolve:secretsmanager:.*${secretId}|${secretId}.*resolve:secretsmanager|"Ref":"${secretId}"`,
        ),
      );
    }
  });
});

describe('the backup plan', () => {
  it('backs the table up daily into a retained vault and keeps each recovery point 35 days', () => {
    const [vaultId] = onlyResource(template, 'AWS::Backup::BackupVault');
    template.hasResource('AWS::Backup::BackupVault', { DeletionPolicy: 'Retain' });
    template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanName: 'RoamingTest-table',
        BackupPlanRule: [
          {
            RuleName: 'Daily',
            ScheduleExpression: 'cron(0 3 * * ? *)',
            Lifecycle: { DeleteAfterDays: 35 },
            TargetBackupVault: { 'Fn::GetAtt': [vaultId, 'BackupVaultName'] },
            CopyActions: Match.absent(),
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: {
        Resources: [{ 'Fn::GetAtt': [tableId, 'Arn'] }, { 'Fn::GetAtt': [auditTableId(template), 'Arn'] }],
      },
    });
  });
});

describe('the audit trail table', () => {
  it('is a table of its own: the shared keys, no index, no TTL, on demand, PITR, deletion protection, retained', () => {
    const id = auditTableId(template);
    expect(id).not.toBe(tableId);
    const table = template.findResources('AWS::DynamoDB::Table')[id] as {
      Properties: Record<string, unknown>;
      DeletionPolicy?: string;
      UpdateReplacePolicy?: string;
    };
    expect(table.Properties).toEqual({
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
    });
    expect([table.DeletionPolicy, table.UpdateReplacePolicy]).toEqual(['RetainExceptOnCreate', 'Retain']);
    // Its logical id is pinned like the table's: a new id would be a new, empty trail.
    expect(id).toBe('DataAuditTableD7A94F1A');
  });

  it("stays the stack's own when the functions adopt a restored message table", () => {
    const adopted = synthesize({ props: { tableName: 'Roaming-restored-20261205' } }).template;
    expect(() => auditTableId(adopted)).not.toThrow();
  });

  it('outputs its name', () => {
    template.hasOutput('AuditTableName', { Value: { Ref: auditTableId(template) } });
  });
});

describe('the data with options', () => {
  const copyVault = 'arn:aws:backup:eu-central-1:999999999999:backup-vault:roaming-copies';
  let custom: Template;

  beforeAll(() => {
    custom = synthesize({
      props: {
        throughputCaps: { maxReadRequestUnits: 3000, maxWriteRequestUnits: 1200 },
        contributorInsights: true,
        backup: { deleteAfterDays: 90, copy: { vaultArn: copyVault, deleteAfterDays: 365 } },
      },
    }).template;
  });

  it('caps on-demand throughput of the table and of every index', () => {
    const caps = { MaxReadRequestUnits: 3000, MaxWriteRequestUnits: 1200 };
    custom.hasResourceProperties('AWS::DynamoDB::Table', {
      OnDemandThroughput: caps,
      GlobalSecondaryIndexes: TABLE_INDEXES.map((index) =>
        Match.objectLike({ IndexName: index.indexName, OnDemandThroughput: caps }),
      ),
    });
  });

  it('turns on Contributor Insights (hot keys)', () => {
    custom.hasResourceProperties('AWS::DynamoDB::Table', {
      ContributorInsightsSpecification: { Enabled: true },
    });
  });

  it('copies each recovery point to the other vault and keeps both as configured', () => {
    custom.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanRule: [
          Match.objectLike({
            Lifecycle: { DeleteAfterDays: 90 },
            CopyActions: [{ DestinationBackupVaultArn: copyVault, Lifecycle: { DeleteAfterDays: 365 } }],
          }),
        ],
      },
    });
  });
});

describe('a stack pointed at a restored table', () => {
  let adopted: Template;

  beforeAll(() => {
    adopted = synthesize({ props: { tableName: 'Roaming-restored-20261205' } }).template;
  });

  it('keeps its own table, with the same logical id, untouched', () => {
    expect(messageTableId(adopted)).toBe('DataTableFDBAD0F2');
  });

  it('gives every function the restored table and grants on it and its indexes by name', () => {
    const functions = Object.values(adopted.findResources('AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThan(2);
    for (const fn of functions) {
      expect(fn.Properties?.Environment?.Variables?.TABLE_NAME).toBe('Roaming-restored-20261205');
    }
    const tableArn = 'arn:aws:dynamodb:eu-west-1:123456789012:table/Roaming-restored-20261205';
    const statements = allStatements(adopted);
    const on = (resource: string) =>
      statements.filter((statement) => resourcesOf(statement).includes(resource)).flatMap(actionsOf);
    expect(on(tableArn)).toContain('dynamodb:PutItem');
    for (const index of TABLE_INDEXES) {
      expect(on(`${tableArn}/index/${index.indexName}`), index.indexName).toContain('dynamodb:Query');
    }
    adopted.hasOutput('TableName', { Value: 'Roaming-restored-20261205' });
  });

  it('backs up the restored table (and the audit trail, which a restore leaves as it is)', () => {
    adopted.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: {
        Resources: [
          'arn:aws:dynamodb:eu-west-1:123456789012:table/Roaming-restored-20261205',
          { 'Fn::GetAtt': [auditTableId(adopted), 'Arn'] },
        ],
      },
    });
  });
});
