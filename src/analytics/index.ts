import cron from 'node-cron';
import {
  createAlerting,
  estimateUsualGapMs,
  type AlertView,
  type ConfiguredKeyFacts,
  type ForecastFacts,
} from '../alerts/index.ts';
import type { Config } from '../config/index.ts';
import type { MetricsRegistry } from '../metrics/index.ts';
import { attachSpill, computeAdvice, computeSpill, type Advice, type PoolState } from '../rebalance/index.ts';
import type { ForecastRow, Store, UsageBucketRow } from '../store/index.ts';
import {
  computeCycle,
  currentWindowStarts,
  THROTTLING_WINDOW_MS,
  type PoolCapacity,
  type SubjectForecast,
} from './cycle.ts';
import { poolSupplies } from './pool-supply.ts';
import { SeriesCache, type CachedSeries } from './series-cache.ts';
import { createJobRunner, type JobRun } from './job.ts';

export type { PoolCapacity, QuotaForecast, SubjectForecast } from './cycle.ts';
export type { QuotaDef, Subject } from './quotas.ts';
export type { JobRun } from './job.ts';

// Ten-minute buckets: fine enough for day and month windows and for rolling windows of ten minutes or
// more (per-minute limits come from provider headers), coarse enough to keep a cycle over many keys cheap.
const BUCKET_SECONDS = 600;
const DAY_MS = 86_400_000;
/** A key's auth errors and successes are looked at over the last hour. */
const KEY_HEALTH_LOOKBACK_MS = 3_600_000;
const ADVICE_DAMPING = 0.5;
const FORECAST_ROW_INTERVAL_MS = 5 * 60_000;

/** The latest cycle's results, served by the HTTP API. */
export interface AnalyticsSnapshot {
  evaluatedAtMs: number;
  subjects: SubjectForecast[];
  capacity: PoolCapacity[];
  /** Per pool: whether it runs dry before its quotas reset even with ideal balancing, and when. */
  poolStates: Map<string, PoolState>;
  advice: Map<string, Advice>;
  alerts: AlertView[];
}

export interface CycleStats {
  keys: number;
  subjects: number;
  /** Quota forecasts computed. */
  quotas: number;
  /** Of them, rows written to the `forecasts` table this cycle. */
  forecastRowsWritten: number;
  /** Reading series, limits and throttling from ClickHouse. */
  readMs: number;
  /** Forecasts, alerts rules input, capacity and headroom (pure). */
  computeMs: number;
  /** Writing forecasts, delivering alerts, writing advice. */
  writeMs: number;
}

export interface Analytics {
  /** Restores alert state and advice versions, then (unless `schedule` is false) schedules the cycle. */
  start(options?: { schedule?: boolean }): Promise<void>;
  /** Runs one cycle now (through the job wrapper). */
  runCycle(nowMs?: number): Promise<JobRun>;
  snapshot(): AnalyticsSnapshot | undefined;
  lastRun(): JobRun | undefined;
  /** Sizes and timings of the last successful cycle. */
  lastStats(): CycleStats | undefined;
  /** Calls `listener` after every completed cycle run; returns the unsubscribe function. */
  subscribe(listener: (run: JobRun) => void): () => void;
  /** Where alerts go: one line per active integration; empty when none is configured. */
  alertChannels(): string[];
  /** Waits for alert deliveries in flight. */
  drainDeliveries(timeoutMillis?: number): Promise<void>;
  /** Stops the schedule, waits for a cycle in progress and for deliveries in flight. */
  stop(): Promise<void>;
}

interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Configured keys (`pool/key`) that no span in the loaded history came from. */
function findUnseenKeys(file: Config['file'], seen: readonly { pool: string; key_id: string }[]): string[] {
  const ids = new Set(seen.map((k) => `${k.pool}/${k.key_id}`));
  return file.pools.flatMap((p) => p.keys.map((k) => `${p.name}/${k.id}`)).filter((id) => !ids.has(id));
}

/** A cron expression firing every `seconds` (which divides a minute, or is whole minutes dividing an hour). */
export function cronExpression(seconds: number): string {
  if (seconds < 60) return `*/${seconds} * * * * *`;
  return `0 */${seconds / 60} * * * *`;
}

