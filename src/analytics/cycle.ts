import type { HeadroomFile } from '../config/index.ts';
import {
  forecastExhaustion,
  forecastPoolCapacity,
  windowBounds,
  type Forecast,
  type PoolCapacityForecast,
  type QuotaDimension,
  type UsagePoint,
} from '../forecast/index.ts';
import type { KeyHeadroom } from '../rebalance/index.ts';
import type { KeySeries, ProviderLimitRow, ThrottlingRow, UsageBucketRow } from '../store/index.ts';
import { buildSubjects, type QuotaDef, type Subject } from './quotas.ts';

/** The forecast of one quota of one subject. */
export interface QuotaForecast {
  quota: QuotaDef;
  windowStartMs: number;
  forecast: Forecast;
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

/** Everything one cycle read from ClickHouse. */
export interface CycleInputs {
  file: HeadroomFile;
  nowMs: number;
  bucketMs: number;
  /** Every key seen in the series range, with its bucketed usage. */
  series: readonly KeySeries[];
  providerLimits: readonly ProviderLimitRow[];
  /** Totals since a window start older than the bucket series, keyed by that start. */
  totalsSince: ReadonlyMap<number, readonly UsageBucketRow[]>;
  throttling: readonly ThrottlingRow[];
}

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

function seriesValues(series: KeySeries, dimension: QuotaDimension): number[] {
  switch (dimension) {
    case 'requests':
      return series.requests;
    case 'tokens':
      return series.input_tokens.map((v, i) => v + (series.output_tokens[i] ?? 0));
    case 'input_tokens':
      return series.input_tokens;
    case 'output_tokens':
      return series.output_tokens;
    case 'cost_usd':
      return series.cost_usd;
  }
}

/** The usage of a subject's keys in one dimension, summed per bucket, ascending. */
function subjectPoints(keys: readonly KeySeries[], dimension: QuotaDimension): UsagePoint[] {
  if (keys.length === 1) {
    const only = keys[0] as KeySeries;
    const values = seriesValues(only, dimension);
    return only.t.map((tsMs, i) => ({ tsMs, value: values[i] ?? 0 }));
  }
  const sums = new Map<number, number>();
  for (const key of keys) {
    const values = seriesValues(key, dimension);
    key.t.forEach((tsMs, i) => sums.set(tsMs, (sums.get(tsMs) ?? 0) + (values[i] ?? 0)));
  }
  return [...sums].map(([tsMs, value]) => ({ tsMs, value })).sort((a, b) => a.tsMs - b.tsMs);
}

function keyOf(pool: string, keyId: string): string {
  return `${pool}\u0000${keyId}`;
}

/** Window starts that quotas need and the bucket series (which starts at `seriesStartMs`) does not cover. */
export function windowStartsBefore(file: HeadroomFile, nowMs: number, seriesStartMs: number): number[] {
  const starts = new Set<number>();
  const visit = (spec: HeadroomFile['pools'][number]['key_quotas'][number]): void => {
    if (spec.window !== 'month' && spec.window !== 'day') return;
    const start = windowBounds(
      {
        kind: 'calendar',
        unit: spec.window,
        timeZone: spec.time_zone,
        ...(spec.anchor_day === undefined ? {} : { anchorDay: spec.anchor_day }),
        ...(spec.anchor_hour === undefined ? {} : { anchorHour: spec.anchor_hour }),
      },
      nowMs,
    ).startMs;
    if (start < seriesStartMs) starts.add(start);
  };
  for (const pool of file.pools) {
    pool.key_quotas.forEach(visit);
    pool.keys.forEach((k) => k.quotas.forEach(visit));
    pool.partitions.forEach((p) => p.quotas.forEach(visit));
  }
  return [...starts];
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
  const { nowMs, bucketMs } = inputs;
  const subjects = buildSubjects(inputs.file, inputs.series, inputs.providerLimits, nowMs);
  const seriesByKey = new Map(inputs.series.map((k) => [keyOf(k.pool, k.key_id), k]));
  const totals = new Map<number, Map<string, UsageBucketRow>>();
  for (const [start, rows] of inputs.totalsSince) {
    totals.set(start, new Map(rows.map((r) => [keyOf(r.pool, r.key_id), r])));
  }

  const results: SubjectForecast[] = [];
  for (const subject of subjects) {
    const keys = subject.keyIds
      .map((id) => seriesByKey.get(keyOf(subject.pool, id)))
      .filter((k): k is KeySeries => k !== undefined);
    const total = { requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
    for (const k of keys) {
      for (let i = 0; i < k.t.length; i++) {
        total.requests += k.requests[i] ?? 0;
        total.input_tokens += k.input_tokens[i] ?? 0;
        total.output_tokens += k.output_tokens[i] ?? 0;
        total.cost_usd += k.cost_usd[i] ?? 0;
      }
    }
    const perRequest = {
      tokens: total.requests > 0 ? (total.input_tokens + total.output_tokens) / total.requests : 0,
      input_tokens: total.requests > 0 ? total.input_tokens / total.requests : 0,
      output_tokens: total.requests > 0 ? total.output_tokens / total.requests : 0,
      cost_usd: total.requests > 0 ? total.cost_usd / total.requests : 0,
    };
    const pointsByDimension = new Map<QuotaDimension, UsagePoint[]>();
    const quotas: QuotaForecast[] = [];
    for (const quota of subject.quotas) {
      let points = pointsByDimension.get(quota.dimension);
      if (points === undefined)
        pointsByDimension.set(quota.dimension, (points = subjectPoints(keys, quota.dimension)));
      quotas.push(forecastQuota(quota, points, subject, totals, nowMs, bucketMs));
    }
    results.push({ subject, quotas, perRequest });
  }

  return {
    subjects: results,
    capacity: poolCapacity(results, nowMs),
    headroom: keyHeadroom(results, inputs.throttling, nowMs),
  };
}

function forecastQuota(
  quota: QuotaDef,
  points: readonly UsagePoint[],
  subject: Subject,
  totals: ReadonlyMap<number, ReadonlyMap<string, UsageBucketRow>>,
  nowMs: number,
  bucketMs: number,
): QuotaForecast {
  if (quota.window.kind === 'rolling') {
    // A rolling window never resets: the question is whether the next full window will exceed the
    // limit, forecast from the recent buckets as history. `used` shows the last window's usage.
    const windowMs = quota.window.seconds * 1000;
    let lastBuckets = 0;
    for (const p of points) if (p.tsMs >= nowMs - windowMs - bucketMs) lastBuckets += p.value;
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
            current: [],
            history: points.filter((p) => p.tsMs < nowMs),
            bucketMs,
            timeZone: quota.timeZone,
          })
        : undefined;
    return {
      quota,
      windowStartMs: nowMs - windowMs,
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
      : windowBounds(quota.window, nowMs);
  let used = 0;
  const sinceStart = totals.get(bounds.startMs);
  if (quota.reported !== undefined) {
    used = quota.limit - quota.reported.remaining;
  } else if (sinceStart !== undefined) {
    for (const id of subject.keyIds) {
      const row = sinceStart.get(keyOf(subject.pool, id));
      if (row !== undefined) used += usageValue(row, quota.dimension);
    }
  } else {
    for (const p of points) if (p.tsMs >= bounds.startMs) used += p.value;
  }
  const firstCurrent = points.findIndex((p) => p.tsMs >= bounds.startMs);
  const split = firstCurrent < 0 ? points.length : firstCurrent;
  const forecast = forecastExhaustion({
    nowMs,
    windowStartMs: bounds.startMs,
    resetAtMs: bounds.resetAtMs,
    limit: quota.limit,
    used: Math.max(0, used),
    current: points.slice(split),
    history: points.slice(0, split),
    bucketMs,
    timeZone: quota.timeZone,
  });
  return { quota, windowStartMs: bounds.startMs, forecast };
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
    let reason = 'no quota known: median weight';
    let exhaustedUntil: number | undefined;
    for (const { q, owner } of constraints) {
      const f = q.forecast;
      if (f.status === 'exhausted' || f.remaining <= 0) {
        if (exhaustedUntil === undefined || f.resetAtMs > exhaustedUntil) exhaustedUntil = f.resetAtMs;
        reason = `${q.quota.id} exhausted until reset`;
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
        reason = `${q.quota.id}: ${Math.round(f.remaining)} left until ${new Date(f.resetAtMs).toISOString()}`;
      }
    }
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
