/**
 * Each function's IAM permissions as a Markdown table, read from a synthesized template (not from the
 * route table the grants are made from): what docs/aws.md shows is what the stack grants. `npm run
 * docs:iam` writes it into docs/aws.md; test/infra/iam-table.test.ts fails when that copy is stale.
 */
type Resource = { Type: string; Properties?: Record<string, unknown> };
type Statement = {
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

export const IAM_TABLE_START = '<!-- iam-table:start (npm run docs:iam) -->';
export const IAM_TABLE_END = '<!-- iam-table:end -->';

export function iamTable(template: { Resources: Record<string, Resource> }): string {
  const resources = Object.entries(template.Resources);
  const tables = resources.filter(([, r]) => r.Type === 'AWS::DynamoDB::Table');
  const tableId = tables.find(([, r]) => r.Properties?.GlobalSecondaryIndexes !== undefined)?.[0];
  const auditId = tables.find(([id]) => id.startsWith('DataAuditTable'))?.[0];
  const rows: string[][] = [];
  for (const [, fn] of resources.filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
    const name = String(fn.Properties?.Description ?? '').split(' ')[0] ?? '';
    const roleId = (fn.Properties?.Role as { 'Fn::GetAtt'?: [string] } | undefined)?.['Fn::GetAtt']?.[0];
    const statements = resources
      .filter(([, r]) => r.Type === 'AWS::IAM::Policy')
      .filter(([, r]) =>
        ((r.Properties?.Roles ?? []) as { Ref?: string }[]).some((role) => role.Ref === roleId),
      )
      .flatMap(
        ([, r]) => (r.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? [],
      );
    const onTable = new Map<string, Set<string>>();
    const onIndexes = new Map<string, Set<string>>();
    const onAudit = new Set<string>();
    const other = new Map<string, Set<string>>();
    for (const statement of statements) {
      const actions = (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).map(String);
      const patterns = (statement.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] ?? [
        'any',
      ]) as string[];
      for (const resource of Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource]) {
        const json = JSON.stringify(resource);
        const index = /\/index\/(\w+)/.exec(json)?.[1];
        for (const action of actions) {
          const [service, verb] = action.split(':') as [string, string];
          if (service !== 'dynamodb') add(other, service, verb);
          else if (index && json.includes(`"${tableId}"`)) {
            add(onIndexes, `${index} (${patterns.map((p) => `\`${p}\``).join(', ')})`, verb);
          } else if (json === JSON.stringify({ 'Fn::GetAtt': [tableId, 'Arn'] })) {
            for (const pattern of patterns) add(onTable, pattern, verb);
          } else if (json === JSON.stringify({ 'Fn::GetAtt': [auditId, 'Arn'] })) onAudit.add(verb);
          else add(other, `dynamodb (${json})`, verb);
        }
      }
    }
    rows.push([
      `\`${name}\``,
      listOf(onTable, (pattern) => `\`${pattern}\``) || 'none',
      listOf(onIndexes, (index) => index) || '—',
      onAudit.size ? [...onAudit].sort().join(', ') : '—',
      listOf(other, (service) => service),
    ]);
  }
  rows.sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1));
  return [
    '| Function | Table: actions, by partition (`dynamodb:LeadingKeys`) | Indexes | Audit trail | Other |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

function add(map: Map<string, Set<string>>, key: string, value: string): void {
  map.set(key, (map.get(key) ?? new Set()).add(value));
}

function listOf(map: Map<string, Set<string>>, label: (key: string) => string): string {
  return [...map]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, values]) => `${label(key)}: ${[...values].sort().join(', ')}`)
    .join('<br>');
}

/** `document` with the section between the markers replaced by `table`. */
export function withIamTable(document: string, table: string): string {
  const start = document.indexOf(IAM_TABLE_START);
  const end = document.indexOf(IAM_TABLE_END);
  if (start === -1 || end < start) throw new Error('docs/aws.md has no IAM table markers');
  return `${document.slice(0, start + IAM_TABLE_START.length)}\n${table}\n${document.slice(end)}`;
}
