/** Outcome of one run of a scheduled job, kept for /metrics and logs. */
export interface JobRun {
  name: string;
  startedAtMs: number;
  durationMs: number;
  outcome: 'success' | 'failure' | 'skipped';
  error?: string;
}

interface Logger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Runs a scheduled job: records its duration and outcome, never lets an exception escape (a failed
 * cycle must not kill the process), and skips a run while the previous one is still going.
 */
export function createJobRunner(
  name: string,
  job: () => Promise<void>,
  log: Logger,
  clock: () => number = Date.now,
) {
  let running: Promise<JobRun> | undefined;
  let last: JobRun | undefined;
  let runs = 0;
  let failures = 0;
  return {
    get last(): JobRun | undefined {
      return last;
    },
    get counts(): { runs: number; failures: number } {
      return { runs, failures };
    },
    run(): Promise<JobRun> {
      if (running !== undefined) {
        return Promise.resolve({ name, startedAtMs: clock(), durationMs: 0, outcome: 'skipped' as const });
      }
      const startedAtMs = clock();
      const started = performance.now();
      running = job().then(
        () => ({ name, startedAtMs, durationMs: performance.now() - started, outcome: 'success' as const }),
        (error: unknown) => ({
          name,
          startedAtMs,
          durationMs: performance.now() - started,
          outcome: 'failure' as const,
          error: error instanceof Error ? error.message : String(error),
        }),
      );
      return running.then((run) => {
        running = undefined;
        last = run;
        runs++;
        if (run.outcome === 'failure') {
          failures++;
          log.error({ job: name, durationMs: Math.round(run.durationMs), err: run.error }, `${name} failed`);
        }
        return run;
      });
    },
    /** Waits for a run in progress, if any. */
    async idle(): Promise<void> {
      await running;
    },
  };
}
