import { readFileSync } from 'node:fs';

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
}

export function cpuSample(enginePid: number): CpuSample {
  const usage = process.cpuUsage();
  return {
    wallMs: performance.now(),
    nodeMs: (usage.user + usage.system) / 1000,
    engineMs: engineCpuMs(enginePid),
  };
}

/** What was spent between two samples. */
export function cpuSpent(from: CpuSample, to: CpuSample): CpuSample {
  return {
    wallMs: to.wallMs - from.wallMs,
    nodeMs: to.nodeMs - from.nodeMs,
    engineMs:
      from.engineMs === undefined || to.engineMs === undefined ? undefined : to.engineMs - from.engineMs,
  };
}

function engineCpuMs(pid: number): number | undefined {
  try {
    // Fields after the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}
