/**
 * Carrying advice to gateways. After each cycle {@link Pusher.onAdvice} decides, per target, whether
 * to push (pure: push-plan.ts) and enqueues the pushes as detached jobs, one lane per target, each
 * through the one retry wrapper; it returns at once, so a dead gateway never lengthens a cycle nor
 * holds up another target. A timer re-enables keys when their `until` passes, whether or not a cycle
 * runs or changes its advice in the meantime.
 */
import { createDeliveryQueue, deliverWithRetry, type RetryPolicy } from '../delivery/index.ts';
import type { PushRow, PushStore } from '../store/index.ts';
import type { Advice } from './index.ts';
import { decidePush, nextReenableAtMs, type PushDecision, type TargetPushState } from './push-plan.ts';
import type { PushTarget } from './targets/index.ts';

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A target's last finished push, for `GET /v1/pools`. */
export interface PushStatus {
  pool: string;
  target: string;
  type: string;
  inFlight: boolean;
  last: PushRow | undefined;
}

export interface Pusher {
  /** Loads each target's last push from the store (after a restart the status is not blank). */
  restore(): Promise<void>;
  /** Decides and enqueues the pushes the latest advice calls for; never waits for them. */
  onAdvice(advice: ReadonlyMap<string, Advice>, nowMs: number): void;
  status(): PushStatus[];
  /** Jobs running or waiting. */
  readonly pending: number;
  /** Stops the re-enable timer, waits up to `drainMillis` for pushes in flight, then abandons the rest. */
  close(drainMillis: number): Promise<void>;
}

const MAX_TIMER_MILLIS = 3_600_000;

interface TargetEntry {
  target: PushTarget;
  policy: Partial<RetryPolicy>;
  /** What was decided and how the last push ended; `inFlight` is derived from the two flags below. */
  state: TargetPushState;
  running: boolean;
  /** A newer push waits for the running one (the queue keeps only the latest). */
  waiting: boolean;
  last: PushRow | undefined;
}

export function createPusher(options: {
  /** Each target with its retry policy (the deadline comes from its configuration). */
  targets: ReadonlyArray<{ target: PushTarget; policy?: Partial<RetryPolicy> }>;
  store: PushStore;
  log: Logger;
  clock?: () => number;
}): Pusher {
  const { store, log } = options;
  const clock = options.clock ?? Date.now;
  const entries = options.targets.map(({ target, policy }): TargetEntry => ({
    target,
    policy: policy ?? {},
    state: { decided: undefined, lastOutcome: undefined, inFlight: false },
    running: false,
    waiting: false,
    last: undefined,
  }));
  const laneOf = (target: PushTarget): string => `${target.pool}\u0000${target.name}`;
  const queue = createDeliveryQueue((lane, error) =>
    log.error({ lane, err: error instanceof Error ? error.message : String(error) }, 'push job failed'),
  );
  const shutdown = new AbortController();
  let latest: ReadonlyMap<string, Advice> = new Map();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  // Shutdown cuts a backoff short; the next attempt then sees the aborted signal and fails.
  const sleepUntilShutdown = (millis: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        shutdown.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, millis);
      shutdown.signal.addEventListener('abort', done);
    });

  const run = async (entry: TargetEntry, decision: PushDecision): Promise<void> => {
    const { target } = entry;
    const result = await deliverWithRetry(() => target.push(decision.advice, shutdown.signal), entry.policy, {
      sleep: sleepUntilShutdown,
    });
    const row: PushRow = {
      at: clock(),
      pool: target.pool,
      target: target.name,
      target_type: target.type,
      advice_version: decision.advice.version,
      trigger: decision.trigger,
      outcome: result.kind,
      error: result.kind === 'success' ? '' : result.error.message,
      attempts: result.attempts,
      duration_ms: Math.round(result.elapsedMillis),
    };
    entry.last = row;
    entry.state.lastOutcome = result.kind;
    const fields = {
      pool: target.pool,
      target: target.name,
      version: row.advice_version,
      attempts: row.attempts,
    };
    if (result.kind === 'success') log.info({ ...fields, applied: result.value.summary }, 'advice pushed');
    else log.warn({ ...fields, outcome: result.kind, err: row.error }, 'advice push failed');
    try {
      await store.writePushes([row]);
    } catch (error) {
      log.error({ ...fields, err: (error as Error).message }, 'could not record a push');
    }
  };

  const evaluate = (nowMs: number): void => {
    if (closed) return;
    for (const entry of entries) {
      const advice = latest.get(entry.target.pool);
      if (advice === undefined) continue;
      entry.state.inFlight = entry.running || entry.waiting;
      const decision = decidePush(entry.state, advice, nowMs);
      if (decision === undefined) continue;
      entry.state.decided = decision.identity;
      if (entry.running) entry.waiting = true;
      else entry.running = true;
      queue.enqueue(laneOf(entry.target), async () => {
        entry.waiting = false;
        entry.running = true;
        try {
          await run(entry, decision);
        } finally {
          entry.running = false;
        }
      });
    }
    scheduleReenable(nowMs);
  };

  const scheduleReenable = (nowMs: number): void => {
    clearTimeout(timer);
    timer = undefined;
    let next: number | undefined;
    for (const advice of latest.values()) {
      const at = nextReenableAtMs(advice, nowMs);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    if (next === undefined) return;
    // Capped: a month-long until would overflow setTimeout (which then fires at once); looking again
    // within the hour costs nothing.
    timer = setTimeout(() => evaluate(clock()), Math.min(Math.max(0, next - nowMs) + 1, MAX_TIMER_MILLIS));
    timer.unref();
  };

  return {
    async restore() {
      const rows = await store.readLatestPushes();
      for (const entry of entries) {
        entry.last = rows.find((r) => r.pool === entry.target.pool && r.target === entry.target.name);
      }
    },
    onAdvice(advice, nowMs) {
      latest = advice;
      evaluate(nowMs);
    },
    status() {
      return entries.map((e) => ({
        pool: e.target.pool,
        target: e.target.name,
        type: e.target.type,
        inFlight: e.running || e.waiting,
        last: e.last,
      }));
    },
    get pending() {
      return queue.pending;
    },
    async close(drainMillis) {
      closed = true;
      clearTimeout(timer);
      await queue.drain(drainMillis);
      shutdown.abort();
      // Abandoned pushes end at once on the aborted signal and are recorded as such.
      await queue.drain(1_000);
    },
  };
}
