import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of this process and of the DynamoDB Local process it started, for the sweep benchmark: on
 * one machine the engine's CPU is what both the sweep and the raw deletes run out of, so CPU per deleted
 * copy says where a gap in rates comes from. The engine's time is read from /proc (Linux; elsewhere
 * `engineMs` is undefined). Clock ticks are 100 per second on Linux.
 */
export interface CpuSample {
  wallMs: number;
  nodeMs: number;
  engineMs: number | undefined;
  /** The engine's CPU by thread kind (Linux), undefined elsewhere. */
  engineThreads: EngineThreads | undefined;
}

/**
 * DynamoDB Local's CPU by what its threads do. All of its SQLite work runs on one thread (sqlite4java's
 * SQLiteQueue), so that thread's busy share of the wall time is how close a run comes to the engine's
 * limit. The HTTP threads (Jetty's qtp pool) parse requests and write answers as JSON, the JIT compiler
 * threads compile the engine's Java the first times a kind of request runs, and the rest (GC, VM) is
 * `other`, which also holds whatever threads that exited between two samples had spent.
 */
export interface EngineThreads {
  sqliteMs: number;
  httpMs: number;
  jitMs: number;
  otherMs: number;
}

export function cpuSample(enginePid: number): CpuSample {
  const usage = process.cpuUsage();
  return {
    wallMs: performance.now(),
    nodeMs: (usage.user + usage.system) / 1000,
    engineMs: engineCpuMs(enginePid),
    engineThreads: engineThreadsMs(enginePid),
  };
}

/** What was spent between two samples. */
export function cpuSpent(from: CpuSample, to: CpuSample): CpuSample {
  const spent = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : b - a;
  const engineMs = spent(from.engineMs, to.engineMs);
  const threads = (kind: Exclude<keyof EngineThreads, 'otherMs'>) =>
    spent(from.engineThreads?.[kind], to.engineThreads?.[kind]);
  const [sqliteMs, httpMs, jitMs] = [threads('sqliteMs'), threads('httpMs'), threads('jitMs')];
  return {
    wallMs: to.wallMs - from.wallMs,
    nodeMs: to.nodeMs - from.nodeMs,
    engineMs,
    engineThreads:
      engineMs === undefined || sqliteMs === undefined || httpMs === undefined || jitMs === undefined
        ? undefined
        : { sqliteMs, httpMs, jitMs, otherMs: engineMs - sqliteMs - httpMs - jitMs },
  };
}

/** Fields after the command name of a /proc stat line: utime is the 12th, stime the 13th (proc(5)). */
function ticksOf(statLine: string): { name: string; ms: number } {
  const name = statLine.slice(statLine.indexOf('(') + 1, statLine.lastIndexOf(')'));
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  return { name, ms: (Number(fields[11]) + Number(fields[12])) * 10 };
}

function engineCpuMs(pid: number): number | undefined {
  try {
    const { ms } = ticksOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return Number.isFinite(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** The live threads' CPU, by kind; `otherMs` is left to cpuSpent (process total minus the kinds). */
function engineThreadsMs(pid: number): EngineThreads | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const threads: EngineThreads = { sqliteMs: 0, httpMs: 0, jitMs: 0, otherMs: 0 };
  for (const tid of tids) {
    let thread: { name: string; ms: number };
    try {
      thread = ticksOf(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
    } catch {
      continue; // exited since the listing
    }
    if (!Number.isFinite(thread.ms)) continue;
    if (thread.name.startsWith('SQLiteQueue')) threads.sqliteMs += thread.ms;
    else if (thread.name.startsWith('qtp')) threads.httpMs += thread.ms;
    else if (thread.name.includes('CompilerThre')) threads.jitMs += thread.ms;
  }
  return threads;
}
