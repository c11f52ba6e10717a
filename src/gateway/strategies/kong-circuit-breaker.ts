import type { GatewayStrategyOptions } from '../../config/index.ts';
import { createHoldOutStrategy } from './hold-out.ts';
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
  const consecutive = new Map<string, number>();
  return createHoldOutStrategy('kong-circuit-breaker', keys, (o, holdUntil) => {
    if (!isFailure(o.outcome)) {
      if (o.outcome === 'ok') consecutive.set(o.keyId, 0);
      return;
    }
    const count = (consecutive.get(o.keyId) ?? 0) + 1;
    if (count >= options.failureThreshold) {
      holdUntil(o.atMs + options.openMs);
      consecutive.set(o.keyId, 0);
    } else {
      consecutive.set(o.keyId, count);
    }
  });
}
