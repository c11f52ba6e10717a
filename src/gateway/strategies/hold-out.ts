import type { GatewayStrategyName } from '../../config/index.ts';
import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
import type { KeyChoiceStrategy, StrategyKey, UpstreamOutcome } from './types.ts';

/**
 * The shape of the strategies that weight keys by their defaults and take a key out for a while
 * after some failures (LiteLLM's cooldown, Kong's circuit breaker): only the rule that decides
 * when a key is held out differs, given as `observe`.
 */
export function createHoldOutStrategy(
  name: GatewayStrategyName,
  keys: readonly StrategyKey[],
  observe: (outcome: UpstreamOutcome, holdUntil: (untilMs: number) => void) => void,
): KeyChoiceStrategy {
  const weights = new Map(keys.map((k) => [k.keyId, k.weight]));
  const heldUntil = new Map<string, number>();
  const picker = new SmoothWeightedPicker();
  const readyAtMs = (keyId: string, nowMs: number): number => Math.max(nowMs, heldUntil.get(keyId) ?? 0);
  const weightAt = (keyId: string, nowMs: number): number =>
    readyAtMs(keyId, nowMs) > nowMs ? 0 : (weights.get(keyId) ?? 0);
  return {
    name,
    choose: (nowMs, candidates) => picker.pick(candidates, (keyId) => weightAt(keyId, nowMs)),
    readyAtMs,
    observe: (outcome) => observe(outcome, (untilMs) => heldUntil.set(outcome.keyId, untilMs)),
    describe: (nowMs) => ({
      source: 'defaults',
      weights: normaliseWeights(new Map([...weights.keys()].map((k) => [k, weightAt(k, nowMs)]))),
    }),
  };
}
