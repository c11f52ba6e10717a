/**
 * Spilling traffic to fallback pools (other providers) when a pool cannot carry its own demand until
 * its keys reset, even with ideal balancing. Pure: supplies in, spill shares out.
 */
import type { Advice, KeyHeadroom } from './index.ts';

/** What a pool can carry and is asked to carry, in requests per second. */
export interface PoolSupply {
  pool: string;
  /**
   * Requests per second the pool's usable keys can sustain until their tightest quotas reset (the
   * sum of their sustainable rates); undefined when a usable key has no known quota, since then
   * the pool's supply cannot be sized.
   */
  supplyPerSecond: number | undefined;
  /** Requests per second the pool is forecast to receive. */
  demandPerSecond: number;
}

/** A share of the primary pool's traffic (0..1) to send to another pool. */
export interface SpillShare {
  pool: string;
  share: number;
  reason: string;
}

/** A change smaller than this in every share keeps the advice version. */
const SHARE_STEP = 0.005;

/** The supply of a pool from its keys' headroom: usable keys' sustainable rates, summed. */
export function computePoolSupply(
  pool: string,
  keys: readonly KeyHeadroom[],
  demandPerSecond: number,
  nowMs: number,
): PoolSupply {
  let supply: number | undefined = 0;
  for (const key of keys) {
    const out =
      (key.exhaustedUntilMs !== undefined && key.exhaustedUntilMs > nowMs) ||
      (key.coolingDownUntilMs !== undefined && key.coolingDownUntilMs > nowMs);
    if (out) continue;
    if (key.sustainableRatePerSecond === undefined) {
      supply = undefined;
      break;
    }
    supply += Math.max(0, key.sustainableRatePerSecond);
  }
  return { pool, supplyPerSecond: supply, demandPerSecond: Math.max(0, demandPerSecond) };
}

function round(share: number): number {
  return Math.round(share * 1e4) / 1e4;
}

/**
 * The shares of `primary`'s traffic to spill, in the order of `fallbacks`: the primary's deficit
 * (demand beyond what its keys can sustain until reset), each fallback taking at most its own spare
 * headroom (its supply beyond its own demand). Nothing spills when the primary can carry its demand,
 * when its supply cannot be sized, or to a fallback whose supply cannot be.
 */
export function computeSpill(primary: PoolSupply, fallbacks: readonly PoolSupply[]): SpillShare[] {
  const { supplyPerSecond, demandPerSecond } = primary;
  if (supplyPerSecond === undefined || !(demandPerSecond > 0) || supplyPerSecond >= demandPerSecond)
    return [];
  let deficit = demandPerSecond - supplyPerSecond;
  const spill: SpillShare[] = [];
  for (const fallback of fallbacks) {
    if (deficit <= 0) break;
    if (fallback.pool === primary.pool || fallback.supplyPerSecond === undefined) continue;
    const spare = fallback.supplyPerSecond - fallback.demandPerSecond;
    if (!(spare > 0)) continue;
    const carried = Math.min(deficit, spare);
    deficit -= carried;
    const share = round(carried / demandPerSecond);
    if (share <= 0) continue;
    spill.push({
      pool: fallback.pool,
      share,
      reason:
        `${primary.pool} sustains ${supplyPerSecond.toFixed(2)} of ${demandPerSecond.toFixed(2)} req/s until its keys reset; ` +
        `${fallback.pool} has ${spare.toFixed(2)} req/s to spare`,
    });
  }
  return spill;
}

/**
 * The advice with its spill shares; a change in them (a pool added or removed, or a share moving by
 * {@link SHARE_STEP} or more) is a new advice version, so gateways polling with ETags see it and
 * pushes carry it.
 */
export function attachSpill(
  advice: Advice,
  previous: Advice | undefined,
  spill: readonly SpillShare[],
): Advice {
  const { spill: _carried, ...rest } = advice;
  const next: Advice = spill.length === 0 ? rest : { ...rest, spill: [...spill] };
  const before = previous?.spill ?? [];
  const changed =
    before.length !== spill.length ||
    spill.some(
      (s, i) => before[i]?.pool !== s.pool || Math.abs((before[i]?.share ?? 0) - s.share) >= SHARE_STEP,
    );
  if (changed && previous !== undefined && advice.version === previous.version) {
    return { ...next, version: previous.version + 1 };
  }
  if (
    !changed &&
    previous !== undefined &&
    advice.version === previous.version &&
    previous.spill !== undefined
  ) {
    // Unchanged within the step: keep the shares gateways already have, like weights.
    return { ...next, spill: previous.spill };
  }
  return next;
}
