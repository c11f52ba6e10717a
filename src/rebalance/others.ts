import { RATE_WINDOW_MAX_MS } from './headroom.ts';

/** What is known about a shared partition quota's usage by this pool and by everyone else. */
export interface SharedUsageEvidence {
  nowMs: number;
  windowMs: number;
  resetAtMs: number;
  limit: number;
  /**
   * Everyone's usage in the current window as the provider reported it (`limit - remaining` from the
   * latest headers); undefined for a configured limit, where headroom sees only the spans it receives.
   */
  reportedUsed?: number;
  /**
   * This pool's usage on the partition so far in the window, and its admitted rate now, per ms
   * (calls the provider refused are not usage the partition granted).
   */
  ownUsed: number;
  ownRatePerMs: number;
  /** Other pools drawing on the same partition: usage so far, rate now, expected usage until reset. */
  otherPools: ReadonlyArray<{ used: number; ratePerMs: number; untilReset: number }>;
}

/**
 * What is left of a shared quota after everyone's usage so far, and the forecast usage of everyone
 * but this pool: other pools from their own forecasts, and consumers headroom does not route from what
 * the provider reports beyond every pool's spans.
 *
 * For a rate bucket the reported deficit over the window is everyone's rate: exact for a sliding
 * window counter, and for a refilling token bucket it is zero while the bucket keeps up and grows
 * towards the refill rate as the bucket empties, which is what matters for steering. For a longer
 * window the outside usage so far is spread over the time elapsed and carried on to the reset.
 */
export function forecastSharedUsage(evidence: SharedUsageEvidence): {
  remaining: number;
  others: { ratePerMs: number; untilReset: number };
} {
  const { nowMs, windowMs, resetAtMs, limit, reportedUsed } = evidence;
  let poolsUsed = 0;
  let poolsRatePerMs = 0;
  let poolsUntilReset = 0;
  for (const p of evidence.otherPools) {
    poolsUsed += Math.max(0, p.used);
    poolsRatePerMs += Math.max(0, p.ratePerMs);
    poolsUntilReset += Math.max(0, p.untilReset);
  }
  const toResetMs = Math.max(0, resetAtMs - nowMs);
  if (reportedUsed === undefined) {
    return {
      remaining: Math.max(0, limit - evidence.ownUsed - poolsUsed),
      others: { ratePerMs: poolsRatePerMs, untilReset: poolsUntilReset },
    };
  }
  let outsideRatePerMs: number;
  if (windowMs <= RATE_WINDOW_MAX_MS) {
    outsideRatePerMs = Math.max(0, reportedUsed / windowMs - evidence.ownRatePerMs - poolsRatePerMs);
  } else {
    const elapsedMs = Math.max(60_000, nowMs - (resetAtMs - windowMs));
    outsideRatePerMs = Math.max(0, reportedUsed - evidence.ownUsed - poolsUsed) / elapsedMs;
  }
  return {
    remaining: Math.max(0, limit - reportedUsed),
    others: {
      ratePerMs: poolsRatePerMs + outsideRatePerMs,
      untilReset: poolsUntilReset + outsideRatePerMs * toResetMs,
    },
  };
}
