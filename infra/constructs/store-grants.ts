import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  AUDIT_ACTIONS,
  INDEX_PARTITIONS,
  type ItemAction,
  PARTITIONS,
  type Partition,
  type StoreAccess,
} from '../../functions/store-access.js';

/**
 * A function's DynamoDB grants, made from what its route table entry declares (functions/store-access.ts):
 * - on the table, each action only on the partitions declared for it, by a `dynamodb:LeadingKeys`
 *   condition (ForAllValues: every item a request names must be in them). An action's partitions are in
 *   one statement, so a batch or a transaction naming items of several of them is allowed as a whole;
 * - on each index it queries, Query only, on that index's partitions;
 * - on the audit trail's table, the construct's own grant of Query (and PutItem to append): no update,
 *   no delete, for anyone.
 * The table's own grants (grantReadData, grantWriteData) cannot carry a condition, so the table
 * statements are made here.
 */
export function grantStore(
  grantee: IGrantable,
  tables: { table: ITable; auditTable: ITable },
  access: StoreAccess,
): void {
  for (const statement of tableStatements(tables.table.tableArn, access)) {
    grantee.grantPrincipal.addToPrincipalPolicy(statement);
  }
  if (access.audit) {
    tables.auditTable.grant(grantee, ...AUDIT_ACTIONS[access.audit].map((action) => `dynamodb:${action}`));
  }
}

export function tableStatements(tableArn: string, access: StoreAccess): PolicyStatement[] {
  const partitionsByAction = new Map<ItemAction, string[]>();
  for (const [partition, actions] of Object.entries(access.table) as [Partition, readonly ItemAction[]][]) {
    for (const action of actions) {
      partitionsByAction.set(action, [...(partitionsByAction.get(action) ?? []), PARTITIONS[partition]]);
    }
  }
  // Actions allowed on the same partitions share a statement.
  const actionsByPartitions = new Map<string, ItemAction[]>();
  for (const [action, partitions] of partitionsByAction) {
    const key = JSON.stringify([...new Set(partitions)].sort());
    actionsByPartitions.set(key, [...(actionsByPartitions.get(key) ?? []), action]);
  }
  const statements = [...actionsByPartitions]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(
      ([key, actions]) =>
        new PolicyStatement({
          actions: actions.sort().map((action) => `dynamodb:${action}`),
          resources: [tableArn],
          conditions: leadingKeys(JSON.parse(key) as string[]),
        }),
    );
  const indexesByPartition = new Map<string, string[]>();
  for (const index of access.indexes ?? []) {
    const partition = INDEX_PARTITIONS[index];
    indexesByPartition.set(partition, [...(indexesByPartition.get(partition) ?? []), index]);
  }
  // A Scan names no partition, so LeadingKeys cannot limit it: granted on the table alone, to the one
  // function that declares it (the erasure's).
  if (access.scan) {
    statements.push(new PolicyStatement({ actions: ['dynamodb:Scan'], resources: [tableArn] }));
  }
  for (const [partition, indexes] of indexesByPartition) {
    statements.push(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: indexes.map((index) => `${tableArn}/index/${index}`),
        conditions: leadingKeys([partition]),
      }),
    );
  }
  return statements;
}

function leadingKeys(patterns: readonly string[]) {
  return { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...patterns] } };
}
