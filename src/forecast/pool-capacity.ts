import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { PoolCapacityForecast, PoolKeyCapacity } from './types.ts';

/**
 * Whether a pool runs dry before its keys reset even with ideal balancing, and when.
 *
 * Demand is a constant `demandRatePerMs` from `nowMs`. Ideal balancing spends the key whose window
 * resets first (earliest deadline first: its leftover is lost at the reset, the others' is not), which
 * serves the most demand any routing can. A usable key holds `remaining` until its reset; every key
 * (usable or cooling down) holds `limit` after its reset. When a key's `limit` is unknown its reset is
 * relief of unknown size, so nothing is claimed after it. The forecast looks as far as the last reset;
 * with no reset ahead at all, until the remaining capacity is spent. `shortfall` is the demand up to
 * the last reset that no routing can serve.
 */
export function forecastPoolCapacity(
  keys: ReadonlyArray<PoolKeyCapacity>,
  demandRatePerMs: number,
  nowMs: number,
): PoolCapacityForecast {
  if (!Number.isFinite(demandRatePerMs) || demandRatePerMs < 0) {
    throw new HeadroomError(
      ErrorCode.badRequest,
      `demandRatePerMs: invalid value ${JSON.stringify(demandRatePerMs)}; expected a finite number >= 0`,
      { statusCode: 400, details: { field: 'demandRatePerMs', value: demandRatePerMs } },
    );
  }
  // Capacity now, expiring at each key's reset; refills from each reset on.
  const chunks: Array<{ amount: number; expiresAtMs: number }> = [];
  const refills: Array<{ atMs: number; amount: number }> = [];
  let capacityBeforeEarliestReset = 0;
  let horizonMs = Number.NEGATIVE_INFINITY;
  for (const key of keys) {
    const resetsAhead = Number.isFinite(key.resetAtMs) && key.resetAtMs > nowMs;
    if (key.usable && key.remaining > 0) {
      capacityBeforeEarliestReset += key.remaining;
      chunks.push({
        amount: key.remaining,
        expiresAtMs: resetsAhead ? key.resetAtMs : Number.POSITIVE_INFINITY,
      });
    }
    if (resetsAhead) {
      horizonMs = Math.max(horizonMs, key.resetAtMs);
      const amount = key.limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, key.limit);
      refills.push({ atMs: key.resetAtMs, amount });
    }
  }
  if (!(demandRatePerMs > 0))
    return { runsDry: false, etaMs: null, capacityBeforeEarliestReset, shortfall: 0, demandUntilHorizon: 0 };
  if (refills.length === 0) horizonMs = Number.POSITIVE_INFINITY;
  chunks.sort((a, b) => a.expiresAtMs - b.expiresAtMs);
  refills.sort((a, b) => a.atMs - b.atMs);

  let tMs = nowMs;
  let chunk = 0;
  let refill = 0;
  // Refilled capacity never expires within the horizon, so it is spent last, as one pool.
  let refilled = 0;
  let dryAtMs: number | null = null;
  let shortfall = 0;
  while (tMs < horizonMs) {
    while (
      chunk < chunks.length &&
      ((chunks[chunk]?.expiresAtMs ?? 0) <= tMs || (chunks[chunk]?.amount ?? 0) <= 0)
    ) {
      chunk += 1;
    }
    while (refill < refills.length && (refills[refill]?.atMs ?? 0) <= tMs) {
      refilled += refills[refill]?.amount ?? 0;
      refill += 1;
    }
    const current = chunks[chunk];
    const nextRefillMs = refills[refill]?.atMs ?? Number.POSITIVE_INFINITY;
    const untilMs = Math.min(horizonMs, nextRefillMs, current?.expiresAtMs ?? Number.POSITIVE_INFINITY);
    if (current !== undefined) {
      const needed = demandRatePerMs * (untilMs - tMs);
      if (current.amount > needed) {
        current.amount -= needed;
        tMs = untilMs;
      } else {
        tMs += current.amount / demandRatePerMs;
        current.amount = 0;
      }
      continue;
    }
    if (refilled === Number.POSITIVE_INFINITY) break;
    if (refilled <= 0) {
      // Dry until the next refill: that demand goes unserved whatever the routing.
      dryAtMs ??= Math.round(tMs);
      if (!Number.isFinite(untilMs)) {
        shortfall = Number.POSITIVE_INFINITY;
        break;
      }
      shortfall += demandRatePerMs * (untilMs - tMs);
      tMs = untilMs;
      continue;
    }
    const needed = demandRatePerMs * (untilMs - tMs);
    if (refilled > needed) {
      refilled -= needed;
      tMs = untilMs;
    } else {
      tMs += refilled / demandRatePerMs;
      refilled = 0;
    }
  }
  const demandUntilHorizon = Number.isFinite(horizonMs)
    ? demandRatePerMs * Math.max(0, horizonMs - nowMs)
    : Number.POSITIVE_INFINITY;
  return {
    runsDry: dryAtMs !== null,
    etaMs: dryAtMs,
    capacityBeforeEarliestReset,
    shortfall,
    demandUntilHorizon,
  };
}
