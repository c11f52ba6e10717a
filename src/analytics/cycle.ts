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
import type { ThrottlingRow, UsageBucketRow } from '../store/index.ts';
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
  knownKeys: Parameters<typeof buildSubjects>[1];
  providerLimits: Parameters<typeof buildSubjects>[2];
  buckets: readonly UsageBucketRow[];
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
  const subjects = buildSubjects(inputs.file, inputs.knownKeys, inputs.providerLimits, nowMs);
  const seriesByKey = new Map<string, UsageBucketRow[]>();
  for (const row of inputs.buckets) {
    const k = keyOf(row.pool, row.key_id);
    let list = seriesByKey.get(k);
    if (list === undefined) seriesByKey.set(k, (list = []));
    list.push(row);
  }
  const totals = new Map<number, Map<string, UsageBucketRow>>();
  for (const [start, rows] of inputs.totalsSince) {
    totals.set(start, new Map(rows.map((r) => [keyOf(r.pool, r.key_id), r])));
  }

  const results: SubjectForecast[] = [];
  for (const subject of subjects) {
    const rows = subject.keyIds.flatMap((id) => seriesByKey.get(keyOf(subject.pool, id)) ?? []);
    const total = { requests: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
    for (const r of rows) {
      total.requests += r.requests;
      total.input_tokens += r.input_tokens;
      total.output_tokens += r.output_tokens;
      total.cost_usd += r.cost_usd;
    }
    const perRequest = {
      tokens: total.requests > 0 ? (total.input_tokens + total.output_tokens) / total.requests : 0,
      input_tokens: total.requests > 0 ? total.input_tokens / total.requests : 0,
      output_tokens: total.requests > 0 ? total.output_tokens / total.requests : 0,
      cost_usd: total.requests > 0 ? total.cost_usd / total.requests : 0,
    };
    const quotas: QuotaForecast[] = [];
    for (const quota of subject.quotas) {
      const series = new Map<number, number>();
      for (const r of rows) series.set(r.t, (series.get(r.t) ?? 0) + usageValue(r, quota.dimension));
      const points: UsagePoint[] = [...series]
        .map(([tsMs, value]) => ({ tsMs, value }))
        .sort((a, b) => a.tsMs - b.tsMs);
      const bounds =
        quota.reported !== undefined
          ? windowBounds(quota.window, nowMs, {
              resetAtMs: quota.reported.resetAtMs,
              windowSeconds: quota.reported.windowSeconds,
            })
          : windowBounds(quota.window, nowMs);
      let used: number;
      if (quota.reported !== undefined) {
        used = quota.limit - quota.reported.remaining;
      } else if (quota.window.kind === 'rolling') {
        // Buckets are coarser than a short rolling window: scale the latest bucket to the window.
        const last = points.at(-1);
        used =
          last !== undefined && last.tsMs >= nowMs - 2 * bucketMs
            ? (last.value * quota.window.seconds * 1000) / bucketMs
            : 0;
      } else {
        const sinceStart = totals.get(bounds.startMs);
        if (sinceStart !== undefined) {
          let sum = 0;
          for (const id of subject.keyIds) {
            const row = sinceStart.get(keyOf(subject.pool, id));
            if (row !== undefined) sum += usageValue(row, quota.dimension);
          }
          used = sum;
        } else {
          used = points.filter((p) => p.tsMs >= bounds.startMs).reduce((s, p) => s + p.value, 0);
        }
      }
      const forecast = forecastExhaustion({
        nowMs,
        windowStartMs: bounds.startMs,
        resetAtMs: bounds.resetAtMs,
        limit: quota.limit,
        used: Math.max(0, used),
        current: points.filter((p) => p.tsMs >= bounds.startMs),
        history: points.filter((p) => p.tsMs < bounds.startMs),
        bucketMs,
        timeZone: quota.timeZone,
      });
      quotas.push({ quota, windowStartMs: bounds.startMs, forecast });
    }
    results.push({ subject, quotas, perRequest });
  }

  return {
    subjects: results,
    capacity: poolCapacity(results, nowMs),
    headroom: keyHeadroom(results, inputs.throttling, nowMs),
  };
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
