/** Order statistics for the benchmarks' repeated measurements. */
export interface Spread {
  median: number;
  /** 25th and 75th percentiles: half of the runs fall between them. */
  p25: number;
  p75: number;
  min: number;
  max: number;
  runs: number;
}

export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('no values');
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    runs: sorted.length,
  };
}

/** Linear interpolation between the closest ranks. */
function quantile(sorted: readonly number[], q: number): number {
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] as number;
  const high = sorted[above] as number;
  return low + (high - low) * (position - below);
}

/** `median (p25–p75)` with the given decimals. */
export function formatSpread(spread: Spread, digits = 2, unit = ''): string {
  const f = (n: number) => n.toFixed(digits);
  return `${f(spread.median)}${unit} (${f(spread.p25)}–${f(spread.p75)})`;
}

/** Rounds every number of a figures object for the JSON file (3 significant decimals are plenty). */
export function rounded<T>(value: T, digits = 3): T {
  return JSON.parse(
    JSON.stringify(value, (_key, v) =>
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toFixed(digits)) : v,
    ),
  ) as T;
}
