/**
 * The reference gateway (`headroom gateway`): an OpenAI-compatible proxy over key pools that picks
 * a key per request through a pluggable key-choice strategy (headroom's advice, or the strategies
 * other gateways use), cools a key down after a 429, tries a failed call once more on another key,
 * and emits one span per upstream call. The strategies and the key router are pure and can be run
 * in process on a virtual clock.
 */

export { startGateway, CONSUMER_HEADER, KEY_HEADER, POOL_HEADER } from './server.ts';
export type { Gateway, GatewayOptions } from './server.ts';
export { GatewayMetrics } from './metrics.ts';
export { KeyRouter, isRetryable } from './key-router.ts';
export { SpillRouter, withSpill } from './spill.ts';
export type { SpillView } from './spill.ts';
export type { RouteChoice, RouterRule } from './key-router.ts';
export { createStrategy, DEFAULT_STRATEGY_OPTIONS } from './strategies/registry.ts';
export { parseAdvice } from './strategies/advice.ts';
export type { AdvisedKey, AdvisedSpill, ParsedAdvice, PoolAdvice } from './strategies/advice.ts';
export { parseSimulatorState } from './strategies/oracle.ts';
export type { SimulatorKeyState, SimulatorState } from './strategies/oracle.ts';
export { isFailure, isRateLimit } from './strategies/types.ts';
export type { KeyChoiceStrategy, StrategyKey, StrategyView, UpstreamOutcome } from './strategies/types.ts';
