import { createRandom, type Random } from '../forecast/index.ts';
import { BackgroundConsumer } from './consumers.ts';
import { createMeters, type Meter } from './meters.ts';
import { answerRequest } from './router.ts';
import type { KeySpec, LimitDimension, PricingSpec, Scenario } from './scenario.ts';
import {
  SIM_OUTCOMES,
  type BucketDimension,
  type BucketReport,
  type OutcomeCounts,
  type SimCall,
  type SimConsumerStats,
  type SimDecision,
  type SimKeyStats,
  type SimOutcome,
  type SimQuotaState,
  type SimRequest,
  type SimResponse,
  type SimState,
  type SimStats,
} from './types.ts';

const BUCKET_DIMENSIONS: readonly BucketDimension[] = ['requests', 'tokens', 'input_tokens', 'output_tokens'];
/** `headroomRequests` of a key without any limit: JSON has no infinity. */
const UNLIMITED = Number.MAX_SAFE_INTEGER;
const DEFAULT_AVERAGE_INPUT_TOKENS = 500;

interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

interface KeyRuntime {
  spec: KeySpec;
  meters: Meter[];
  pricing: PricingSpec;
  revokedAtMs: number;
  stats: SimKeyStats;
}

interface ConsumerRuntime {
  consumer: BackgroundConsumer;
  meters: Meter[];
  usage: Usage;
  stats: SimConsumerStats;
}

export interface SimulatorOptions {
  /** Epoch ms the simulation starts at (the clock of the first call); default the scenario's `start_at`. */
  startMs?: number;
  /** Overrides the scenario's seed. */
  seed?: number;
}

function emptyCounts(): OutcomeCounts {
  return Object.fromEntries(SIM_OUTCOMES.map((outcome) => [outcome, 0])) as OutcomeCounts;
}

function amountOf(dimension: LimitDimension, usage: Usage): number {
  switch (dimension) {
    case 'requests':
      return 1;
    case 'tokens':
      return usage.inputTokens + usage.outputTokens;
    case 'input_tokens':
      return usage.inputTokens;
    case 'output_tokens':
      return usage.outputTokens;
    case 'cost_usd':
      return usage.costUsd;
  }
}

function costOf(pricing: PricingSpec, inputTokens: number, outputTokens: number): number {
  return (inputTokens * pricing.input_per_million_usd + outputTokens * pricing.output_per_million_usd) / 1e6;
}

/**
 * The provider simulator's state machine: every quota entity's meters, the keys drawing on them,
 * the background consumers, and counters. Time is always an argument and only moves forward (an
 * earlier `nowMs` than one already seen counts as the latest one), so a benchmark can drive a
 * day-long scenario on a virtual clock in a few seconds and get the same answers as over HTTP.
 */
export class ProviderSimulator {
  readonly scenario: Scenario;
  readonly startMs: number;
  readonly #random: Random;
  readonly #keysBySecret = new Map<string, KeyRuntime>();
  readonly #keys: KeyRuntime[] = [];
  readonly #consumers: ConsumerRuntime[] = [];
  readonly #totals = { requests: 0, outcomes: emptyCounts() };
  #nowMs: number;
  #sequence = 0;
  #admitted = { calls: 0, inputTokens: 0, outputTokens: 0 };

