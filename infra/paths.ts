import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json and package-lock.json live), found from this file, not the cwd. */
export const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The lockfile NodejsFunction uses to find the project root and the installed dependencies. */
export const LOCK_FILE = join(PROJECT_ROOT, 'package-lock.json');

/** The Lambda entry of a route or job: `functions/lambda/{name}.ts`, exporting `handler`. */
export function lambdaEntry(name: string): string {
  return join(PROJECT_ROOT, 'functions', 'lambda', `${name}.ts`);
}
