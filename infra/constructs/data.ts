import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  type IndexDefinition,
  TABLE_INDEXES,
  TABLE_KEYS,
  TTL_ATTRIBUTE,
} from '../../functions/store/table.js';

/**
 * The single table, built from functions/store/table.ts (the definition the local bootstrap and the tests use):
 * on-demand, point-in-time recovery, deletion protection, TTL, and kept when the stack is deleted.
 */
export class Data extends Construct {
  readonly table: Table;
  /**
   * The key of the idempotency records' HMAC (they must not let anyone confirm a message from its hash).
   * Kept when the stack is deleted: a new key would make a retry of an earlier send look different.
   */
  readonly idempotencyKey: Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of TABLE_INDEXES) this.table.addGlobalSecondaryIndex(indexProps(index));
    this.idempotencyKey = new Secret(this, 'IdempotencyKey', {
      description: 'Roaming: HMAC key of the idempotency records of sends',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

function indexProps(index: IndexDefinition) {
  const keys = {
    indexName: index.indexName,
    partitionKey: { name: index.partitionKey, type: AttributeType.STRING },
    sortKey: { name: index.sortKey, type: AttributeType.STRING },
  };
  return index.projection === 'ALL'
    ? { ...keys, projectionType: ProjectionType.ALL }
    : { ...keys, projectionType: ProjectionType.INCLUDE, nonKeyAttributes: [...index.projection] };
}
