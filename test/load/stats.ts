/**
 * Latency and outcome per operation: every attempt's time, and the answers that were not a success by
 * status. Percentiles are exact (every sample is kept: a load test makes at most a few hundred thousand).
 */
export class OperationStats {
  private readonly samples = new Map<string, number[]>();
  private readonly errors = new Map<string, Map<string, number>>();

  record(operation: string, ms: number): void {
    const list = this.samples.get(operation) ?? [];
    this.samples.set(operation, list);
    list.push(ms);
  }

  error(operation: string, what: string): void {
    const byWhat = this.errors.get(operation) ?? new Map<string, number>();
    this.errors.set(operation, byWhat);
    byWhat.set(what, (byWhat.get(what) ?? 0) + 1);
  }

  get total(): number {
    let n = 0;
    for (const list of this.samples.values()) n += list.length;
    return n;
  }

  get errorTotal(): number {
    let n = 0;
    for (const byWhat of this.errors.values()) for (const count of byWhat.values()) n += count;
    return n;
  }

  /** One row per operation (count, ops/s, p50, p99, errors), then the total. */
  table(seconds: number): string {
    const rows: string[][] = [['operation', 'count', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'errors']];
    const all: number[] = [];
    for (const [operation, list] of [...this.samples].sort(([a], [b]) => a.localeCompare(b))) {
      all.push(...list);
      rows.push(row(operation, list, seconds, describeErrors(this.errors.get(operation))));
    }
    rows.push(row('total', all, seconds, String(this.errorTotal)));
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
    return rows
      .map((r) =>
        r
          .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
          .join('  '),
      )
      .join('\n');
  }
}

function row(name: string, list: number[], seconds: number, errors: string): string[] {
  const sorted = [...list].sort((a, b) => a - b);
  return [
    name,
    String(list.length),
    (list.length / seconds).toFixed(1),
    percentile(sorted, 0.5).toFixed(1),
    percentile(sorted, 0.99).toFixed(1),
    (sorted.at(-1) ?? 0).toFixed(1),
    errors,
  ];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
}

function describeErrors(byWhat: Map<string, number> | undefined): string {
  if (!byWhat || byWhat.size === 0) return '0';
  return [...byWhat].map(([what, n]) => `${n} (${what})`).join(', ');
}
