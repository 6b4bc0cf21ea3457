import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withIamTable } from '../../infra/iam-table.js';
import { synthesizedIamTable } from '../../infra/iam-table-cli.js';
import { PROJECT_ROOT } from '../../infra/paths.js';

describe("docs/aws.md's table of each function's IAM permissions", () => {
  it('is the one read from the synthesized template (npm run docs:iam rewrites it)', () => {
    const doc = readFileSync(join(PROJECT_ROOT, 'docs', 'aws.md'), 'utf8');
    const table = synthesizedIamTable();
    expect(withIamTable(doc, table)).toBe(doc);
    // Read from the template: a read route's row has read actions only, on its partitions, and the
    // UpdateItem of its caller's request budget.
    expect(table).toContain(
      '| `fetchHistory` | `B#*`: UpdateItem<br>`G#*`: Query<br>`POLICY`: BatchGetItem<br>`U#*`: GetItem, Query | — | — | logs: CreateLogStream, PutLogEvents |',
    );
    expect(table).toContain('| `listAudit` | `B#*`: UpdateItem | — | Query |');
  });
});
