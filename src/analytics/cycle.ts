import type { HeadroomFile } from '../config/index.ts';
import {
  forecastExhaustion,
  forecastPoolCapacity,
  forecastPredictLinear,
  windowBounds,
  type Forecast,
  type ForecastInput,
  type PoolCapacityForecast,
  type QuotaDimension,
  type QuotaWindow,
  type WindowBounds,
} from '../forecast/index.ts';
import {
  computeKeyHeadroom,
  decidePoolState,
  forecastSharedUsage,
  projectBucketRemaining,
  RATE_WINDOW_MAX_MS,
  type KeyHeadroom,
  type KeyHeadroomInput,
  type PartitionHeadroomInput,
  type PoolCapacityState,
  type PoolState,
  type QuotaState,
  type SharedQuotaState,
} from '../rebalance/index.ts';
import type { ProviderLimitRow, ThrottlingRow, UsageBucketRow } from '../store/index.ts';
import type { CachedSeries, Columns } from './series-cache.ts';
import { buildSubjects, type QuotaDef, type Subject } from './quotas.ts';

/** The forecast of one quota of one subject. */
export interface QuotaForecast {
  quota: QuotaDef;
  windowStartMs: number;
  forecast: Forecast;
  /**
   * When the quota runs out at the pace of the last `paceLookbackMs` (Prometheus' predict_linear over
   * that range), if before the reset; null otherwise, or when the pace is not asked for.
   */
  paceEtaMs: number | null;
  /**
   * What the forecasting core was given, for windows that reset (calendar, provider): asking it again
   * with `fanAtMs` draws the forecast fan of this very forecast.
   */
  input?: ForecastInput;
}

export interface SubjectForecast {
  subject: Subject;
  quotas: QuotaForecast[];
  /** Usage over the history window, per request: converts token and cost headroom into requests. */
  perRequest: { tokens: number; input_tokens: number; output_tokens: number; cost_usd: number };
}

export interface PoolCapacity {
  pool: string;
  quotaId: string;
  dimension: QuotaDimension;
  keys: number;
  demandPerSecond: number;
  capacity: PoolCapacityForecast;
  /**
   * `pool_total`: the keys reset together, so the pool's summed usage is forecast against what its
   * usable keys have left; `ideal_balancing`: earliest-reset-first over keys resetting apart.
   */
  method: 'pool_total' | 'ideal_balancing';
  /** How long before the pool runs dry, ms (`capacity.etaMs - nowMs`); null when it does not. */
  leadTimeMs: number | null;
}

/** Everything one cycle knows: the configuration, the cached series, what ClickHouse said this cycle. */
export interface CycleInputs {
  file: HeadroomFile;
  nowMs: number;
  /** Width of the fine buckets. */
  bucketMs: number;
  /** Every key seen in the history range: hourly sums before `fineFromMs`, fine buckets after. */
  series: readonly CachedSeries[];
  fineFromMs: number;
  coveredFromMs: number;
  /** Usage before `coveredFromMs` of windows that started earlier, by window start then key. */
  prefixes: ReadonlyMap<number, ReadonlyMap<string, UsageBucketRow>>;
  providerLimits: readonly ProviderLimitRow[];
  throttling: readonly ThrottlingRow[];
  /** Range of the pace projection of calendar and provider windows; undefined: none. */
  paceLookbackMs?: number;
}

const HOUR_MS = 3_600_000;
/** The span of the throttling counts the cycle reads (`CycleInputs.throttling`). */
export const THROTTLING_WINDOW_MS = 15 * 60_000;
const DAY_MS = 24 * HOUR_MS;
/** Windows of a week or more (months) are fitted on hourly buckets: plenty of points, far less work. */
const HOURLY_FIT_FROM_MS = 7 * DAY_MS;

export function usageValue(row: UsageBucketRow, dimension: QuotaDimension): number {
  switch (dimension) {
    case 'requests':
      return row.requests;
    case 'tokens':
      return row.input_tokens + row.output_tokens;
    case 'input_tokens':
      return row.input_tokens;
    case 'output_tokens':
      return row.output_tokens;
    case 'cost_usd':
      return row.cost_usd;
  }
}

/** Buckets as columns, ascending; the arrays may be a cached series' own, so they are only read. */
interface Series {
  tsMs: readonly number[];
  values: readonly number[];
}

const EMPTY_SERIES: Series = { tsMs: [], values: [] };