  constructor(scenario: Scenario, options: SimulatorOptions = {}) {
    this.scenario = scenario;
    const scenarioStartMs = scenario.start_at === undefined ? undefined : Date.parse(scenario.start_at);
    const startMs = options.startMs ?? scenarioStartMs;
    if (startMs === undefined || !Number.isFinite(startMs)) {
      throw new TypeError('ProviderSimulator: startMs is required when the scenario has no start_at');
    }
    this.startMs = startMs;
    this.#nowMs = startMs;
    const seed = options.seed ?? scenario.seed;
    this.#random = createRandom(seed);

    const entities = new Map<string, Meter[]>();
    for (const quota of scenario.quotas) {
      entities.set(
        quota.id,
        quota.limits.flatMap((limit) => createMeters(quota.id, limit, startMs)),
      );
    }
    for (const key of scenario.keys) {
      entities.set(
        key.id,
        key.limits.flatMap((limit) => createMeters(key.id, limit, startMs)),
      );
    }
    for (const key of scenario.keys) {
      const revokedAtMs = Math.min(
        key.revoked ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY,
        key.revoked_at_ms ?? Number.POSITIVE_INFINITY,
        key.revoked_after_seconds === undefined
          ? Number.POSITIVE_INFINITY
          : startMs + key.revoked_after_seconds * 1000,
      );
      const runtime: KeyRuntime = {
        spec: key,
        meters: [key.id, ...key.quotas].flatMap((id) => entities.get(id) ?? []),
        pricing: key.pricing ?? scenario.pricing,
        revokedAtMs,
        stats: {
          keyId: key.id,
          requests: 0,
          outcomes: emptyCounts(),
          inputTokens: 0,
          outputTokens: 0,
          costUsd: 0,
        },
      };
      this.#keys.push(runtime);
      this.#keysBySecret.set(key.secret, runtime);
    }
    for (const spec of scenario.consumers) {
      const pricing = spec.pricing ?? scenario.pricing;
      this.#consumers.push({
        consumer: new BackgroundConsumer(spec, startMs, seed),
        meters: entities.get(spec.quota) ?? [],
        usage: {
          inputTokens: spec.input_tokens,
          outputTokens: spec.output_tokens,
          costUsd: costOf(pricing, spec.input_tokens, spec.output_tokens),
        },
        stats: { consumerId: spec.id, quota: spec.quota, requests: 0, admitted: 0, refused: 0 },
      });
    }
  }

  /** The latest time the simulation has seen. */
  get nowMs(): number {
    return this.#nowMs;
  }

  /** Answers one HTTP request (provider APIs and `/sim/*`) at `nowMs`: what to send, and when. */
  handle(request: SimRequest, nowMs: number): SimResponse {
    return answerRequest(this, request, nowMs);
  }

  /** Decides one provider call at `nowMs`: admitted (and charged to every quota it draws on) or refused. */
  decide(call: SimCall, nowMs: number): SimDecision {
    const at = this.#advanceTo(nowMs);
    this.#sequence += 1;
    this.#totals.requests += 1;
    const key = call.credential === undefined ? undefined : this.#keysBySecret.get(call.credential);
    const base = { nowMs: at, sequence: this.#sequence, model: call.model ?? key?.spec.model ?? 'unknown' };
    if (key === undefined) return this.#count(undefined, this.#refused(base, call, 'unauthorized'));
    key.stats.requests += 1;
    if (key.spec.provider !== call.provider || at >= key.revokedAtMs) {
      return this.#count(key, this.#refused(base, call, 'unauthorized', key));
    }
    if (
      call.deployment !== undefined &&
      key.spec.deployment !== undefined &&
      call.deployment !== key.spec.deployment
    ) {
      return this.#count(key, this.#refused(base, call, 'not_found', key));
    }
    if (call.provider === 'azure' && call.model === undefined)
      base.model = key.spec.model ?? call.deployment ?? 'unknown';

    const outputTokens = this.#drawOutputTokens(call.maxOutputTokens);
    const usage: Usage = {
      inputTokens: call.inputTokens,
      outputTokens,
      costUsd: costOf(key.pricing, call.inputTokens, outputTokens),
    };
    let refusal: { meter: Meter; waitMs: number } | undefined;
    for (const meter of key.meters) {
      meter.advance(at);
      const waitMs = meter.waitMs(amountOf(meter.dimension, usage), at);
      if (waitMs <= 0) continue;
      // A quota spent until its reset outranks a bucket that refills: retrying soon will not help.
      if (
        refusal === undefined ||
        (meter.exhausting && !refusal.meter.exhausting) ||
        (meter.exhausting === refusal.meter.exhausting && waitMs > refusal.waitMs)
      ) {
        refusal = { meter, waitMs };
      }
    }
    const decided = { ...base, keyId: key.spec.id, ...usage };
    if (refusal !== undefined) {
      const { meter, waitMs } = refusal;
      const outcome: SimOutcome = !meter.exhausting
        ? 'rate_limited'
        : meter.dimension === 'cost_usd'
          ? 'spend_cap'
          : 'quota_exhausted';
      const requested = amountOf(meter.dimension, usage);
      const retryAfterMs = Number.isFinite(waitMs) ? waitMs : meter.resetAtMs(at) - at;
      return this.#count(key, {
        ...decided,
        outcome,
        firstTokenMs: 0,
        latencyMs: 0,
        retryAfterMs,
        refusal: {
          entityId: meter.entityId,
          dimension: meter.dimension,
          window: meter.window,
          limit: meter.limit,
          requested,
          used: meter.limit - meter.remaining(),
        },
        buckets: this.#bucketsOf(key, at),
      });
    }
    for (const meter of key.meters) meter.take(amountOf(meter.dimension, usage));
    this.#admitted.calls += 1;
    this.#admitted.inputTokens += usage.inputTokens;
    this.#admitted.outputTokens += usage.outputTokens;
    key.stats.inputTokens += usage.inputTokens;
    key.stats.outputTokens += usage.outputTokens;
    key.stats.costUsd += usage.costUsd;
    const { base_ms: baseMs, per_output_token_ms: perTokenMs, jitter_ratio: jitter } = this.scenario.latency;
    const factor = 1 + jitter * (2 * this.#random() - 1);
    return this.#count(key, {
      ...decided,
      outcome: 'ok',
      firstTokenMs: baseMs * factor,
      latencyMs: (baseMs + perTokenMs * outputTokens) * factor,
      buckets: this.#bucketsOf(key, at),
    });
  }

  /** Counts a provider call refused before any key was looked at (a malformed request). */
  countBadRequest(nowMs: number): void {
    this.#advanceTo(nowMs);
    this.#totals.requests += 1;
    this.#totals.outcomes.bad_request += 1;
  }

  /** What every key has left at `nowMs` (advances the simulation to it). */
  state(nowMs: number): SimState {
    const at = this.#advanceTo(nowMs);
    const average = this.#averageUsage();
    return {
      nowMs: at,
      keys: this.#keys.map((key) => {
        const revoked = at >= key.revokedAtMs;
        let headroom = Number.POSITIVE_INFINITY;
        const quotas: SimQuotaState[] = [];
        for (const meter of key.meters) {
          meter.advance(at);
          headroom = Math.min(headroom, meter.countAdmissible(amountOf(meter.dimension, average)));
          quotas.push({
            id: meter.entityId,
            // The oracle contract speaks of requests, tokens and cost; input and output buckets are tokens.
            dimension:
              meter.dimension === 'requests' || meter.dimension === 'cost_usd' ? meter.dimension : 'tokens',
            window: meter.window,
            limit: meter.limit,
            remaining:
              meter.dimension === 'cost_usd' ? roundCost(meter.remaining()) : Math.floor(meter.remaining()),
            resetAtMs: Math.ceil(meter.resetAtMs(at)),
          });
        }
        const headroomRequests = revoked ? 0 : Number.isFinite(headroom) ? headroom : UNLIMITED;
        return { keyId: key.spec.id, usable: headroomRequests >= 1, headroomRequests, quotas };
      }),
    };
  }

  /** Counters since the start. */
  stats(): SimStats {
    const outcomes = { ...this.#totals.outcomes };
    return {
      nowMs: this.#nowMs,
      requests: this.#totals.requests,
      outcomes,
      tooManyRequests: {
        rateLimited: outcomes.rate_limited,
        quotaExhausted: outcomes.quota_exhausted,
        spendCap: outcomes.spend_cap,
      },
      keys: this.#keys.map((key) => ({
        ...key.stats,
        outcomes: { ...key.stats.outcomes },
        costUsd: roundCost(key.stats.costUsd),
      })),
      consumers: this.#consumers.map((consumer) => ({ ...consumer.stats })),
    };
  }

  /** Revokes a key from `atMs` on (a key revoked mid-run); unknown ids are a TypeError. */
  revokeKey(keyId: string, atMs: number = this.#nowMs): void {
    const key = this.#keys.find((candidate) => candidate.spec.id === keyId);
    if (key === undefined) throw new TypeError(`revokeKey: no key ${JSON.stringify(keyId)} in the scenario`);
    key.revokedAtMs = Math.min(key.revokedAtMs, atMs);
  }

  #advanceTo(nowMs: number): number {
    const at = Number.isFinite(nowMs) ? Math.max(nowMs, this.#nowMs) : this.#nowMs;
    // Background arrivals up to now, in time order, each against the meters as they were then.
    for (;;) {
      let next: ConsumerRuntime | undefined;
      for (const runtime of this.#consumers) {
        if (
          runtime.consumer.nextArrivalMs <= at &&
          (next === undefined || runtime.consumer.nextArrivalMs < next.consumer.nextArrivalMs)
        ) {
          next = runtime;
        }
      }
      if (next === undefined) break;
      const arrivalMs = next.consumer.popArrival();
      next.stats.requests += 1;
      let admitted = true;
      for (const meter of next.meters) {
        meter.advance(arrivalMs);
        if (meter.waitMs(amountOf(meter.dimension, next.usage), arrivalMs) > 0) admitted = false;
      }
      if (admitted) {
        for (const meter of next.meters) meter.take(amountOf(meter.dimension, next.usage));
        next.stats.admitted += 1;
      } else {
        next.stats.refused += 1;
      }
    }
    this.#nowMs = at;
    return at;
  }

  #drawOutputTokens(maxOutputTokens: number | undefined): number {
    const { min, max } = this.scenario.responses.output_tokens;
    const drawn = min + Math.floor(this.#random() * (max - min + 1));
    return maxOutputTokens === undefined ? drawn : Math.min(drawn, Math.max(0, maxOutputTokens));
  }

  #averageUsage(): Usage {
    const declared = this.scenario.average_request;
    const { min, max } = this.scenario.responses.output_tokens;
    const calls = this.#admitted.calls;
    const inputTokens =
      declared?.input_tokens ??
      (calls > 0 ? this.#admitted.inputTokens / calls : DEFAULT_AVERAGE_INPUT_TOKENS);
    const outputTokens =
      declared?.output_tokens ?? (calls > 0 ? this.#admitted.outputTokens / calls : (min + max) / 2);
    // Keys may be priced differently; the first key's pricing is close enough for a count of requests.
    const pricing = this.#keys[0]?.pricing ?? this.scenario.pricing;
    return { inputTokens, outputTokens, costUsd: costOf(pricing, inputTokens, outputTokens) };
  }

  /** Per dimension, the tightest per-minute bucket of the key's quotas (own or shared). */
  #bucketsOf(key: KeyRuntime, at: number): Partial<Record<BucketDimension, BucketReport>> {
    const reports: Partial<Record<BucketDimension, BucketReport>> = {};
    for (const dimension of BUCKET_DIMENSIONS) {
      let tightest: Meter | undefined;
      for (const meter of key.meters) {
        if (meter.dimension !== dimension || meter.window !== 'minute') continue;
        if (tightest === undefined || meter.remaining() < tightest.remaining()) tightest = meter;
      }
      if (tightest !== undefined) {
        reports[dimension] = {
          limit: tightest.limit,
          remaining: Math.max(0, Math.floor(tightest.remaining())),
          resetAtMs: tightest.resetAtMs(at),
        };
      }
    }
    return reports;
  }

  #refused(
    base: { nowMs: number; sequence: number; model: string },
    call: SimCall,
    outcome: SimOutcome,
    key?: KeyRuntime,
  ): SimDecision {
    return {
      ...base,
      ...(key === undefined ? {} : { keyId: key.spec.id }),
      outcome,
      inputTokens: call.inputTokens,
      outputTokens: 0,
      costUsd: 0,
      firstTokenMs: 0,
      latencyMs: 0,
      buckets: {},
    };
  }

  #count(key: KeyRuntime | undefined, decision: SimDecision): SimDecision {
    this.#totals.outcomes[decision.outcome] += 1;
    if (key !== undefined) key.stats.outcomes[decision.outcome] += 1;
    return decision;
  }
}

function roundCost(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}

/** Builds a simulator for a validated scenario. */
export function createSimulator(scenario: Scenario, options: SimulatorOptions = {}): ProviderSimulator {
  return new ProviderSimulator(scenario, options);
}
