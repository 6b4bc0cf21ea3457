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
  const engineMs = engineCpuMs(enginePid);
  const live = liveThreadsMs(enginePid);
  return {
    wallMs: performance.now(),
    nodeMs: (usage.user + usage.system) / 1000,
    engineMs,
    engineThreads:
      engineMs === undefined || live === undefined
        ? undefined
        : { ...live, otherMs: engineMs - live.sqliteMs - live.httpMs - live.jitMs },
  };
}

/**
 * Applies `combine` to the samples field by field (a field is undefined where any sample lacks it): the
 * difference of two samples, the sum of phases, a phase per item.
 */
function combineCpu(samples: readonly CpuSample[], combine: (values: number[]) => number): CpuSample {
  const field = (read: (sample: CpuSample) => number | undefined) => {
    const values = samples.map(read);
    return values.every((value) => value !== undefined) ? combine(values as number[]) : undefined;
  };
  const thread = (kind: keyof EngineThreads) => field((sample) => sample.engineThreads?.[kind]);
  const [sqliteMs, httpMs, jitMs, otherMs] = [
    thread('sqliteMs'),
    thread('httpMs'),
    thread('jitMs'),
    thread('otherMs'),
  ];
  return {
    wallMs: combine(samples.map((sample) => sample.wallMs)),
    nodeMs: combine(samples.map((sample) => sample.nodeMs)),
    engineMs: field((sample) => sample.engineMs),
    engineThreads:
      sqliteMs === undefined || httpMs === undefined || jitMs === undefined || otherMs === undefined
        ? undefined
        : { sqliteMs, httpMs, jitMs, otherMs },
  };
}

/** What was spent between two samples. */
export function cpuSpent(from: CpuSample, to: CpuSample): CpuSample {
  return combineCpu([from, to], ([before, after]) => (after as number) - (before as number));
}

/** The CPU of several phases, as one. */
export function sumCpu(phases: readonly CpuSample[]): CpuSample {
  return combineCpu(phases, (values) => values.reduce((a, b) => a + b, 0));
}

/** A phase's CPU per item it handled. */
export function perItem(spent: CpuSample, items: number): CpuSample {
  return combineCpu([spent], ([value]) => (value as number) / Math.max(items, 1));
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

/** The live threads' CPU, by kind (the rest of the process total is `otherMs`). */
function liveThreadsMs(pid: number): Omit<EngineThreads, 'otherMs'> | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const threads = { sqliteMs: 0, httpMs: 0, jitMs: 0 };
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
