import type { GatewayStrategyName, GatewayStrategyOptions } from '../../config/index.ts';
import { createApiparkPriorityStrategy } from './apipark-priority.ts';
import { createBifrostReweightStrategy } from './bifrost-reweight.ts';
import { createHeadroomAdviceStrategy } from './headroom-advice.ts';
import { createKongCircuitBreakerStrategy } from './kong-circuit-breaker.ts';
import { createLitellmCooldownStrategy } from './litellm-cooldown.ts';
import { createOracleStrategy } from './oracle.ts';
import { createRoundRobinStrategy, createStaticStrategy } from './static-weights.ts';
import type { KeyChoiceStrategy, StrategyKey } from './types.ts';

/** The defaults of `strategy_options`, for strategies built in code (benchmarks, tests). */
export const DEFAULT_STRATEGY_OPTIONS: GatewayStrategyOptions = Object.freeze({
  allowedFails: 3,
  cooldownMs: 5_000,
  failureThreshold: 3,
  openMs: 10_000,
  reweightIntervalMs: 5_000,
});

const STRATEGIES: Readonly<
  Record<
    GatewayStrategyName,
    (keys: readonly StrategyKey[], options: GatewayStrategyOptions) => KeyChoiceStrategy
  >
> = {
  headroom: (keys) => createHeadroomAdviceStrategy(keys),
  'round-robin': (keys) => createRoundRobinStrategy(keys),
  static: (keys) => createStaticStrategy(keys),
  'litellm-cooldown': (keys, options) => createLitellmCooldownStrategy(keys, options),
  'kong-circuit-breaker': (keys, options) => createKongCircuitBreakerStrategy(keys, options),
  'apipark-priority': (keys) => createApiparkPriorityStrategy(keys),
  'bifrost-reweight': (keys, options) => createBifrostReweightStrategy(keys, options),
  oracle: (keys) => createOracleStrategy(keys),
};

/** A fresh strategy of `name` over `keys`; usable in process (a benchmark on a virtual clock) as in the gateway. */
export function createStrategy(
  name: GatewayStrategyName,
  keys: readonly StrategyKey[],
  options: Partial<GatewayStrategyOptions> = {},
): KeyChoiceStrategy {
  return STRATEGIES[name](keys, { ...DEFAULT_STRATEGY_OPTIONS, ...options });
}
