/**
 * The closed-loop scenarios: keys and quotas at the provider simulator, what the gateway is told
 * about them (the same for every strategy), the demand, and which clock runs them. Per-minute
 * dynamics run in real time over real ports; day-long quota scenarios on a virtual clock.
 */
import { GATEWAY_STRATEGIES, type GatewayStrategyName } from '../../src/config/index.ts';
import type { DemandSpec } from './demand.ts';

export type StrategyName = GatewayStrategyName;

/** Every key-choice strategy of the gateway, in the table's order: the baselines, headroom, the oracle. */
export const STRATEGIES: readonly StrategyName[] = [
  ...GATEWAY_STRATEGIES.filter((s) => s !== 'headroom' && s !== 'oracle'),
  'headroom',
  'oracle',
];

export interface LoopKey {
  id: string;
  /** The key's own per-minute request limit at the provider. */
  requestsPerMinute?: number;
  /** The key's own daily request quota (resets at local midnight of the scenario's time zone). */
  requestsPerDay?: number;
  /** Shared quota entity (organisation / project) the key draws on. */
  partition?: string;
  /** Revoked at the provider this long after the start. */
  revokedAfterSeconds?: number;
}

export interface LoopPartition {
  id: string;
  requestsPerMinute?: number;
  requestsPerDay?: number;
}

export interface LoopScenario {
  name: string;
  /** One line for the table. */
  description: string;
  clock: 'real' | 'virtual';
  /** Enough capacity for the demand (the headroom targets apply), or not (the pool-dry lead applies). */
  enoughCapacity: boolean;
  keys: LoopKey[];
  partitions: LoopPartition[];
  /** Another team's app on a partition: draws on its quota outside the gateway. */
  outside: Array<{ partition: string; requestsPerMinute: number }>;
  demand: DemandSpec;
  /** Time zone of daily quotas and of the demand's day. */
  timeZone: string;
  /** Virtual clock: days simulated (the first ones give headroom's forecasts their history). */
  days?: number;
}

/** Ten-minute trace windows per day. */
const WINDOWS_PER_DAY = 144;
/** Real-time runs: 90 s each, one trace window in six seconds. */
const REAL_WINDOWS = 15;
const REAL_WINDOW_MS = 6_000;
/** Trace day 1, 09:00: a busy morning. */
const REAL_FROM_WINDOW = WINDOWS_PER_DAY + 54;

/** Real time: `offset` windows after the busy morning, compressed, at `meanRps`. */
function realDemand(offset: number, meanRps: number, seed: number): DemandSpec {
  return {
    clients: 8,
    fromWindow: REAL_FROM_WINDOW + offset,
    windows: REAL_WINDOWS,
    windowMs: REAL_WINDOW_MS,
    meanRps,
    seed,
  };
}

/** Virtual clock: three whole days of the trace's second week, `perDay` requests a day on average. */
function dayDemand(perDay: number, seed: number): DemandSpec {
  return {
    clients: 12,
    fromWindow: 7 * WINDOWS_PER_DAY,
    windows: 3 * WINDOWS_PER_DAY,
    windowMs: 600_000,
    meanRps: perDay / 86_400,
    seed,
  };
}

export const SCENARIOS: readonly LoopScenario[] = [
  {
    name: 'minute-limits',
    description:
      'five keys with per-minute limits from 30 to 600 RPM (840 in all), demand ~75 % of their sum',
    clock: 'real',
    enoughCapacity: true,
    keys: [
      { id: 'k600', requestsPerMinute: 600 },
      { id: 'k120', requestsPerMinute: 120 },
      { id: 'k60', requestsPerMinute: 60 },
      { id: 'k30a', requestsPerMinute: 30 },
      { id: 'k30b', requestsPerMinute: 30 },
    ],
    partitions: [],
    outside: [],
    demand: realDemand(0, 10.5, 11),
    timeZone: 'UTC',
  },
  {
    name: 'shared-org',
    description:
      'two keys on one 120 RPM organisation that another app (150 RPM) saturates, two solo keys (240/120 RPM)',
    clock: 'real',
    enoughCapacity: true,
    keys: [
      { id: 'org-a', partition: 'org' },
      { id: 'org-b', partition: 'org' },
      { id: 'solo-240', requestsPerMinute: 240 },
      { id: 'solo-120', requestsPerMinute: 120 },
    ],
    partitions: [{ id: 'org', requestsPerMinute: 120 }],
    outside: [{ partition: 'org', requestsPerMinute: 150 }],
    demand: realDemand(12, 5, 12),
    timeZone: 'UTC',
  },
  {
    name: 'revoked-key',
    description: 'four keys (240/240/120/120 RPM); the biggest is revoked after 25 s',
    clock: 'real',
    enoughCapacity: true,
    keys: [
      { id: 'k240a', requestsPerMinute: 240, revokedAfterSeconds: 25 },
      { id: 'k240b', requestsPerMinute: 240 },
      { id: 'k120a', requestsPerMinute: 120 },
      { id: 'k120b', requestsPerMinute: 120 },
    ],
    partitions: [],
    outside: [],
    demand: realDemand(24, 5.5, 13),
    timeZone: 'UTC',
  },
  {
    name: 'daily-diurnal',
    description:
      'five keys with daily quotas 500-4,000 (9,500 a day), demand ~80 % with its diurnal peak, 3 days',
    clock: 'virtual',
    enoughCapacity: true,
    keys: [
      { id: 'd4000', requestsPerDay: 4000, requestsPerMinute: 60 },
      { id: 'd2500', requestsPerDay: 2500, requestsPerMinute: 60 },
      { id: 'd1500', requestsPerDay: 1500, requestsPerMinute: 60 },
      { id: 'd1000', requestsPerDay: 1000, requestsPerMinute: 60 },
      { id: 'd500', requestsPerDay: 500, requestsPerMinute: 60 },
    ],
    partitions: [],
    outside: [],
    demand: dayDemand(7_600, 21),
    timeZone: 'America/Los_Angeles',
    days: 3,
  },
  {
    name: 'daily-short',
    description: 'four keys with daily quotas (5,000 a day) against ~7,000 a day of demand, 3 days',
    clock: 'virtual',
    enoughCapacity: false,
    keys: [
      { id: 'd2000', requestsPerDay: 2000, requestsPerMinute: 60 },
      { id: 'd1500', requestsPerDay: 1500, requestsPerMinute: 60 },
      { id: 'd1000', requestsPerDay: 1000, requestsPerMinute: 60 },
      { id: 'd500', requestsPerDay: 500, requestsPerMinute: 60 },
    ],
    partitions: [],
    outside: [],
    demand: dayDemand(7_000, 22),
    timeZone: 'America/Los_Angeles',
    days: 3,
  },
];

