import type { GatewayStrategyName } from '../../config/index.ts';
import type { Outcome } from '../../telemetry/index.ts';
import type { PoolAdvice } from './advice.ts';
import type { SimulatorState } from './oracle.ts';

/** A key as every strategy sees it: its alias and what was configured about it. */
export interface StrategyKey {
  readonly keyId: string;
  /** Default weight (configured `weight`, else `requests_per_minute`, else 1). */
  readonly weight: number;
  /** Failover order, lower first. */
  readonly priority: number;
}

/** What one upstream call through a key ended with; every strategy is fed every one. */
export interface UpstreamOutcome {
  readonly keyId: string;
  /** When the answer (or the failure) arrived, epoch ms. */
  readonly atMs: number;
  /** `keypool.outcome` of the call. */
  readonly outcome: Outcome;
  readonly statusCode?: number;
  /** The wait the upstream asked for (Retry-After and friends), in ms. */
  readonly retryAfterMs?: number;
}

/**
 * How a pool picks a key. Pure: time is an argument, randomness is not used (the smooth weighted
 * round-robin is deterministic), and every outcome is fed back through {@link observe}. The
 * gateway's own rule (cooldown on a 429, one retry on another key) is applied around it by the
 * key router, the same for every strategy.
 */
export interface KeyChoiceStrategy {
  readonly name: GatewayStrategyName;
  /** One of `candidates` (keys the gateway's rule allows now), or undefined when the strategy uses none of them. */
  choose(nowMs: number, candidates: readonly string[]): string | undefined;
  /** Earliest time the strategy would use `keyId` again (at or before `nowMs`: now). */
  readyAtMs(keyId: string, nowMs: number): number;
  observe(outcome: UpstreamOutcome): void;
  /** The weights the strategy would use now, for the admin view and metrics. */
  describe(nowMs: number): StrategyView;
  /** `headroom` only: new advice (polled or pushed). */
  applyAdvice?(advice: PoolAdvice, nowMs: number): void;
  /** `headroom` only: headroom answered 304, the advice held is still current. */
  confirmAdvice?(nowMs: number): void;
  /** `oracle` only: the simulator's current buckets. */
  applySimulatorState?(state: SimulatorState, nowMs: number): void;
}

export interface StrategyView {
  /** Where the weights come from, e.g. `defaults`, `advice v7`, `simulator`. */
  readonly source: string;
  readonly weights: Readonly<Record<string, number>>;
}

/** A failure that the gateway's rule and most strategies count against a key. */
export function isFailure(outcome: Outcome): boolean {
  return outcome !== 'ok' && outcome !== 'client_error';
}

export function isRateLimit(outcome: Outcome): boolean {
  return outcome === 'rate_limited' || outcome === 'quota_exhausted';
}
