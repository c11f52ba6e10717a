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
import type { KeyHeadroom } from '../rebalance/index.ts';
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
} {
  const { nowMs } = inputs;
  const subjects = buildSubjects(inputs.file, inputs.series, inputs.providerLimits, nowMs);
  const seriesByKey = new Map(inputs.series.map((k) => [keyOf(k.pool, k.key_id), k]));
  const boundsMemo = new Map<string, WindowBounds>();

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
    const usageByDimension = new Map<QuotaDimension, SubjectUsage>();
    const quotas: QuotaForecast[] = [];
    for (const quota of subject.quotas) {
      let usage = usageByDimension.get(quota.dimension);
      if (usage === undefined)
        usageByDimension.set(quota.dimension, (usage = subjectUsage(keys, quota.dimension)));
      quotas.push(forecastQuota(quota, usage, subject, inputs, boundsMemo));
    }
    results.push({ subject, quotas, perRequest });
  }

  return {
    subjects: results,
    capacity: poolCapacity(results, nowMs),
    headroom: keyHeadroom(results, inputs.throttling, nowMs),
  };
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

function poolCapacity(results: readonly SubjectForecast[], nowMs: number): PoolCapacity[] {
  const groups = new Map<
    string,
    { pool: string; quotaId: string; dimension: QuotaDimension; items: QuotaForecast[] }
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
      group.items.push(q);
    }
  }
  return [...groups.values()].map((g) => {
    const demandPerMs = g.items.reduce((s, q) => s + (q.forecast.ratePerMs ?? 0), 0);
    return {
      pool: g.pool,
      quotaId: g.quotaId,
      dimension: g.dimension,
      keys: g.items.length,
      demandPerSecond: demandPerMs * 1000,
      capacity: forecastPoolCapacity(
        g.items.map((q) => ({
          remaining: q.forecast.remaining,
          resetAtMs: q.forecast.resetAtMs,
          usable: q.forecast.status !== 'exhausted',
          limit: q.forecast.limit,
        })),
        demandPerMs,
        nowMs,
      ),
    };
  });
}

function describeReason(reasonQuota: { q: QuotaForecast; exhausted: boolean } | undefined): string {
  if (reasonQuota === undefined) return 'no quota known: median weight';
  const { q, exhausted } = reasonQuota;
  if (exhausted) return `${q.quota.id} exhausted until reset`;
  const f = q.forecast;
  return `${q.quota.id}: ${Math.round(f.remaining)} left until ${new Date(f.resetAtMs).toISOString()}`;
}

function keyHeadroom(
  results: readonly SubjectForecast[],
  throttling: readonly ThrottlingRow[],
  nowMs: number,
): Map<string, KeyHeadroom[]> {
  const throttled = new Map(throttling.map((t) => [keyOf(t.pool, t.key_id), t]));
  // Partition quotas constrain every key that draws from them.
  const partitionQuotas = new Map<string, SubjectForecast>();
  for (const r of results)
    if (r.subject.kind === 'partition') partitionQuotas.set(keyOf(r.subject.pool, r.subject.id), r);

  const byPool = new Map<string, KeyHeadroom[]>();
  for (const r of results) {
    if (r.subject.kind !== 'key') continue;
    const partition = partitionQuotas.get(keyOf(r.subject.pool, r.subject.partition));
    const constraints = [
      ...r.quotas.map((q) => ({ q, owner: r })),
      ...(partition?.quotas.map((q) => ({ q, owner: partition })) ?? []),
    ];
    let rate: number | undefined;
    // The quota the reason names: the last one found exhausted or binding tighter than the others.
    let reasonQuota: { q: QuotaForecast; exhausted: boolean } | undefined;
    let exhaustedUntil: number | undefined;
    for (const { q, owner } of constraints) {
      const f = q.forecast;
      if (f.status === 'exhausted' || f.remaining <= 0) {
        if (exhaustedUntil === undefined || f.resetAtMs > exhaustedUntil) exhaustedUntil = f.resetAtMs;
        reasonQuota = { q, exhausted: true };
        continue;
      }
      const perRequest = q.quota.dimension === 'requests' ? 1 : owner.perRequest[q.quota.dimension];
      if (!(perRequest > 0)) continue; // no usage seen yet in that dimension: it cannot be converted
      const seconds = Math.max(1, (f.resetAtMs - nowMs) / 1000);
      // Shared partition quotas are split across the keys that draw from them.
      const share = owner === r ? 1 : Math.max(1, owner.subject.keyIds.length);
      const candidate = f.remaining / perRequest / seconds / share;
      if (rate === undefined || candidate < rate) {
        rate = candidate;
        reasonQuota = { q, exhausted: false };
      }
    }
    const reason = describeReason(reasonQuota);
    const t = throttled.get(keyOf(r.subject.pool, r.subject.id));
    const entry: KeyHeadroom = { keyId: r.subject.id, sustainableRatePerSecond: rate, reason };
    if (exhaustedUntil !== undefined) entry.exhaustedUntilMs = exhaustedUntil;
    if (t !== undefined && t.cooldown_until_ms > nowMs) {
      if (t.last_quota_exhausted_ms > 0 && exhaustedUntil === undefined) {
        entry.exhaustedUntilMs = t.cooldown_until_ms;
        entry.reason = 'provider answered quota_exhausted';
      } else if (exhaustedUntil === undefined) {
        entry.coolingDownUntilMs = t.cooldown_until_ms;
        entry.reason = `rate limited: retry after ${new Date(t.cooldown_until_ms).toISOString()}`;
      }
    }
    let list = byPool.get(r.subject.pool);
    if (list === undefined) byPool.set(r.subject.pool, (list = []));
    list.push(entry);
  }
  return byPool;
}
