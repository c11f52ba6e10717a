import type { KeyHeadroom } from './headroom.ts';
import type { SpillShare } from './fallback.ts';
import type { PoolState } from './pool-state.ts';

/**
 * Rebalance advice: how a gateway should weight the keys of a pool. Pure: key headroom in, advice out.
 */

export type KeyState = 'active' | 'exhausted' | 'cooling_down' | 'unknown';

export interface AdviceKey {
  key_id: string;
  weight: number;
  state: KeyState;
  until?: number;
  reason: string;
}

export interface Advice {
  pool: string;
  version: number;
  generated_at: number;
  valid_until: number;
  keys: AdviceKey[];
  /** `runs_dry` when the pool runs out before its quotas reset even with ideal balancing. */
  pool_state: 'ok' | 'runs_dry';
  /** When it runs dry, epoch ms. */
  dry_at?: number;
  /** How short it falls before the reset on the quota that runs dry first. */
  short_by?: { quota_id: string; dimension: string; amount: number; share: number };
  /** Shares of this pool's traffic to send to fallback pools (`fallback_pools`) while it cannot carry it. */
  spill?: SpillShare[];
}

export interface AdviceSettings {
  /** Weight of the new target against the previous weights, 0..1 (1 = no damping). */
  damping: number;
  /** How long a gateway may use the advice before falling back to its own defaults. */
  validForMs: number;
}

const WEIGHT_EPSILON = 1e-9;
/** A change smaller than this in every weight keeps the version (and the ETag) unchanged. */
const VERSION_STEP = 0.005;

function round(weight: number): number {
  return Math.round(weight * 1e6) / 1e6;
}

/**
 * Weights proportional to each key's sustainable rate until its reset; zero for exhausted or cooling
 * keys until their reset; keys with no known quota get the median rate of the known ones; damped
 * against the previous advice so that weights do not flap; summing to 1 over usable keys (evenly when
 * none of them has any headroom left). `poolState` says whether the pool runs dry before its reset.
 */
export function computeAdvice(
  pool: string,
  keys: readonly KeyHeadroom[],
  previous: Advice | undefined,
  nowMs: number,
  settings: AdviceSettings,
  poolState: PoolState = { state: 'ok' },
): Advice {
  const known = keys
    .map((k) => k.sustainableRatePerSecond)
    .filter((r): r is number => r !== undefined && r > 0)
    .sort((a, b) => a - b);
  const median = known.length === 0 ? 1 : (known[Math.floor(known.length / 2)] as number);

  const target = new Map<string, number>();
  const entries: AdviceKey[] = [];
  for (const key of keys) {
    let state: KeyState = key.sustainableRatePerSecond === undefined ? 'unknown' : 'active';
    let until: number | undefined;
    let rate = key.sustainableRatePerSecond ?? median;
    if (key.exhaustedUntilMs !== undefined && key.exhaustedUntilMs > nowMs) {
      state = 'exhausted';
      until = key.exhaustedUntilMs;
      rate = 0;
    } else if (key.coolingDownUntilMs !== undefined && key.coolingDownUntilMs > nowMs) {
      state = 'cooling_down';
      until = key.coolingDownUntilMs;
      rate = 0;
    }
    target.set(key.keyId, Math.max(0, rate));
    entries.push({
      key_id: key.keyId,
      weight: 0,
      state,
      ...(until === undefined ? {} : { until }),
      reason: key.reason,
    });
  }

  const normalise = (weights: Map<string, number>): Map<string, number> => {
    const total = [...weights.values()].reduce((s, w) => s + w, 0);
    return new Map([...weights].map(([k, w]) => [k, total > WEIGHT_EPSILON ? w / total : 0]));
  };
  // Usable keys with no headroom left still share the traffic rather than leave a gateway with no key.
  const usable = entries.filter((e) => e.state === 'active' || e.state === 'unknown');
  if ([...target.values()].every((w) => w <= WEIGHT_EPSILON)) for (const e of usable) target.set(e.key_id, 1);
  const targetShare = normalise(target);
  const previousWeights = new Map(previous?.keys.map((k) => [k.key_id, k.weight]) ?? []);
  const damped = new Map<string, number>();
  for (const entry of entries) {
    const goal = targetShare.get(entry.key_id) ?? 0;
    const before = previousWeights.get(entry.key_id);
    // Unusable keys drop to zero at once; damping only smooths moves between usable keys.
    const value =
      goal === 0 || before === undefined ? goal : settings.damping * goal + (1 - settings.damping) * before;
    damped.set(entry.key_id, value);
  }
  const finalWeights = normalise(damped);
  for (const entry of entries) entry.weight = round(finalWeights.get(entry.key_id) ?? 0);
  entries.sort((a, b) => a.key_id.localeCompare(b.key_id));

  const state = {
    pool_state: poolState.state,
    ...(poolState.dryAtMs === undefined ? {} : { dry_at: poolState.dryAtMs }),
    ...(poolState.shortfall === undefined
      ? {}
      : {
          short_by: {
            quota_id: poolState.shortfall.quotaId,
            dimension: poolState.shortfall.dimension,
            amount: Math.round(poolState.shortfall.amount * 100) / 100,
            share: Math.round(poolState.shortfall.share * 1e4) / 1e4,
          },
        }),
  };
  const changed =
    previous === undefined ||
    previous.pool_state !== state.pool_state ||
    // A dry time that moves by more than the advice's validity is news for whoever polls.
    Math.abs((previous.dry_at ?? 0) - (state.dry_at ?? 0)) > settings.validForMs ||
    previous.keys.length !== entries.length ||
    entries.some((e) => {
      const before = previous.keys.find((k) => k.key_id === e.key_id);
      return (
        before === undefined || before.state !== e.state || Math.abs(before.weight - e.weight) >= VERSION_STEP
      );
    });
  if (!changed) {
    // Same version, same body: the ETag names the version.
    return { ...previous, generated_at: nowMs, valid_until: nowMs + settings.validForMs };
  }
  return {
    pool,
    version: (previous?.version ?? 0) + 1,
    generated_at: nowMs,
    valid_until: nowMs + settings.validForMs,
    keys: entries,
    ...state,
  };
}