/** One key's usage in `dimension`: the cached column itself, or (tokens) input plus output. */
function columnSeries(columns: Columns, dimension: QuotaDimension): Series {
  if (dimension !== 'tokens') return { tsMs: columns.t, values: columns[dimension] };
  const values = new Array<number>(columns.t.length);
  for (let i = 0; i < values.length; i++)
    values[i] = (columns.input_tokens[i] ?? 0) + (columns.output_tokens[i] ?? 0);
  return { tsMs: columns.t, values };
}

/** A subject's usage in one dimension, summed over its keys: hourly sums, then fine buckets. */
interface SubjectUsage {
  hours: Series;
  fine: Series;
}

function sumColumns(
  keys: readonly CachedSeries[],
  pick: (k: CachedSeries) => Columns,
  dimension: QuotaDimension,
): Series {
  if (keys.length === 0) return EMPTY_SERIES;
  if (keys.length === 1) return columnSeries(pick(keys[0] as CachedSeries), dimension);
  const sums = new Map<number, number>();
  for (const key of keys) {
    const { tsMs, values } = columnSeries(pick(key), dimension);
    for (let i = 0; i < tsMs.length; i++) {
      const t = tsMs[i] as number;
      sums.set(t, (sums.get(t) ?? 0) + (values[i] ?? 0));
    }
  }
  const times = [...sums.keys()].sort((a, b) => a - b);
  return { tsMs: times, values: times.map((t) => sums.get(t) ?? 0) };
}

function subjectUsage(keys: readonly CachedSeries[], dimension: QuotaDimension): SubjectUsage {
  return {
    hours: sumColumns(keys, (k) => k.hours, dimension),
    fine: sumColumns(keys, (k) => k.fine, dimension),
  };
}

/** Hourly sums spread evenly over fine buckets, then the fine buckets: one series at fine resolution. */
function spreadHoursThenFine(usage: SubjectUsage, bucketMs: number): Series {
  const parts = Math.max(1, Math.round(HOUR_MS / bucketMs));
  const tsMs: number[] = [];
  const values: number[] = [];
  for (let h = 0; h < usage.hours.tsMs.length; h++) {
    const hourMs = usage.hours.tsMs[h] as number;
    const value = (usage.hours.values[h] ?? 0) / parts;
    for (let i = 0; i < parts; i++) {
      tsMs.push(hourMs + i * bucketMs);
      values.push(value);
    }
  }
  return concatSeries({ tsMs, values }, usage.fine);
}

/** Hourly sums, then the fine buckets summed per hour: one series at hourly resolution. */
function hoursThenFineHours(usage: SubjectUsage): Series {
  const tsMs: number[] = [];
  const values: number[] = [];
  const { fine } = usage;
  for (let i = 0; i < fine.tsMs.length; i++) {
    const hour = Math.floor((fine.tsMs[i] as number) / HOUR_MS) * HOUR_MS;
    const last = tsMs.length - 1;
    if (last >= 0 && tsMs[last] === hour) values[last] = (values[last] ?? 0) + (fine.values[i] ?? 0);
    else {
      tsMs.push(hour);
      values.push(fine.values[i] ?? 0);
    }
  }
  return concatSeries(usage.hours, { tsMs, values });
}

function concatSeries(a: Series, b: Series): Series {
  if (a.tsMs.length === 0) return b;
  if (b.tsMs.length === 0) return a;
  return { tsMs: [...a.tsMs, ...b.tsMs], values: [...a.values, ...b.values] };
}

function keyOf(pool: string, keyId: string): string {
  return `${pool}\u0000${keyId}`;
}

/** Starts of every configured calendar window that is current at `nowMs`. */
export function currentWindowStarts(file: HeadroomFile, nowMs: number): Set<number> {
  const starts = new Set<number>();
  const visit = (spec: HeadroomFile['pools'][number]['key_quotas'][number]): void => {
    if (spec.window !== 'month' && spec.window !== 'day') return;
    starts.add(
      windowBounds(
        {
          kind: 'calendar',
          unit: spec.window,
          timeZone: spec.time_zone,
          ...(spec.anchor_day === undefined ? {} : { anchorDay: spec.anchor_day }),
          ...(spec.anchor_hour === undefined ? {} : { anchorHour: spec.anchor_hour }),
        },
        nowMs,
      ).startMs,
    );
  };
  for (const pool of file.pools) {
    pool.key_quotas.forEach(visit);
    pool.quotas.forEach(visit);
    pool.keys.forEach((k) => k.quotas.forEach(visit));
    pool.partitions.forEach((p) => p.quotas.forEach(visit));
  }
  return starts;
}

