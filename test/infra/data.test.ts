import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_ATTRIBUTES, TABLE_INDEXES, TABLE_KEYS, TTL_ATTRIBUTE } from '../../functions/store/table.js';
import { onlyResource, synthesize } from './support/stack.js';

let template: Template;
let tableId: string;

beforeAll(() => {
  template = synthesize().template;
  tableId = onlyResource(template, 'AWS::DynamoDB::Table')[0];
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
    const [, table] = onlyResource(template, 'AWS::DynamoDB::Table');
    const definitions = table.Properties?.AttributeDefinitions as {
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

  it('is retained when the stack is deleted or the table replaced', () => {
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
  });

  it('outputs the table name', () => {
    template.hasOutput('TableName', { Value: { Ref: tableId } });
  });
});

describe('the idempotency key', () => {
  it('is a generated secret, kept when the stack goes, resolved into the send function only at deploy time', () => {
    const [secretId, secret] = onlyResource(template, 'AWS::SecretsManager::Secret');
    expect(secret.Properties?.GenerateSecretString).toMatchObject({
      PasswordLength: 64,
      ExcludePunctuation: true,
    });
    expect((secret as { DeletionPolicy?: string }).DeletionPolicy).toBe('Retain');
    const functions = template.findResources('AWS::Lambda::Function');
    const withKey = Object.entries(functions).filter(
      ([, fn]) => fn.Properties?.Environment?.Variables?.ROAMING_IDEMPOTENCY_KEY !== undefined,
    );
    expect(withKey).toHaveLength(1);
    const [, send] = withKey[0] as [string, { Properties: Record<string, unknown> }];
    expect(String(send.Properties.Description)).toMatch(/^sendMessage /);
    // A dynamic reference to the secret: the key itself is never in the template.
    expect(
      JSON.stringify(
        (send.Properties.Environment as { Variables: Record<string, unknown> }).Variables
          .ROAMING_IDEMPOTENCY_KEY,
      ),
    ).toMatch(
      new RegExp(
        `resolve:secretsmanager:.*${secretId}|${secretId}.*resolve:secretsmanager|"Ref":"${secretId}"`,
      ),
    );
  });
});
