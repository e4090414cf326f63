/**
 * CPU profiles of chosen phases of a benchmark, on the main thread, through `node:inspector` (the
 * phases are parts of one process, where `--cpu-prof` would profile the whole run, baseline included).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export interface PhaseProfile {
  /** Stops the profile and writes it (nothing when profiling is off). */
  stop(): Promise<void>;
}

export interface PhaseProfiler {
  start(phase: string): Promise<PhaseProfile>;
}

/** Sampling every 200 µs: fine enough for per-event costs of a few µs over 20,000 events. */
const SAMPLING_INTERVAL_US = 200;

const OFF: PhaseProfile = { stop: async () => undefined };

/** Profiles into `dir` as `<phase>-<n>.cpuprofile` (n counts the phase's runs from 1); without `dir`, does nothing. */
export function phaseProfiler(dir: string | undefined): PhaseProfiler {
  if (!dir) return { start: async () => OFF };
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  const runs = new Map<string, number>();
  let ready: Promise<unknown> | undefined;
  return {
    async start(phase) {
      ready ??= session.post('Profiler.enable').then(() => session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US }));
      await ready;
      const run = (runs.get(phase) ?? 0) + 1;
      runs.set(phase, run);
      await session.post('Profiler.start');
      return {
        async stop() {
          const { profile } = await session.post('Profiler.stop');
          const file = join(dir, `${phase}-${run}.cpuprofile`);
          writeFileSync(file, JSON.stringify(profile));
          console.log(`  profile: ${file}`);
        },
      };
    },
  };
}
