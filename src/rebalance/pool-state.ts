import type { QuotaDimension } from '../forecast/index.ts';

/** One capacity forecast of a pool (one quota over all its keys), as the advice reads it. */
export interface PoolCapacityState {
  quotaId: string;
  dimension: QuotaDimension;
  /** The pool runs out before the quota resets even with ideal balancing. */
  runsDry: boolean;
  /** When, epoch ms; null when it does not run dry. */
  dryAtMs: number | null;
  /** Demand expected before the reset that no balancing can serve, in the quota's units. */
  shortfall: number;
  /** Demand expected before the reset, in the quota's units. */
  demandUntilReset: number;
}

/** Whether rebalancing can keep the pool going until its quotas reset. */
export interface PoolState {
  state: 'ok' | 'runs_dry';
  /** When the pool runs dry, epoch ms (the earliest of its quotas). */
  dryAtMs?: number;
  /** `dryAtMs - nowMs`: how long someone has to add keys or raise quotas. */
  leadTimeMs?: number;
  /** How short the pool falls on the quota that runs dry first. */
  shortfall?: { quotaId: string; dimension: QuotaDimension; amount: number; share: number };
}

/**
 * The pool's state from its capacity forecasts: `runs_dry` as soon as one quota runs out before its
 * reset with ideal balancing (then no weighting helps), naming the one that runs out first.
 */
export function decidePoolState(capacities: readonly PoolCapacityState[], nowMs: number): PoolState {
  let first: PoolCapacityState | undefined;
  for (const c of capacities) {
    if (!c.runsDry || c.dryAtMs === null) continue;
    if (first === undefined || c.dryAtMs < (first.dryAtMs ?? Number.POSITIVE_INFINITY)) first = c;
  }
  if (first === undefined || first.dryAtMs === null) return { state: 'ok' };
  const amount = Math.max(0, first.shortfall);
  return {
    state: 'runs_dry',
    dryAtMs: first.dryAtMs,
    leadTimeMs: Math.max(0, first.dryAtMs - nowMs),
    shortfall: {
      quotaId: first.quotaId,
      dimension: first.dimension,
      amount,
      share: first.demandUntilReset > 0 ? Math.min(1, amount / first.demandUntilReset) : 0,
    },
  };
}