export function createAnalytics(options: {
  config: Config;
  store: Store;
  log: Logger;
  clock?: () => number;
  /**
   * Receives each cycle's advice once it is decided, e.g. to enqueue pushes to gateways. Called
   * synchronously at the end of the cycle: it must hand any I/O off and return at once.
   */
  onAdvice?: (advice: ReadonlyMap<string, Advice>, nowMs: number) => void;
  /** Receives each cycle's duration and outcome (through the job wrapper). */
  metrics?: MetricsRegistry;
}): Analytics {
  const { config, store, log } = options;
  const clock = options.clock ?? Date.now;
  const file = config.file;
  const intervalMs = file.analytics.interval_seconds * 1000;
  const a = file.alerts;
  const alerting = createAlerting({
    store,
    file,
    slack: config.slack,
    ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
    clock,
    rules: {
      warningRatio: file.alerts.warning_ratio,
      criticalRatio: file.alerts.critical_ratio,
      forecastPExhaust: file.alerts.forecast_p_exhaust,
      forecastHorizonMs: file.alerts.forecast_horizon_minutes * 60_000,
      paceHorizonMs: file.alerts.pace_horizon_minutes * 60_000,
      paceLookbackMs: file.alerts.pace_lookback_minutes * 60_000,
    },
    health: {
      throttlingWarningRatio: a.throttling_warning_ratio,
      throttlingCriticalRatio: a.throttling_critical_ratio,
      throttlingMinCalls: a.throttling_min_calls,
      throttlingWindowMs: a.throttling_window_minutes * 60_000,
      poolCapacityLeadMs: a.pool_capacity_lead_minutes * 60_000,
      keyExpiryWarningMs: a.key_expiry_warning_days * DAY_MS,
      noDataMinMs: a.no_data_min_minutes * 60_000,
      noDataGapFactor: a.no_data_gap_factor,
    },
    policy: {
      forMs: file.alerts.for_seconds * 1000,
      keepFiringForMs: file.alerts.keep_firing_for_seconds * 1000,
    },
    log,
  });
  const fallbackPools = new Map(file.pools.map((p) => [p.name, p.fallback_pools]));

  let snapshot: AnalyticsSnapshot | undefined;
  let stats: CycleStats | undefined;
  let advice = new Map<string, Advice>();
  let task: ReturnType<typeof cron.schedule> | undefined;
  let pendingNowMs: number | undefined;
  const cache = new SeriesCache(BUCKET_SECONDS * 1000);
  let lastWritten = new Map<string, { status: string; pExhaust: number }>();
  let lastFullWriteMs = Number.NEGATIVE_INFINITY;
  let unseenKeysChecked = false;

  async function cycle(): Promise<void> {
    const nowMs = pendingNowMs ?? clock();
    pendingNowMs = undefined;
    const bucketMs = BUCKET_SECONDS * 1000;

    const readStarted = performance.now();
    // History covers the configured days before the current day window.
    await cache.refresh(store, nowMs, (file.analytics.history_days + 1) * DAY_MS);
    const providerLimits = await store.readProviderLimits();
    const throttling = await store.readThrottling(nowMs - THROTTLING_WINDOW_MS);
    const outcomes = await store.readOutcomeCounts(
      nowMs - a.throttling_window_minutes * 60_000,
      nowMs - KEY_HEALTH_LOOKBACK_MS,
    );
    const windowStarts = currentWindowStarts(file, nowMs);
    cache.keepPrefixes(windowStarts);
    const prefixes = new Map<number, ReadonlyMap<string, UsageBucketRow>>();
    for (const start of windowStarts) {
      if (start < cache.coveredFromMs) prefixes.set(start, await cache.prefix(store, start));
    }
    const series = [...cache.keys()];

    const computeStarted = performance.now();
    const result = computeCycle({
      file,
      nowMs,
      bucketMs,
      series,
      fineFromMs: cache.fineFromMs,
      coveredFromMs: cache.coveredFromMs,
      prefixes,
      providerLimits,
      throttling,
      ...(file.alerts.pace_horizon_minutes > 0
        ? { paceLookbackMs: file.alerts.pace_lookback_minutes * 60_000 }
        : {}),
    });

    const rows: ForecastRow[] = [];
    const facts: ForecastFacts[] = [];
    // Every forecast is stored once per FORECAST_ROW_INTERVAL_MS; in between only those whose status
    // or probability moved, which keeps the table proportionate with many keys and short cycles.
    const fullWrite =
      Math.floor(nowMs / FORECAST_ROW_INTERVAL_MS) !== Math.floor(lastFullWriteMs / FORECAST_ROW_INTERVAL_MS);
    const written = new Map<string, { status: string; pExhaust: number }>();
    for (const s of result.subjects) {
      for (const q of s.quotas) {
        const f = q.forecast;
        const id = `${s.subject.pool}\u0000${s.subject.kind}\u0000${s.subject.id}\u0000${q.quota.id}`;
        const before = lastWritten.get(id);
        const moved =
          before === undefined ||
          before.status !== f.status ||
          Math.abs(before.pExhaust - f.pExhaust) >= 0.05;
        written.set(id, moved || fullWrite ? { status: f.status, pExhaust: f.pExhaust } : before);
        if (moved || fullWrite)
          rows.push({
            evaluated_at: nowMs,
            pool: s.subject.pool,
            subject_kind: s.subject.kind,
            subject_id: s.subject.id,
            quota_id: q.quota.id,
            dimension: q.quota.dimension,
            window_kind: q.quota.window.kind,
            window_start: q.windowStartMs,
            reset_at: f.resetAtMs,
            used: f.used,
            limit: f.limit,
            remaining: f.remaining,
            eta_p10: f.etaP10Ms,
            eta_p50: f.etaP50Ms,
            eta_p90: f.etaP90Ms,
            p_exhaust: f.pExhaust,
            status: f.status,
            method: f.method,
            source: q.quota.source,
          });
        // Provider buckets that refill within minutes are for rebalancing, not for paging anyone.
        if (q.quota.source === 'provider' && f.resetAtMs - nowMs < 10 * 60_000) continue;
        facts.push({
          pool: s.subject.pool,
          subjectKind: s.subject.kind,
          subjectId: s.subject.id,
          quotaId: q.quota.id,
          dimension: q.quota.dimension,
          used: f.used,
          limit: f.limit,
          resetAtMs: f.resetAtMs,
          etaP10Ms: f.etaP10Ms,
          etaP50Ms: f.etaP50Ms,
          pExhaust: f.pExhaust,
          status: f.status,
          paceEtaMs: q.paceEtaMs,
          partition: s.subject.kind === 'pool' ? '' : s.subject.partition,
        });
      }
    }
    const writeStarted = performance.now();
    await store.writeForecasts(rows);
    lastWritten = written;
    if (fullWrite) lastFullWriteMs = nowMs;
    await alerting.evaluate(
      {
        forecasts: facts,
        outcomes: outcomes.map((o) => ({
          pool: o.pool,
          keyId: o.key_id,
          partition: o.partition,
          calls: o.calls,
          rateLimited: o.rate_limited,
          quotaExhausted: o.quota_exhausted,
          authErrors: o.auth_errors,
          lastAuthErrorMs: o.last_auth_error_ms,
          lastOkMs: o.last_ok_ms,
        })),
        capacity: result.capacity.map((c) => ({
          pool: c.pool,
          quotaId: c.quotaId,
          dimension: c.dimension,
          keys: c.keys,
          runsDry: c.capacity.runsDry,
          etaMs: c.capacity.etaMs,
          demandPerSecond: c.demandPerSecond,
        })),
        keys: configuredKeys(series, bucketMs),
      },
      nowMs,
    );

    const next = new Map<string, Advice>();
    const adviceRows = [];
    const supplies = poolSupplies(result.subjects, result.headroom, nowMs);
    for (const [pool, keys] of result.headroom) {
      const previous = advice.get(pool);
      const supply = supplies.get(pool);
      const fallbacks = (fallbackPools.get(pool) ?? []).flatMap((name) => supplies.get(name) ?? []);
      const computed = attachSpill(
        computeAdvice(
          pool,
          keys,
          previous,
          nowMs,
          { damping: ADVICE_DAMPING, validForMs: 3 * intervalMs },
          result.poolStates.get(pool),
        ),
        previous,
        supply === undefined ? [] : computeSpill(supply, fallbacks),
      );
      next.set(pool, computed);
      if (previous === undefined || computed.version !== previous.version) {
        for (const k of computed.keys) {
          adviceRows.push({
            generated_at: computed.generated_at,
            valid_until: computed.valid_until,
            pool,
            version: computed.version,
            key_id: k.key_id,
            weight: k.weight,
            state: k.state,
            until: k.until ?? null,
            reason: k.reason,
          });
        }
      }
    }
    await store.writeAdvice(adviceRows);
    advice = next;
    options.onAdvice?.(next, nowMs);
    const finished = performance.now();
    stats = {
      keys: series.length,
      subjects: result.subjects.length,
      quotas: result.subjects.reduce((n, subject) => n + subject.quotas.length, 0),
      forecastRowsWritten: rows.length,
      readMs: computeStarted - readStarted,
      computeMs: writeStarted - computeStarted,
      writeMs: finished - writeStarted,
    };
    snapshot = {
      evaluatedAtMs: nowMs,
      subjects: result.subjects,
      capacity: result.capacity,
      poolStates: result.poolStates,
      advice: next,
      alerts: alerting.active(),
    };
    log.debug(
      {
        evaluated_at: new Date(nowMs).toISOString(),
        keys: stats.keys,
        subjects: stats.subjects,
        quotas: stats.quotas,
        forecast_rows: stats.forecastRowsWritten,
        alerts_pending: snapshot.alerts.filter((a) => a.state === 'pending').length,
        alerts_firing: snapshot.alerts.filter((a) => a.state === 'firing').length,
        advice_pools: next.size,
        read_ms: Math.round(stats.readMs),
        compute_ms: Math.round(stats.computeMs),
        write_ms: Math.round(stats.writeMs),
      },
      'analytics cycle',
    );
    if (!unseenKeysChecked) {
      unseenKeysChecked = true;
      const unseen = findUnseenKeys(file, series);
      if (unseen.length > 0) {
        log.warn(
          { keys: unseen, history_days: file.analytics.history_days },
          `configured key(s) never seen in spans over the last ${file.analytics.history_days} days: ${unseen.join(', ')}. ` +
            'Check that gateways send these ids in keypool.pool and keypool.key.id',
        );
      }
    }
  }

  /** Configured keys with when they were last seen and their usual gap, from the fine buckets. */
  function configuredKeys(series: readonly CachedSeries[], bucketMs: number): ConfiguredKeyFacts[] {
    const seen = new Map(series.map((k) => [`${k.pool}\u0000${k.key_id}`, k]));
    const out: ConfiguredKeyFacts[] = [];
    for (const pool of file.pools) {
      for (const key of pool.keys) {
        const cached = seen.get(`${pool.name}\u0000${key.id}`);
        const active: number[] = [];
        if (cached !== undefined)
          cached.fine.t.forEach((t, i) => {
            if ((cached.fine.requests[i] ?? 0) > 0) active.push(t);
          });
        const last = active.at(-1);
        out.push({
          pool: pool.name,
          keyId: key.id,
          partition: key.partition ?? cached?.partition ?? key.id,
          ...(key.expires_at === undefined ? {} : { expiresAtMs: Date.parse(key.expires_at) }),
          lastSeenMs: last === undefined ? null : last + bucketMs,
          usualGapMs: estimateUsualGapMs(active),
        });
      }
    }
    return out;
  }

  const listeners = new Set<(run: JobRun) => void>();
  const job = createJobRunner('analytics cycle', cycle, log, clock, options.metrics, (run) => {
    for (const listener of listeners) listener(run);
  });

  return {
    async start(startOptions = {}) {
      await alerting.restore();
      const latest = await store.readLatestAdvice();
      for (const row of latest) {
        const existing = advice.get(row.pool) ?? {
          pool: row.pool,
          version: row.version,
          generated_at: row.generated_at,
          valid_until: row.valid_until,
          keys: [],
          // Recomputed by the next cycle; a change of state then bumps the version.
          pool_state: 'ok',
        };
        existing.keys.push({
          key_id: row.key_id,
          weight: row.weight,
          state: row.state as Advice['keys'][number]['state'],
          ...(row.until === null ? {} : { until: row.until }),
          reason: row.reason,
        });
        advice.set(row.pool, existing);
      }
      if (startOptions.schedule === false) return;
      task = cron.schedule(cronExpression(file.analytics.interval_seconds), () => job.run(), {
        name: 'headroom-analytics',
        noOverlap: true,
      });
      // A first cycle right away, so the API has answers before the first tick.
      void job.run();
    },
    async runCycle(nowMs) {
      await job.idle();
      pendingNowMs = nowMs;
      return job.run();
    },
    snapshot: () => snapshot,
    lastRun: () => job.last,
    lastStats: () => stats,
    alertChannels: () => alerting.channels(),
    drainDeliveries: (timeoutMillis) => alerting.drain(timeoutMillis),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      await task?.stop();
      await task?.destroy();
      await job.idle();
      await alerting.drain(10_000);
    },
  };
}
