import { CONFIG_ENV, type RoamingConfig } from '../functions/domain/deps.js';

export type Tuning = Partial<RoamingConfig>;

/**
 * The environment that carries `tuning` to every function: the variable names are the runtime's own
 * (CONFIG_ENV, read by functions/runtime.ts configFromEnv); keys left out keep the runtime's defaults.
 */
export function tuningEnvironment(tuning: Tuning = {}): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [key, name] of Object.entries(CONFIG_ENV) as [keyof RoamingConfig, string][]) {
    const value = tuning[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`tuning.${key} must be a non-negative number, got ${value}`);
    }
    environment[name] = String(value);
  }
  return environment;
}
