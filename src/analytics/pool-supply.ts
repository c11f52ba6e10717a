import { computePoolSupply, type KeyHeadroom, type PoolSupply } from '../rebalance/index.ts';
import type { SubjectForecast } from './cycle.ts';

/**
 * Requests per second a pool is forecast to receive: for each key, the forecast usage rate of its
 * quotas converted to requests with the key's usage per request (the busiest quota wins, as the
 * same requests count against all of them), summed over the pool's keys.
 */
export function poolDemandPerSecond(subjects: readonly SubjectForecast[], pool: string): number {
  let demand = 0;
  for (const s of subjects) {
    if (s.subject.kind !== 'key' || s.subject.pool !== pool) continue;
    let keyDemand = 0;
    for (const q of s.quotas) {
      const ratePerMs = q.forecast.ratePerMs;
      if (ratePerMs === undefined || !(ratePerMs > 0)) continue;
      const perRequest = q.quota.dimension === 'requests' ? 1 : s.perRequest[q.quota.dimension];
      if (!(perRequest > 0)) continue;
      keyDemand = Math.max(keyDemand, (ratePerMs * 1000) / perRequest);
    }
    demand += keyDemand;
  }
  return demand;
}

/** Every pool's supply and demand, for spilling to fallback pools. */
export function poolSupplies(
  subjects: readonly SubjectForecast[],
  headroom: ReadonlyMap<string, readonly KeyHeadroom[]>,
  nowMs: number,
): Map<string, PoolSupply> {
  const supplies = new Map<string, PoolSupply>();
  for (const [pool, keys] of headroom) {
    supplies.set(pool, computePoolSupply(pool, keys, poolDemandPerSecond(subjects, pool), nowMs));
  }
  return supplies;
}
