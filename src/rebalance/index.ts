/**
 * Rebalancing: from forecast headroom to key-weight advice for gateways. Pure: forecasts in, advice
 * out; time is always an argument.
 */
export type { Advice, AdviceKey, AdviceSettings, KeyState } from './advice.ts';
export { computeAdvice } from './advice.ts';
export type {
  KeyHeadroom,
  KeyHeadroomInput,
  PartitionHeadroomInput,
  QuotaState,
  SharedQuotaState,
} from './headroom.ts';
export {
  AUTH_ERROR_HOLD_MS,
  computeKeyHeadroom,
  projectBucketRemaining,
  RATE_WINDOW_MAX_MS,
  splitShared,
} from './headroom.ts';
export type { SharedUsageEvidence } from './others.ts';
export { forecastSharedUsage } from './others.ts';
export type { PoolCapacityState, PoolState } from './pool-state.ts';
export { decidePoolState } from './pool-state.ts';

export { renderAdviceJson } from './advice-json.ts';
export type { AdviceJson } from './advice-json.ts';
export { attachSpill, computePoolSupply, computeSpill } from './fallback.ts';
export type { PoolSupply, SpillShare } from './fallback.ts';
export { decidePush, nextReenableAtMs, reenableExpiredKeys } from './push-plan.ts';
export type { PushDecision, PushTrigger, TargetPushState } from './push-plan.ts';
export { createPusher } from './push.ts';
export type { Pusher, PushStatus } from './push.ts';
export {
  createPushTarget,
  haproxyCommands,
  HAPROXY_MAX_WEIGHT,
  PUSH_TARGET_FACTORIES,
  queryRuntimeApi,
  scaleHaproxyWeights,
  sendRuntimeCommand,
} from './targets/index.ts';
export type { PushApplied, PushTarget } from './targets/index.ts';
