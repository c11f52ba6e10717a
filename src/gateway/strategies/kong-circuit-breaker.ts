import type { GatewayStrategyOptions } from '../../config/index.ts';
import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
import { isFailure, type KeyChoiceStrategy, type StrategyKey } from './types.ts';

/**
 * Kong's passive health check as a circuit breaker: `failure_threshold` consecutive failures (429,
 * 5xx, timeouts) take a key out for `open_ms`; a success resets the count. Traffic is weighted
 * round-robin over the configured weights, as Kong's upstream targets are.
 */
export function createKongCircuitBreakerStrategy(
  keys: readonly StrategyKey[],
  options: Pick<GatewayStrategyOptions, 'failureThreshold' | 'openMs'>,
): KeyChoiceStrategy {
  const weights = new Map(keys.map((k) => [k.keyId, k.weight]));
  const consecutive = new Map<string, number>();
  const openUntil = new Map<string, number>();
  const picker = new SmoothWeightedPicker();
  const readyAtMs = (keyId: string, nowMs: number): number => Math.max(nowMs, openUntil.get(keyId) ?? 0);
  return {
    name: 'kong-circuit-breaker',
    choose: (nowMs, candidates) =>
      picker.pick(candidates, (keyId) => (readyAtMs(keyId, nowMs) > nowMs ? 0 : (weights.get(keyId) ?? 0))),
    readyAtMs,
    observe: (o) => {
      if (!isFailure(o.outcome)) {
        if (o.outcome === 'ok') consecutive.set(o.keyId, 0);
        return;
      }
      const count = (consecutive.get(o.keyId) ?? 0) + 1;
      if (count >= options.failureThreshold) {
        openUntil.set(o.keyId, o.atMs + options.openMs);
        consecutive.set(o.keyId, 0);
      } else {
        consecutive.set(o.keyId, count);
      }
    },
    describe: (nowMs) => ({
      source: 'defaults',
      weights: normaliseWeights(
        new Map([...weights].map(([k, w]) => [k, readyAtMs(k, nowMs) > nowMs ? 0 : w])),
      ),
    }),
  };
}
