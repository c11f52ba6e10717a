import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
import type { KeyChoiceStrategy, StrategyKey, StrategyView } from './types.ts';

/** Weights proportional to the configured limits (or weights); blind to every outcome. */
export function createStaticStrategy(keys: readonly StrategyKey[]): KeyChoiceStrategy {
  return createFixedWeightStrategy('static', keys, (key) => key.weight);
}

/** Every key in turn, whatever its limits. */
export function createRoundRobinStrategy(keys: readonly StrategyKey[]): KeyChoiceStrategy {
  return createFixedWeightStrategy('round-robin', keys, () => 1);
}

function createFixedWeightStrategy(
  name: 'static' | 'round-robin',
  keys: readonly StrategyKey[],
  weightOf: (key: StrategyKey) => number,
): KeyChoiceStrategy {
  const weights = new Map(keys.map((k) => [k.keyId, weightOf(k)]));
  const picker = new SmoothWeightedPicker();
  const view: StrategyView = { source: 'defaults', weights: normaliseWeights(weights) };
  return {
    name,
    choose: (_nowMs, candidates) => picker.pick(candidates, (keyId) => weights.get(keyId) ?? 0),
    readyAtMs: (_keyId, nowMs) => nowMs,
    observe: () => {},
    describe: () => view,
  };
}
