import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * DynamoDB Local's jar listens on every interface and has no option to change that. With a JDK, a tiny
 * launcher of our own (java/LoopbackDynamoDbLocal.java) runs it on 127.0.0.1 only: compiled once with
 * `javac` into node_modules/.cache (keyed by the source and the jar), reused after. Without `javac` there
 * is none, and DynamoDB Local listens everywhere; its data still answers only to our access key
 * (local-secrets.ts).
 */
export const LAUNCHER_CLASS = 'LoopbackDynamoDbLocal';

const SOURCE = fileURLToPath(new URL('./java/LoopbackDynamoDbLocal.java', import.meta.url));
const CACHE = join(dirname(SOURCE), '..', '..', 'node_modules', '.cache', 'roaming-loopback-launcher');

/** The class folder holding the compiled launcher for `jarPath`, or undefined without a JDK. */
export function loopbackLauncher(jarPath: string): string | undefined {
  const version = createHash('sha256')
    .update(readFileSync(SOURCE))
    .update(jarPath)
    .digest('hex')
    .slice(0, 16);
  const classes = join(CACHE, version);
  if (existsSync(join(classes, `${LAUNCHER_CLASS}.class`))) return classes;
  if (spawnSync('javac', ['-version'], { stdio: 'ignore' }).status !== 0) return undefined;
  // Compiled into a folder of its own, then renamed into place: two processes starting at once both end well.
  const building = `${classes}.${process.pid}`;
  mkdirSync(building, { recursive: true });
  const compiled = spawnSync('javac', ['-nowarn', '-cp', jarPath, '-d', building, SOURCE], {
    encoding: 'utf8',
  });
  if (compiled.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    return undefined;
  }
  try {
    renameSync(building, classes);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return existsSync(join(classes, `${LAUNCHER_CLASS}.class`)) ? classes : undefined;
}
