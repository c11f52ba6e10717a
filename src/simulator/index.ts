/**
 * Provider simulator: answers like the OpenAI, Anthropic, Azure OpenAI and Gemini APIs from a
 * seeded, declarative scenario (quota entities shared by keys, per-minute token buckets, Azure
 * sub-windows, calendar quotas in a time zone, spend caps, revoked keys, background consumers, a
 * latency model), with each provider's real rate-limit headers and error bodies. The core is a
 * state machine with time as an argument ({@link ProviderSimulator}); {@link startSimulatorServer}
 * serves it over HTTP in real time or on a faster simulated clock.
 */
export {
  LIMIT_DIMENSIONS,
  LIMIT_WINDOWS,
  PROVIDER_FORMATS,
  loadScenarioFile,
  parseScenario,
} from './scenario.ts';
export type {
  ConsumerSpec,
  KeySpec,
  LimitDimension,
  LimitSpec,
  LimitWindow,
  PricingSpec,
  ProviderFormat,
  Scenario,
  ScenarioInput,
} from './scenario.ts';
export { ProviderSimulator, createSimulator } from './simulator.ts';
export type { SimulatorOptions } from './simulator.ts';
export { startSimulatorServer } from './server.ts';
export type { SimulatorServer, SimulatorServerOptions } from './server.ts';
export { formatGoDuration, formatRfc3339Seconds } from './go-duration.ts';
export { SIM_OUTCOMES } from './types.ts';
export type {
  BucketDimension,
  BucketReport,
  OutcomeCounts,
  Refusal,
  SimCall,
  SimConsumerStats,
  SimDecision,
  SimEvent,
  SimKeyState,
  SimKeyStats,
  SimOutcome,
  SimQuotaState,
  SimRequest,
  SimResponse,
  SimState,
  SimStats,
} from './types.ts';