/** The limit an operator writes next to a key: its own, else its partition's. */
export function configuredLimit(scenario: LoopScenario, key: LoopKey): number {
  const partition = scenario.partitions.find((p) => p.id === key.partition);
  if (scenario.clock === 'virtual') return key.requestsPerDay ?? partition?.requestsPerDay ?? 1;
  return key.requestsPerMinute ?? partition?.requestsPerMinute ?? 1;
}

/** Short, distinct prefix of a strategy's copies of the keys. */
export function prefixOf(strategy: StrategyName): string {
  return strategy;
}

export function keyIdOf(strategy: StrategyName, key: LoopKey): string {
  return `${prefixOf(strategy)}.${key.id}`;
}

export function partitionIdOf(strategy: StrategyName, partition: string): string {
  return `${prefixOf(strategy)}.${partition}`;
}

/** The credential of a strategy's copy of a key: only the simulator and the gateway ever hold it. */
export function secretOf(strategy: StrategyName, key: LoopKey): string {
  return `sk-sim-${prefixOf(strategy)}-${key.id}-0000`;
}

/**
 * The provider simulator's scenario for the given strategies' copies of the keys: every copy has its
 * own quota entities and outside consumers, so the strategies never share a bucket.
 */
export function simulatorScenario(
  scenario: LoopScenario,
  strategies: readonly StrategyName[],
): Record<string, unknown> {
  const limits = (spec: { requestsPerMinute?: number; requestsPerDay?: number }): object[] => [
    ...(spec.requestsPerMinute === undefined
      ? []
      : [{ dimension: 'requests', window: 'minute', limit: spec.requestsPerMinute }]),
    ...(spec.requestsPerDay === undefined
      ? []
      : [{ dimension: 'requests', window: 'day', limit: spec.requestsPerDay, time_zone: scenario.timeZone }]),
  ];
  return {
    seed: scenario.demand.seed,
    responses: { output_tokens: { min: 40, max: 160 } },
    latency: { base_ms: 60, per_output_token_ms: 0.5, jitter_ratio: 0.2 },
    quotas: strategies.flatMap((s) =>
      scenario.partitions.map((p) => ({ id: partitionIdOf(s, p.id), limits: limits(p) })),
    ),
    keys: strategies.flatMap((s) =>
      scenario.keys.map((k) => ({
        id: keyIdOf(s, k),
        secret: secretOf(s, k),
        provider: 'openai',
        quotas: k.partition === undefined ? [] : [partitionIdOf(s, k.partition)],
        limits: limits(k),
        ...(k.revokedAfterSeconds === undefined ? {} : { revoked_after_seconds: k.revokedAfterSeconds }),
      })),
    ),
    consumers: strategies.flatMap((s) =>
      scenario.outside.map((o, i) => ({
        id: `${prefixOf(s)}.outside-${i}`,
        quota: partitionIdOf(s, o.partition),
        requests_per_minute: o.requestsPerMinute,
      })),
    ),
  };
}

/** The gateway's pool of one strategy: the same keys, limits and order for every strategy. */
export function gatewayPool(
  scenario: LoopScenario,
  strategy: StrategyName,
  simulatorUrl: string,
): Record<string, unknown> {
  return {
    name: strategy,
    strategy,
    base_url: `${simulatorUrl}/v1`,
    simulator_url: simulatorUrl,
    keys: scenario.keys.map((k) => ({
      id: keyIdOf(strategy, k),
      secret: secretOf(strategy, k),
      ...(k.partition === undefined ? {} : { partition: partitionIdOf(strategy, k.partition) }),
      // Static weights (and every strategy's defaults) are proportional to the configured limits.
      weight: configuredLimit(scenario, k),
    })),
  };
}
