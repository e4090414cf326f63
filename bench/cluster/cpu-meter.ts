import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface CpuSnapshot {
  at: number;
  /** CPU seconds by process group name. */
  groups: Map<string, number>;
  /** Seconds the group's main threads were ready to run but waited for a CPU (the scheduler's run queue). */
  waits: Map<string, number>;
  /** The whole machine's busy and total CPU seconds (every core, from /proc/stat). */
  machineBusy: number;
  machineTotal: number;
}

export interface CpuUsage {
  seconds: number;
  /** CPU seconds of each group over the window. */
  groups: Map<string, number>;
  /** Run-queue seconds of each group's main threads over the window: how long they were kept from a CPU. */
  waits: Map<string, number>;
  /** Share of the machine's cores that were busy, 0 to 1. */
  machineBusy: number;
}

/** CPU seconds (user + system) a process has used; 0 once it is gone. */
function processSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The processes named `postgres` (the server and its backends, whoever started them). */
/** Seconds the process's main thread waited in the run queue (/proc/<pid>/schedstat); 0 once it is gone. */
function runQueueSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return 0;
  }
}

function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

function machineSeconds(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const total = cpu.reduce((sum, ticks) => sum + ticks, 0);
  // idle and iowait
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

/**
 * Where the CPU goes during a benchmark's window, from /proc: the processes of each named group
 * (Pombo's nodes, the load generator, the benchmark's own process), PostgreSQL's processes (all of
 * them: another user's queries would count too), and the machine as a whole.
 */
export class CpuMeter {
  constructor(private readonly groups: () => Record<string, number[]>) {}

  snapshot(): CpuSnapshot {
    const groups = new Map<string, number>();
    const waits = new Map<string, number>();
    for (const [name, pids] of Object.entries({ ...this.groups(), postgresql: postgresPids() })) {
      groups.set(name, pids.reduce((sum, pid) => sum + processSeconds(pid), 0));
      waits.set(name, pids.reduce((sum, pid) => sum + runQueueSeconds(pid), 0));
    }
    const { busy, total } = machineSeconds();
    return { at: performance.now(), groups, waits, machineBusy: busy, machineTotal: total };
  }

  static between(from: CpuSnapshot, to: CpuSnapshot): CpuUsage {
    const since = (later: Map<string, number>, earlier: Map<string, number>) =>
      new Map([...later].map(([name, seconds]) => [name, Math.max(0, seconds - (earlier.get(name) ?? 0))]));
    const total = to.machineTotal - from.machineTotal;
    return { seconds: (to.at - from.at) / 1000, groups: since(to.groups, from.groups), waits: since(to.waits, from.waits), machineBusy: total > 0 ? (to.machineBusy - from.machineBusy) / total : 0 };
  }
}