/**
 * One analytics pass over what was read: forecasts for every subject and quota, pool capacity, and
 * each key's headroom for rebalancing. Pure: no I/O, time is `inputs.nowMs`.
 */
export function computeCycle(inputs: CycleInputs): {
  subjects: SubjectForecast[];
  capacity: PoolCapacity[];
  headroom: Map<string, KeyHeadroom[]>;
  /** Per pool: whether it runs dry before its quotas reset even with ideal balancing. */
  poolStates: Map<string, PoolState>;
} {
  const { nowMs } = inputs;
  const subjects = buildSubjects(inputs.file, inputs.series, inputs.providerLimits, nowMs);
  const seriesByKey = new Map(inputs.series.map((k) => [keyOf(k.pool, k.key_id), k]));
  const boundsMemo = new Map<string, WindowBounds>();
  const usageMemo = new Map<string, SubjectUsage>();
  const usageOf = (subject: Subject, dimension: QuotaDimension): SubjectUsage => {
    const id = `${subject.pool}\u0000${dimension}\u0000${subject.keyIds.join('\u0000')}`;
    let usage = usageMemo.get(id);
    if (usage === undefined) {
      const keys = subject.keyIds
        .map((k) => seriesByKey.get(keyOf(subject.pool, k)))
        .filter((k): k is CachedSeries => k !== undefined);
      usageMemo.set(id, (usage = subjectUsage(keys, dimension)));
    }
    return usage;
  };

  const results: SubjectForecast[] = [];
  for (const subject of subjects) {
    const keys = subject.keyIds
      .map((id) => seriesByKey.get(keyOf(subject.pool, id)))
      .filter((k): k is CachedSeries => k !== undefined);
    const total = { requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
    for (const k of keys) {
      for (const columns of [k.hours, k.fine]) {
        for (let i = 0; i < columns.t.length; i++) {
          total.requests += columns.requests[i] ?? 0;
          total.input_tokens += columns.input_tokens[i] ?? 0;
          total.output_tokens += columns.output_tokens[i] ?? 0;
          total.cost_usd += columns.cost_usd[i] ?? 0;
        }
      }
    }
    const perRequest = {
      tokens: total.requests > 0 ? (total.input_tokens + total.output_tokens) / total.requests : 0,
      input_tokens: total.requests > 0 ? total.input_tokens / total.requests : 0,
      output_tokens: total.requests > 0 ? total.output_tokens / total.requests : 0,
      cost_usd: total.requests > 0 ? total.cost_usd / total.requests : 0,
    };
    const quotas = subject.quotas.map((quota) =>
      forecastQuota(quota, usageOf(subject, quota.dimension), subject, inputs, boundsMemo),
    );
    results.push({ subject, quotas, perRequest });
  }

  const headroom = new Map<string, KeyHeadroom[]>();
  for (const [pool, input] of headroomInputs(results, usageOf, inputs))
    headroom.set(pool, computeKeyHeadroom(input.keys, input.partitions, nowMs));
  const capacity = [
    ...poolCapacity(results, headroom, usageOf, inputs, boundsMemo),
    ...sharedCapacity(results, nowMs),
  ];
  const poolStates = new Map<string, PoolState>();
  for (const pool of headroom.keys())
    poolStates.set(pool, decidePoolState(capacity.filter((c) => c.pool === pool).map(capacityState), nowMs));
  return { subjects: results, capacity, headroom, poolStates };
}

function sumFrom(series: Series, fromMs: number): number {
  let sum = 0;
  for (let i = series.tsMs.length - 1; i >= 0 && (series.tsMs[i] as number) >= fromMs; i--) {
    sum += series.values[i] ?? 0;
  }
  return sum;
}

/**
 * Bounds of a configured window at `nowMs`, remembered in `memo` for the cycle: every key of a pool
 * shares its quota windows.
 */
function configuredBounds(window: QuotaWindow, nowMs: number, memo: Map<string, WindowBounds>): WindowBounds {
  if (window.kind !== 'calendar') return windowBounds(window, nowMs);
  const id = `${window.unit}|${window.timeZone}|${window.anchorDay ?? ''}|${window.anchorHour ?? ''}`;
  let bounds = memo.get(id);
  if (bounds === undefined) memo.set(id, (bounds = windowBounds(window, nowMs)));
  return bounds;
}

function forecastQuota(
  quota: QuotaDef,
  usage: SubjectUsage,
  subject: Subject,
  inputs: CycleInputs,
  boundsMemo: Map<string, WindowBounds>,
): QuotaForecast {
  const { nowMs, bucketMs } = inputs;
  if (quota.window.kind === 'rolling') {
    // A rolling window never resets: the question is whether the next full window will exceed the
    // limit, forecast from the recent buckets as history. `used` shows the last window's usage.
    const windowMs = quota.window.seconds * 1000;
    const lastBuckets = sumFrom(usage.fine, nowMs - windowMs - bucketMs);
    const used = Math.min(quota.limit, lastBuckets * Math.min(1, windowMs / bucketMs));
    // Buckets coarser than the window cannot say anything about it: no guess.
    const next =
      windowMs >= bucketMs
        ? forecastExhaustion({
            nowMs,
            windowStartMs: nowMs,
            resetAtMs: nowMs + windowMs,
            limit: quota.limit,
            used: 0,
            current: EMPTY_SERIES,
            history: spreadHoursThenFine(usage, bucketMs),
            bucketMs,
            timeZone: quota.timeZone,
          })
        : undefined;
    return {
      quota,
      windowStartMs: nowMs - windowMs,
      paceEtaMs: null,
      forecast: {
        method: next?.method ?? 'none',
        status: next?.status ?? 'insufficient_data',
        used,
        limit: quota.limit,
        remaining: Math.max(0, quota.limit - used),
        resetAtMs: nowMs + windowMs,
        etaP10Ms: next?.etaP10Ms ?? null,
        etaP50Ms: next?.etaP50Ms ?? null,
        etaP90Ms: next?.etaP90Ms ?? null,
        pExhaust: next?.pExhaust ?? 0,
        ...(next?.ratePerMs === undefined ? {} : { ratePerMs: next.ratePerMs }),
      },
    };
  }

  const bounds =
    quota.reported !== undefined
      ? windowBounds(quota.window, nowMs, {
          resetAtMs: quota.reported.resetAtMs,
          windowSeconds: quota.reported.windowSeconds,
        })
      : configuredBounds(quota.window, nowMs, boundsMemo);
  const windowMs = bounds.resetAtMs - bounds.startMs;

  let used: number;
  if (quota.reported !== undefined) {
    used = quota.limit - quota.reported.remaining;
  } else {
    used = sumFrom(usage.hours, bounds.startMs) + sumFrom(usage.fine, bounds.startMs);
    const prefix = bounds.startMs < inputs.coveredFromMs ? inputs.prefixes.get(bounds.startMs) : undefined;
    if (prefix !== undefined) {
      for (const id of subject.keyIds) {
        const row = prefix.get(keyOf(subject.pool, id));
        if (row !== undefined) used += usageValue(row, quota.dimension);
      }
    }
  }

  // The fit sees the window from where the series start; earlier usage is in `used` only. The core
  // takes the window's buckets from `fitStartMs` on as the current window and the rest as history.
  const fitStartMs = Math.max(bounds.startMs, inputs.coveredFromMs);
  let fit: { bucketMs: number; series: Series };
  if (windowMs >= HOURLY_FIT_FROM_MS) {
    fit = { bucketMs: HOUR_MS, series: hoursThenFineHours(usage) };
  } else if (windowMs >= DAY_MS && fitStartMs >= inputs.fineFromMs) {
    // Day windows: the core reads history in hourly cells, so hourly sums are history at full detail.
    fit = { bucketMs, series: concatSeries(usage.hours, usage.fine) };
  } else {
    fit = { bucketMs, series: spreadHoursThenFine(usage, bucketMs) };
  }
  const input: ForecastInput = {
    nowMs,
    windowStartMs: fitStartMs,
    resetAtMs: bounds.resetAtMs,
    limit: quota.limit,
    used: Math.max(0, used),
    current: fit.series,
    history: fit.series,
    bucketMs: fit.bucketMs,
    timeZone: quota.timeZone,
  };
  const forecast = forecastExhaustion(input);
  let paceEtaMs: number | null = null;
  if (inputs.paceLookbackMs !== undefined && inputs.paceLookbackMs > 0) {
    // Fine buckets cover the last day, which is as far back as a pace looks.
    const pace = forecastPredictLinear(
      {
        nowMs,
        windowStartMs: fitStartMs,
        resetAtMs: bounds.resetAtMs,
        limit: quota.limit,
        used: Math.max(0, used),
        current: usage.fine,
        bucketMs,
      },
      inputs.paceLookbackMs,
    );
    if (pace.status === 'ok' && pace.etaP50Ms !== null && pace.etaP50Ms < bounds.resetAtMs)
      paceEtaMs = pace.etaP50Ms;
  }
  return { quota, windowStartMs: bounds.startMs, forecast, paceEtaMs, input };
}

/** Length of a quota's current window, ms. */
function windowLengthMs(q: QuotaForecast): number {
  const { window } = q.quota;
  if (window.kind === 'rolling') return window.seconds * 1000;
  if (q.quota.reported !== undefined) return q.quota.reported.windowSeconds * 1000;
  return q.forecast.resetAtMs - q.windowStartMs;
}

function unitsPerRequest(q: QuotaForecast, owner: SubjectForecast): number {
  return q.quota.dimension === 'requests' ? 1 : owner.perRequest[q.quota.dimension];
}

function quotaState(q: QuotaForecast, owner: SubjectForecast, nowMs: number): QuotaState {
  const windowMs = windowLengthMs(q);
  const report = q.quota.reported;
  return {
    quotaId: q.quota.id,
    dimension: q.quota.dimension,
    windowMs,
    limit: q.forecast.limit,
    remaining:
      report !== undefined && windowMs <= RATE_WINDOW_MAX_MS
        ? projectBucketRemaining(
            { limit: q.forecast.limit, remaining: q.forecast.remaining, windowMs },
            report.observedAtMs,
            nowMs,
          )
        : q.forecast.remaining,
    resetAtMs: q.forecast.resetAtMs,
    exhausted: q.forecast.status === 'exhausted',
    unitsPerRequest: unitsPerRequest(q, owner),
  };
}

/** Expected usage of a forecast from now until its reset. */
function untilReset(f: Forecast, nowMs: number): number {
  return f.expectedUsageUntilReset ?? (f.ratePerMs ?? 0) * Math.max(0, f.resetAtMs - nowMs);
}

/** A key shares a partition when spans or configuration name one other than the key itself. */
function sharedPartition(s: Subject): string | undefined {
  return s.partition !== '' && s.partition !== s.id ? s.partition : undefined;
}

/** Usage rate of a subject's keys over the last two fine buckets, per ms. */
function recentRatePerMs(usage: SubjectUsage, nowMs: number, bucketMs: number): number {
  const fromMs = (Math.floor(nowMs / bucketMs) - 1) * bucketMs;
  const firstMs = usage.fine.tsMs.find((t) => t >= fromMs);
  if (firstMs === undefined) return 0;
  return sumFrom(usage.fine, fromMs) / Math.max(bucketMs / 10, nowMs - firstMs);
}

/**
 * The inputs of the headroom maths for every pool: each key's own quotas and throttling, and for keys
 * sharing a partition, the partition's quotas with what this pool has used and what everyone else is
 * forecast to use. Provider-reported buckets of a key that shares a partition are the partition's (the
 * provider limits the organisation or project), so they are counted once, not once per key.
 */
function headroomInputs(
  results: readonly SubjectForecast[],
  usageOf: (s: Subject, dimension: QuotaDimension) => SubjectUsage,
  inputs: CycleInputs,
): Map<string, { keys: KeyHeadroomInput[]; partitions: PartitionHeadroomInput[] }> {
  const { nowMs, bucketMs } = inputs;
  const throttled = new Map(inputs.throttling.map((t) => [keyOf(t.pool, t.key_id), t]));
  // Configured partition quotas, by partition id across pools: other pools draw on the same quota.
  const partitionSubjects = new Map<string, SubjectForecast[]>();
  for (const r of results) {
    if (r.subject.kind !== 'partition') continue;
    const list = partitionSubjects.get(r.subject.id) ?? [];
    list.push(r);
    partitionSubjects.set(r.subject.id, list);
  }
  const byPool = new Map<string, { keys: KeyHeadroomInput[]; partitions: PartitionHeadroomInput[] }>();
  const membersOf = new Map<string, SubjectForecast[]>();
  for (const r of results) {
    if (r.subject.kind !== 'key') continue;
    let pool = byPool.get(r.subject.pool);
    if (pool === undefined) byPool.set(r.subject.pool, (pool = { keys: [], partitions: [] }));
    const partition = sharedPartition(r.subject);
    const t = throttled.get(keyOf(r.subject.pool, r.subject.id));
    const entry: KeyHeadroomInput = {
      keyId: r.subject.id,
      quotas: r.quotas
        .filter((q) => partition === undefined || q.quota.source !== 'provider')
        .map((q) => quotaState(q, r, nowMs)),
    };
    if (partition !== undefined) {
      entry.partition = partition;
      const id = keyOf(r.subject.pool, partition);
      membersOf.set(id, [...(membersOf.get(id) ?? []), r]);
    }
    if (t !== undefined) {
      if (t.cooldown_until_ms > nowMs) {
        if (t.last_quota_exhausted_ms > 0) entry.quotaExhaustedUntilMs = t.cooldown_until_ms;
        else entry.coolingDownUntilMs = t.cooldown_until_ms;
      }
      if (t.last_auth_error_ms > 0) entry.authErrorAtMs = t.last_auth_error_ms;
    }
    pool.keys.push(entry);
  }

  for (const [id, members] of membersOf) {
    const [poolName, partition] = id.split('\u0000') as [string, string];
    const quotas: SharedQuotaState[] = [];
    for (const owner of partitionSubjects.get(partition)?.filter((s) => s.subject.pool === poolName) ?? []) {
      for (const q of owner.quotas) {
        const otherPools = (partitionSubjects.get(partition) ?? [])
          .filter((s) => s.subject.pool !== poolName)
          .flatMap((s) => s.quotas.filter((o) => o.quota.id === q.quota.id))
          .map((o) => ({
            used: o.forecast.used,
            ratePerMs: o.forecast.ratePerMs ?? 0,
            untilReset: untilReset(o.forecast, nowMs),
          }));
        const shared = forecastSharedUsage({
          nowMs,
          windowMs: windowLengthMs(q),
          resetAtMs: q.forecast.resetAtMs,
          limit: q.forecast.limit,
          ownUsed: q.forecast.used,
          ownRatePerMs: q.forecast.ratePerMs ?? 0,
          otherPools,
        });
        quotas.push({ ...quotaState(q, owner, nowMs), remaining: shared.remaining, others: shared.others });
      }
    }
    // The freshest report of each provider bucket among the partition's keys.
    const reported = new Map<string, { q: QuotaForecast; owner: SubjectForecast }>();
    for (const r of members) {
      for (const q of r.quotas) {
        if (q.quota.reported === undefined) continue;
        const seen = reported.get(q.quota.id)?.q.quota.reported;
        if (seen === undefined || q.quota.reported.observedAtMs > seen.observedAtMs)
          reported.set(q.quota.id, { q, owner: r });
      }
    }
    for (const { q, owner } of reported.values()) {
      const report = q.quota.reported;
      if (report === undefined) continue;
      const windowMs = windowLengthMs(q);
      // This pool's usage on the partition: every member key's, from its spans, less the share of
      // them the provider refused lately.
      let ownUsed = 0;
      let ownRatePerMs = 0;
      for (const r of members) {
        const usage = usageOf(r.subject, q.quota.dimension);
        const t = throttled.get(keyOf(r.subject.pool, r.subject.id));
        const recentCalls = usageOf(r.subject, 'requests');
        const calls = sumFrom(recentCalls.fine, nowMs - THROTTLING_WINDOW_MS);
        const refused = t === undefined ? 0 : t.rate_limited + t.quota_exhausted;
        const admittedShare = calls > 0 ? Math.max(0, 1 - refused / calls) : 1;
        ownRatePerMs += recentRatePerMs(usage, nowMs, bucketMs) * admittedShare;
        const startMs = report.resetAtMs - windowMs;
        ownUsed += sumFrom(usage.hours, startMs) + sumFrom(usage.fine, startMs);
      }
      const remainingNow =
        windowMs <= RATE_WINDOW_MAX_MS
          ? projectBucketRemaining(
              { limit: q.quota.limit, remaining: report.remaining, windowMs },
              report.observedAtMs,
              nowMs,
            )
          : report.remaining;
      const shared = forecastSharedUsage({
        nowMs,
        windowMs,
        resetAtMs: report.resetAtMs,
        limit: q.quota.limit,
        reportedUsed: q.quota.limit - remainingNow,
        ownUsed,
        ownRatePerMs,
        otherPools: [],
      });
      quotas.push({ ...quotaState(q, owner, nowMs), remaining: shared.remaining, others: shared.others });
    }
    byPool.get(poolName)?.partitions.push({ partition, quotas });
  }
  return byPool;
}

function capacityState(c: PoolCapacity): PoolCapacityState {
  return {
    quotaId: c.quotaId,
    dimension: c.dimension,
    runsDry: c.capacity.runsDry,
    dryAtMs: c.capacity.etaMs,
    shortfall: c.capacity.shortfall,
    demandUntilReset: c.capacity.demandUntilHorizon,
  };
}

/**
 * Whether each pool runs dry before its quotas reset even with ideal balancing, per quota of its keys.
 * Keys whose windows all reset together (daily and monthly quotas) are forecast as one: the pool's
 * summed usage, with its hour-of-day shape, against what its usable keys have left. Keys resetting at
 * different times are checked by ideal (earliest-reset-first) balancing of the current demand rate.
 */
function poolCapacity(
  results: readonly SubjectForecast[],
  headroom: ReadonlyMap<string, readonly KeyHeadroom[]>,
  usageOf: (s: Subject, dimension: QuotaDimension) => SubjectUsage,
  inputs: CycleInputs,
  boundsMemo: Map<string, WindowBounds>,
): PoolCapacity[] {
  const { nowMs } = inputs;
  const groups = new Map<
    string,
    {
      pool: string;
      quotaId: string;
      dimension: QuotaDimension;
      items: Array<{ q: QuotaForecast; s: Subject }>;
    }
  >();
  for (const r of results) {
    if (r.subject.kind !== 'key') continue;
    for (const q of r.quotas) {
      const id = `${r.subject.pool}\u0000${q.quota.id}`;
      let group = groups.get(id);
      if (group === undefined)
        groups.set(
          id,
          (group = { pool: r.subject.pool, quotaId: q.quota.id, dimension: q.quota.dimension, items: [] }),
        );
      group.items.push({ q, s: r.subject });
    }
  }
  const blocked = new Set<string>();
  for (const [pool, keys] of headroom)
    for (const k of keys) if (k.exhaustedUntilMs !== undefined) blocked.add(keyOf(pool, k.keyId));

  const keysOfPool = new Map<string, number>();
  for (const r of results)
    if (r.subject.kind === 'key') keysOfPool.set(r.subject.pool, (keysOfPool.get(r.subject.pool) ?? 0) + 1);

  const capacities: PoolCapacity[] = [];
  for (const g of groups.values()) {
    const usable = (item: { q: QuotaForecast; s: Subject }): boolean =>
      item.q.forecast.status !== 'exhausted' && !blocked.has(keyOf(item.s.pool, item.s.id));
    const first = g.items[0];
    if (first === undefined) continue;
    if (g.items.length < (keysOfPool.get(g.pool) ?? 0)) {
      // Keys this quota does not limit are capacity of unknown size: ideal balancing sends the
      // demand there, so the quota alone cannot say the pool runs dry.
      const demandPerMs = g.items.reduce((s, i) => s + (i.q.forecast.ratePerMs ?? 0), 0);
      capacities.push({
        pool: g.pool,
        quotaId: g.quotaId,
        dimension: g.dimension,
        keys: g.items.length,
        demandPerSecond: demandPerMs * 1000,
        method: 'ideal_balancing',
        leadTimeMs: null,
        capacity: {
          runsDry: false,
          etaMs: null,
          capacityBeforeEarliestReset: g.items.filter(usable).reduce((s, i) => s + i.q.forecast.remaining, 0),
          shortfall: 0,
          demandUntilHorizon: 0,
        },
      });
      continue;
    }
    const resetAtMs = first.q.forecast.resetAtMs;
    const together =
      windowLengthMs(first.q) > RATE_WINDOW_MAX_MS &&
      g.items.every(
        (i) =>
          Math.abs(i.q.forecast.resetAtMs - resetAtMs) < 1000 && windowLengthMs(i.q) > RATE_WINDOW_MAX_MS,
      );
    const demandPerMs = g.items.reduce((s, i) => s + (i.q.forecast.ratePerMs ?? 0), 0);
    const base = { pool: g.pool, quotaId: g.quotaId, dimension: g.dimension, keys: g.items.length };
    if (together) {
      const remaining = g.items.filter(usable).reduce((s, i) => s + i.q.forecast.remaining, 0);
      const used = g.items.reduce((s, i) => s + i.q.forecast.used, 0);
      const quota: QuotaDef =
        first.q.quota.reported === undefined
          ? { ...first.q.quota, limit: used + remaining }
          : {
              ...first.q.quota,
              limit: used + remaining,
              reported: { ...first.q.quota.reported, remaining },
            };
      const subject: Subject = { ...first.s, kind: 'pool', id: g.pool, keyIds: g.items.map((i) => i.s.id) };
      const total = forecastQuota(quota, usageOf(subject, g.dimension), subject, inputs, boundsMemo).forecast;
      const exhausted = total.status === 'exhausted' || remaining <= 0;
      const runsDry = exhausted || (total.pExhaust >= 0.5 && total.etaP50Ms !== null);
      const demandUntilReset = exhausted
        ? demandPerMs * Math.max(0, resetAtMs - nowMs)
        : untilReset(total, nowMs);
      capacities.push({
        ...base,
        demandPerSecond: (total.ratePerMs ?? demandPerMs) * 1000,
        method: 'pool_total',
        leadTimeMs: runsDry ? Math.max(0, (exhausted ? nowMs : (total.etaP50Ms ?? nowMs)) - nowMs) : null,
        capacity: {
          runsDry,
          etaMs: runsDry ? (exhausted ? nowMs : total.etaP50Ms) : null,
          capacityBeforeEarliestReset: remaining,
          shortfall: Math.max(0, demandUntilReset - remaining),
          demandUntilHorizon: demandUntilReset,
        },
      });
      continue;
    }
    const capacity = forecastPoolCapacity(
      g.items.map((i) => ({
        remaining: i.q.forecast.remaining,
        resetAtMs: i.q.forecast.resetAtMs,
        usable: usable(i),
        limit: i.q.forecast.limit,
      })),
      demandPerMs,
      nowMs,
    );
    capacities.push({
      ...base,
      demandPerSecond: demandPerMs * 1000,
      method: 'ideal_balancing',
      leadTimeMs: capacity.etaMs === null ? null : Math.max(0, capacity.etaMs - nowMs),
      capacity,
    });
  }
  return capacities;
}

/**
 * Quotas of the pool as a whole, and of partitions every key of the pool draws on: running out of one
 * stops the whole pool, whatever the weights.
 */
function sharedCapacity(results: readonly SubjectForecast[], nowMs: number): PoolCapacity[] {
  const keysOfPool = new Map<string, number>();
  for (const r of results)
    if (r.subject.kind === 'key') keysOfPool.set(r.subject.pool, (keysOfPool.get(r.subject.pool) ?? 0) + 1);
  const capacities: PoolCapacity[] = [];
  for (const r of results) {
    const whole =
      r.subject.kind === 'pool' ||
      (r.subject.kind === 'partition' && r.subject.keyIds.length === keysOfPool.get(r.subject.pool));
    if (!whole) continue;
    for (const q of r.quotas) {
      const f = q.forecast;
      if (windowLengthMs(q) <= RATE_WINDOW_MAX_MS) continue;
      const exhausted = f.status === 'exhausted';
      const runsDry = exhausted || (f.pExhaust >= 0.5 && f.etaP50Ms !== null);
      const etaMs = runsDry ? (exhausted ? nowMs : f.etaP50Ms) : null;
      const demandUntilReset = untilReset(f, nowMs);
      capacities.push({
        pool: r.subject.pool,
        quotaId: r.subject.kind === 'pool' ? q.quota.id : `${r.subject.id}/${q.quota.id}`,
        dimension: q.quota.dimension,
        keys: r.subject.keyIds.length,
        demandPerSecond: (f.ratePerMs ?? 0) * 1000,
        method: 'pool_total',
        leadTimeMs: etaMs === null ? null : Math.max(0, etaMs - nowMs),
        capacity: {
          runsDry,
          etaMs,
          capacityBeforeEarliestReset: f.remaining,
          shortfall: Math.max(0, demandUntilReset - f.remaining),
          demandUntilHorizon: demandUntilReset,
        },
      });
    }
  }
  return capacities;
}
