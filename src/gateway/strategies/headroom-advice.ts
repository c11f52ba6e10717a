import type { PoolAdvice } from './advice.ts';
import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
import type { KeyChoiceStrategy, StrategyKey } from './types.ts';

/**
 * headroom's advice: the advised weights until the advice's `valid_until`, the configured defaults
 * before the first advice and after it expires (headroom unreachable or silent). A key whose
 * `until` lies ahead (exhausted or cooling down) is not used until then, also after the advice
 * expires: a reset time stays true when headroom goes away. A key the advice does not list, or
 * whose `until` has passed, gets the median advised weight. When every allowed key has weight 0,
 * the ones not held out by an `until` share the traffic rather than the client getting a 429.
 */
export function createHeadroomAdviceStrategy(keys: readonly StrategyKey[]): KeyChoiceStrategy {
  const defaults = new Map(Object.entries(normaliseWeights(new Map(keys.map((k) => [k.keyId, k.weight])))));
  const picker = new SmoothWeightedPicker();
  let advice: PoolAdvice | undefined;
  let medianWeight = 0;

  const heldUntil = (keyId: string): number => advice?.keys.get(keyId)?.untilMs ?? 0;
  const weightOf = (keyId: string, nowMs: number): number => {
    if (heldUntil(keyId) > nowMs) return 0;
    if (advice === undefined || nowMs > advice.validUntilMs) return defaults.get(keyId) ?? 0;
    const entry = advice.keys.get(keyId);
    if (entry === undefined || entry.untilMs !== undefined) return medianWeight;
    return entry.weight;
  };

  return {
    name: 'headroom',
    choose: (nowMs, candidates) =>
      picker.pick(candidates, (keyId) => weightOf(keyId, nowMs)) ??
      picker.pick(candidates, (keyId) => (heldUntil(keyId) > nowMs ? 0 : 1)),
    readyAtMs: (keyId, nowMs) => Math.max(nowMs, heldUntil(keyId)),
    observe: () => {},
    describe: (nowMs) => ({
      source:
        advice === undefined
          ? 'defaults (no advice)'
          : nowMs > advice.validUntilMs
            ? `defaults (advice v${advice.version} expired)`
            : `advice v${advice.version}`,
      weights: normaliseWeights(new Map(keys.map((k) => [k.keyId, weightOf(k.keyId, nowMs)]))),
    }),
    applyAdvice: (next) => {
      advice = next;
      const positive = [...next.keys.values()]
        .filter((k) => k.untilMs === undefined && k.weight > 0)
        .map((k) => k.weight)
        .sort((a, b) => a - b);
      medianWeight = positive.length === 0 ? 1 : (positive[Math.floor(positive.length / 2)] as number);
    },
    confirmAdvice: (nowMs) => {
      // A 304 says the advice is still headroom's current one: it stays valid for as long again.
      if (advice === undefined) return;
      const lifetimeMs = Math.max(0, advice.validUntilMs - advice.generatedAtMs);
      advice = { ...advice, validUntilMs: Math.max(advice.validUntilMs, nowMs + lifetimeMs) };
    },
  };
}
