/**
 * Rebalance advice: how a gateway should weight the keys of a pool. Pure: key headroom in, advice out.
 */

import type { SpillShare } from './fallback.ts';

export type KeyState = 'active' | 'exhausted' | 'cooling_down' | 'unknown';

/** What the analytics cycle knows about one key's headroom. */
export interface KeyHeadroom {
  keyId: string;
  /**
   * Sustainable request rate until the key's tightest quota resets (remaining / time to reset, per
   * dimension, converted to requests with the key's usage per request), per second. Undefined when
   * no quota of the key is known.
   */
  sustainableRatePerSecond: number | undefined;
  /** Exhausted (a quota at its limit, or quota_exhausted answers) until this time. */
  exhaustedUntilMs?: number;
  /** Cooling down (rate limited with a retry-after) until this time. */
  coolingDownUntilMs?: number;
  /** Why, for humans: the quota that decides. */
  reason: string;
}

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
 * against the previous advice so that weights do not flap; summing to 1 over usable keys.
 */
export function computeAdvice(
  pool: string,
  keys: readonly KeyHeadroom[],
  previous: Advice | undefined,
  nowMs: number,
  settings: AdviceSettings,
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

  const changed =
    previous === undefined ||
    previous.keys.length !== entries.length ||
    entries.some((e) => {
      const before = previous.keys.find((k) => k.key_id === e.key_id);
      return (
        before === undefined || before.state !== e.state || Math.abs(before.weight - e.weight) >= VERSION_STEP
      );
    });
  if (!changed) {
    return { ...previous, generated_at: nowMs, valid_until: nowMs + settings.validForMs };
  }
  return {
    pool,
    version: (previous?.version ?? 0) + 1,
    generated_at: nowMs,
    valid_until: nowMs + settings.validForMs,
    keys: entries,
  };
}

export { renderAdviceJson } from './advice-json.ts';
export { attachSpill, computePoolSupply, computeSpill } from './fallback.ts';
export type { PoolSupply, SpillShare } from './fallback.ts';
export type { AdviceJson } from './advice-json.ts';
export { decidePush, nextReenableAtMs, reenableExpiredKeys } from './push-plan.ts';
export type { PushDecision, PushTrigger, TargetPushState } from './push-plan.ts';
export { createPusher } from './push.ts';
export type { Pusher, PushStatus } from './push.ts';
export {
  createPushTarget,
  haproxyCommands,
  HAPROXY_MAX_WEIGHT,
  PUSH_TARGET_FACTORIES,
  scaleHaproxyWeights,
  queryRuntimeApi,
  sendRuntimeCommand,
} from './targets/index.ts';
export type { PushApplied, PushTarget } from './targets/index.ts';
