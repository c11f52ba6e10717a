import type { LimitDimension, ProviderFormat } from './scenario.ts';

/** One call as the simulator decides it, whatever API format it came in. */
export interface SimCall {
  /** The API the request came in on; a key answers only on its own provider's API. */
  provider: ProviderFormat;
  /** The secret presented (Bearer token, x-api-key, api-key, ?key=); undefined when none was. */
  credential: string | undefined;
  /** Model named by the request (body, or the Gemini path). */
  model: string | undefined;
  /** Azure: the deployment in the path. */
  deployment?: string;
  inputTokens: number;
  /** `max_tokens` and its kin: the response never has more output tokens. */
  maxOutputTokens?: number;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`: a last chunk carries the usage. */
  includeUsage: boolean;
}

/**
 * - `rate_limited`: a refilling per-minute bucket (or an Azure sub-window) has no room now;
 * - `quota_exhausted`: a daily or monthly count quota is spent until its reset;
 * - `spend_cap`: a `cost_usd` quota is spent until its reset;
 * - `unauthorized`: unknown, missing or revoked key, or a key of another provider.
 */
export const SIM_OUTCOMES = [
  'ok',
  'rate_limited',
  'quota_exhausted',
  'spend_cap',
  'unauthorized',
  'not_found',
  'bad_request',
] as const;
export type SimOutcome = (typeof SIM_OUTCOMES)[number];

/** Dimensions providers report per-minute buckets for in headers. */
export type BucketDimension = Exclude<LimitDimension, 'cost_usd'>;

/** A per-minute bucket as the provider reports it: the tightest one of the key's quotas. */
export interface BucketReport {
  limit: number;
  /** Whole units left now. */
  remaining: number;
  /** When the bucket is full again. */
  resetAtMs: number;
}

/** The limit that refused a call. */
export interface Refusal {
  entityId: string;
  dimension: LimitDimension;
  window: string;
  limit: number;
  /** What the call asked of it. */
  requested: number;
  /** What was used of it when the call came. */
  used: number;
}

export interface SimDecision {
  outcome: SimOutcome;
  /** The key's alias, when the credential matched a key. */
  keyId?: string;
  nowMs: number;
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Admitted calls: time from arrival to the first token, and to the last. */
  firstTokenMs: number;
  latencyMs: number;
  /** Refused calls: how long until the call would be admitted (Infinity: never as it is). */
  retryAfterMs?: number;
  refusal?: Refusal;
  /** Per-minute buckets the provider reports in headers, after this call. */
  buckets: Partial<Record<BucketDimension, BucketReport>>;
  /** Sequence number of the call, for response ids. */
  sequence: number;
}

/** An HTTP request as the simulator reads it. */
export interface SimRequest {
  method: string;
  /** Path and query, e.g. `/v1beta/models/gemini-2.5-flash:generateContent?key=...`. */
  url: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  body?: string;
}

/** One server-sent event and when it is due, in ms after the request arrived. */
export interface SimEvent {
  atMs: number;
  data: string;
}

/** The simulator's whole answer to one request: what to send and when. */
export interface SimResponse {
  status: number;
  headers: Record<string, string>;
  /** The body of a non-streamed answer; empty for a stream. */
  body: string;
  /** A streamed answer: the headers go out with the first event. */
  events?: SimEvent[];
  /** Non-streamed answers: ms after the request arrived at which the response is sent. */
  delayMs: number;
  /** The decision behind a provider call (absent for introspection and unknown routes). */
  decision?: SimDecision;
}

/** One quota of a key as `GET /sim/state` shows it. */
export interface SimQuotaState {
  /** The quota entity: a shared quota's id, or the key's id for its own limits. */
  id: string;
  dimension: 'requests' | 'tokens' | 'cost_usd';
  window: string;
  limit: number;
  remaining: number;
  resetAtMs: number;
}

export interface SimKeyState {
  keyId: string;
  usable: boolean;
  /** Average-sized requests the key could take right now before any of its quotas refuses. */
  headroomRequests: number;
  quotas: SimQuotaState[];
}

/** `GET /sim/state`: what every key has left, for an oracle that reads the provider's buckets. */
export interface SimState {
  nowMs: number;
  keys: SimKeyState[];
}

export type OutcomeCounts = Record<SimOutcome, number>;

export interface SimKeyStats {
  keyId: string;
  requests: number;
  outcomes: OutcomeCounts;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface SimConsumerStats {
  consumerId: string;
  quota: string;
  requests: number;
  admitted: number;
  refused: number;
}

/** `GET /sim/stats`: counters since the start. */
export interface SimStats {
  nowMs: number;
  requests: number;
  outcomes: OutcomeCounts;
  /** 429s by kind: temporary rate limits versus quotas and spend caps spent until their reset. */
  tooManyRequests: { rateLimited: number; quotaExhausted: number; spendCap: number };
  keys: SimKeyStats[];
  consumers: SimConsumerStats[];
}
