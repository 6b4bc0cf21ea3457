import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { BackupPlan, BackupPlanRule, BackupResource, BackupVault } from 'aws-cdk-lib/aws-backup';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  StreamViewType,
  Table,
} from 'aws-cdk-lib/aws-dynamodb';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import {
  type IndexDefinition,
  TABLE_INDEXES,
  TABLE_KEYS,
  TTL_ATTRIBUTE,
} from '../../functions/store/table.js';

/** On-demand throughput caps (request units per second) of the table and of each of its indexes. */
export interface ThroughputCaps {
  readonly maxReadRequestUnits: number;
  readonly maxWriteRequestUnits: number;
}

export interface BackupOptions {
  /**
   * How long the daily recovery points are kept.
   * @default 35
   */
  readonly deleteAfterDays?: number;
  /**
   * A vault in another account or region that each recovery point is copied to (that vault's access
   * policy must allow this account to copy into it: docs/runbooks/restore.md).
   * @default - no copy
   */
  readonly copy?: { readonly vaultArn: string; readonly deleteAfterDays: number };
}

export interface DataProps {
  /**
   * On-demand throughput caps of the table and each index: a runaway client or bug is throttled instead of
   * billed without bound. The alarms fire at 80% of them (constructs/alarms.ts).
   * @default - no caps
   */
  readonly throughputCaps?: ThroughputCaps;
  /**
   * The name of a table the functions use instead of the stack's own: a table restored from a backup or
   * a point in time (docs/runbooks/restore.md). The stack's own table stays in the stack, untouched.
   * @default - the stack's own table
   */
  readonly tableName?: string;
  /**
   * The AWS Backup plan of the table in use.
   * @default - daily, kept 35 days, no copy
   */
  readonly backup?: BackupOptions;
  /**
   * CloudWatch Contributor Insights on the table (its most accessed and most throttled keys).
   * @default false
   */
  readonly contributorInsights?: boolean;
}

/**
 * The single table, built from functions/store/table.ts (the definition the local bootstrap and the tests use):
 * on-demand with optional throughput caps, point-in-time recovery, deletion protection, TTL, kept when the
 * stack is deleted or the table replaced, and backed up daily by AWS Backup. With `tableName` the functions
 * use another (restored) table instead.
 */
export class Data extends Construct {
  /** The table the functions use: the stack's own, or the adopted one (`tableName`). */
  readonly table: ITable;
  /** The stack's own table (logical id pinned by test/infra/data.test.ts: a new id would be a new, empty table). */
  readonly ownTable: Table;
  /** The names of the table's global secondary indexes. */
  readonly indexNames: readonly string[];
  /**
   * The audit trail of admin actions (functions/store/audit-store.ts): a table of its own, so no grant on
   * the message table reaches it; only the admin functions may append (Query, PutItem) or read (Query),
   * none may update or delete. Point-in-time recovery, deletion protection, backed up with the table,
   * kept when the stack goes. Not replaced by `tableName` (a restore of the message table leaves it).
   */
  readonly auditTable: Table;
  readonly throughputCaps?: ThroughputCaps;
  /**
   * The stream (NEW_IMAGE) of the table the functions use: the stack's own table's; undefined with an
   * adopted table (`tableName`), whose stream the stack does not know.
   */
  readonly streamArn?: string;
  /**
   * The key of the idempotency records' HMAC (they must not let anyone confirm a message from its hash).
   * Kept when the stack is deleted: a new key would make a retry of an earlier send look different.
   */
  readonly idempotencyKey: Secret;
  readonly backupPlan: BackupPlan;
  readonly backupVault: BackupVault;
  /** The role AWS Backup backs the table up and restores it with. */
  readonly backupRole: Role;

  constructor(scope: Construct, id: string, props: DataProps = {}) {
    super(scope, id);
    this.throughputCaps = props.throughputCaps;
    this.indexNames = TABLE_INDEXES.map((index) => index.indexName);
    this.ownTable = new Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      ...props.throughputCaps,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      // The events' outbox items reach the pipes through it (constructs/events.ts); only the new image is
      // read. Turning a stream on is an in-place update of the table (no replacement, no data moved).
      stream: StreamViewType.NEW_IMAGE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      contributorInsightsSpecification: props.contributorInsights ? { enabled: true } : undefined,
      deletionProtection: true,
      // Kept on update and delete; a failed first create removes it (it holds nothing yet) instead of
      // orphaning it. Deletion protection may block that removal: docs/aws.md "A failed first deploy".
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    for (const index of TABLE_INDEXES) {
      this.ownTable.addGlobalSecondaryIndex({ ...indexProps(index), ...props.throughputCaps });
    }
    this.table = props.tableName
      ? Table.fromTableAttributes(this, 'AdoptedTable', {
          tableName: props.tableName,
          globalIndexes: [...this.indexNames],
        })
      : this.ownTable;
    this.streamArn = props.tableName ? undefined : this.ownTable.tableStreamArn;

    this.auditTable = new Table(this, 'AuditTable', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });

    this.idempotencyKey = new Secret(this, 'IdempotencyKey', {
      description: 'Roaming: HMAC key of the idempotency records of sends',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });

    // Recovery points independent of PITR's 35-day window, optionally copied out of the account or region.
    this.backupVault = new BackupVault(this, 'BackupVault', { removalPolicy: RemovalPolicy.RETAIN });
    this.backupPlan = new BackupPlan(this, 'BackupPlan', {
      backupPlanName: `${Stack.of(this).stackName}-table`,
      backupVault: this.backupVault,
    });
    const copy = props.backup?.copy;
    this.backupPlan.addRule(
      new BackupPlanRule({
        ruleName: 'Daily',
        scheduleExpression: Schedule.cron({ hour: '3', minute: '0' }),
        deleteAfter: Duration.days(props.backup?.deleteAfterDays ?? 35),
        copyActions: copy
          ? [
              {
                destinationBackupVault: BackupVault.fromBackupVaultArn(this, 'CopyVault', copy.vaultArn),
                deleteAfter: Duration.days(copy.deleteAfterDays),
              },
            ]
          : undefined,
      }),
    );
    this.backupRole = new Role(this, 'BackupRole', {
      assumedBy: new ServicePrincipal('backup.amazonaws.com'),
      description: 'AWS Backup: backs up and restores the Roaming table',
    });
    this.backupPlan.addSelection('Table', {
      resources: [
        BackupResource.fromArn(this.table.tableArn),
        BackupResource.fromArn(this.auditTable.tableArn),
      ],
      role: this.backupRole,
      allowRestores: true,
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
