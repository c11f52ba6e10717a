import type { GatewayStrategyOptions } from '../../config/index.ts';
import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
import { isFailure, type KeyChoiceStrategy, type StrategyKey } from './types.ts';

/** A key with nothing but errors keeps this share of its weight, so that it is tried again. */
const MIN_FACTOR = 0.05;

/**
 * Bifrost-style adaptive weights: every `reweight_interval_ms` each key's weight becomes its
 * configured weight times its success rate over the interval just ended (keys without calls keep
 * their factor).
 */
export function createBifrostReweightStrategy(
  keys: readonly StrategyKey[],
  options: Pick<GatewayStrategyOptions, 'reweightIntervalMs'>,
): KeyChoiceStrategy {
  const base = new Map(keys.map((k) => [k.keyId, k.weight]));
  const factor = new Map(keys.map((k) => [k.keyId, 1]));
  const calls = new Map<string, { total: number; failed: number }>();
  const picker = new SmoothWeightedPicker();
  let nextReweightMs: number | undefined;

  const reweightIfDue = (nowMs: number): void => {
    nextReweightMs ??= nowMs + options.reweightIntervalMs;
    if (nowMs < nextReweightMs) return;
    for (const [keyId, counts] of calls) {
      if (counts.total > 0) factor.set(keyId, Math.max(MIN_FACTOR, 1 - counts.failed / counts.total));
    }
    calls.clear();
    const intervals = Math.floor((nowMs - nextReweightMs) / options.reweightIntervalMs) + 1;
    nextReweightMs += intervals * options.reweightIntervalMs;
  };
  const weightOf = (keyId: string): number => (base.get(keyId) ?? 0) * (factor.get(keyId) ?? 1);

  return {
    name: 'bifrost-reweight',
    choose: (nowMs, candidates) => {
      reweightIfDue(nowMs);
      return picker.pick(candidates, weightOf);
    },
    readyAtMs: (_keyId, nowMs) => nowMs,
    observe: (o) => {
      reweightIfDue(o.atMs);
      const counts = calls.get(o.keyId) ?? { total: 0, failed: 0 };
      counts.total++;
      if (isFailure(o.outcome)) counts.failed++;
      calls.set(o.keyId, counts);
    },
    describe: () => ({
      source: 'error rate',
      weights: normaliseWeights(new Map([...base.keys()].map((k) => [k, weightOf(k)]))),
    }),
  };
}
