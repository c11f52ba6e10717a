import type { KeyChoiceStrategy, UpstreamOutcome } from './strategies/types.ts';
import type { Outcome } from '../telemetry/index.ts';

/** The gateway's own rule, the same around every strategy. */
export interface RouterRule {
  /** Cooldown after a 429 without Retry-After. */
  readonly cooldownMs: number;
  /** Cooldown after an exhausted quota without Retry-After. */
  readonly quotaCooldownMs: number;
  /** Cooldown after the upstream refused the key (401/403). */
  readonly authCooldownMs: number;
}

export type RouteChoice = { keyId: string } | { keyId: undefined; retryAtMs: number };

/** When nothing says when a key comes back, a client is asked to wait this long. */
const UNKNOWN_WAIT_MS = 1_000;

/**
 * Whether a failed call is tried again on another key: a 429, an overload, a 5xx, a timeout, or
 * the upstream refusing the key itself. A client error would fail on any key.
 */
export function isRetryable(outcome: Outcome): boolean {
  return outcome !== 'ok' && outcome !== 'client_error';
}

/**
 * A pool's key choice: the gateway's cooldowns (429 with its Retry-After, exhausted quota, refused
 * key) and the exclusion of keys already tried for a request, around a {@link KeyChoiceStrategy}.
 * Pure (time is an argument), so a benchmark on a virtual clock runs exactly the gateway's rule.
 */
export class KeyRouter {
  readonly strategy: KeyChoiceStrategy;
  readonly keyIds: readonly string[];
  readonly #rule: RouterRule;
  readonly #coolUntil = new Map<string, number>();

  constructor(strategy: KeyChoiceStrategy, keyIds: readonly string[], rule: RouterRule) {
    this.strategy = strategy;
    this.keyIds = keyIds;
    this.#rule = rule;
  }

  /** A key for the next attempt (none of `tried`), or when the first key becomes usable. */
  choose(nowMs: number, tried?: ReadonlySet<string>): RouteChoice {
    const candidates: string[] = [];
    for (const keyId of this.keyIds) {
      if ((this.#coolUntil.get(keyId) ?? 0) > nowMs || tried?.has(keyId) === true) continue;
      candidates.push(keyId);
    }
    const keyId = candidates.length === 0 ? undefined : this.strategy.choose(nowMs, candidates);
    if (keyId !== undefined) return { keyId };
    return { keyId: undefined, retryAtMs: this.firstUsableAtMs(nowMs, tried) };
  }

  /** Earliest time a key (other than `tried`) is usable again under both the gateway's rule and the strategy. */
  firstUsableAtMs(nowMs: number, tried?: ReadonlySet<string>): number {
    let first = Infinity;
    for (const keyId of this.keyIds) {
      if (tried?.has(keyId) === true) continue;
      const at = Math.max(this.#coolUntil.get(keyId) ?? 0, this.strategy.readyAtMs(keyId, nowMs));
      if (at > nowMs) first = Math.min(first, at);
    }
    return first === Infinity ? nowMs + UNKNOWN_WAIT_MS : first;
  }

  /** Until when the gateway holds `keyId` out (undefined: it does not). */
  coolingUntilMs(keyId: string, nowMs: number): number | undefined {
    const until = this.#coolUntil.get(keyId);
    return until !== undefined && until > nowMs ? until : undefined;
  }

  observe(outcome: UpstreamOutcome): void {
    const wait = this.#cooldownAfter(outcome);
    if (wait !== undefined) {
      const until = outcome.atMs + wait;
      this.#coolUntil.set(outcome.keyId, Math.max(until, this.#coolUntil.get(outcome.keyId) ?? 0));
    }
    this.strategy.observe(outcome);
  }

  #cooldownAfter(o: UpstreamOutcome): number | undefined {
    switch (o.outcome) {
      case 'rate_limited':
        return o.retryAfterMs ?? this.#rule.cooldownMs;
      case 'quota_exhausted':
        return o.retryAfterMs ?? this.#rule.quotaCooldownMs;
      case 'auth_error':
        return this.#rule.authCooldownMs;
      default:
        return undefined;
    }
  }
}
