import type { MetricsRegistry } from '../metrics/index.ts';

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
  metrics?: MetricsRegistry,
  /** Called after every completed run (not skipped ones), e.g. to tell pages a cycle finished. */
  onRun?: (run: JobRun) => void,
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
        const labels = { job: name };
        metrics?.increment('headroom_job_runs_total', 'Scheduled job runs by outcome.', {
          ...labels,
          outcome: run.outcome,
        });
        metrics?.observe(
          'headroom_job_duration_seconds',
          'Time scheduled job runs took.',
          run.durationMs / 1000,
          labels,
        );
        metrics?.setGauge(
          'headroom_job_last_run_timestamp_seconds',
          'When the last run of a job started.',
          run.startedAtMs / 1000,
          labels,
        );
        metrics?.setGauge(
          'headroom_job_last_success',
          '1 when the last run of a job succeeded, 0 when it failed.',
          run.outcome === 'success' ? 1 : 0,
          labels,
        );
        if (run.outcome === 'failure') {
          failures++;
          log.error({ job: name, durationMs: Math.round(run.durationMs), err: run.error }, `${name} failed`);
        }
        onRun?.(run);
        return run;
      });
    },
    /** Waits for a run in progress, if any. */
    async idle(): Promise<void> {
      await running;
    },
  };
}
