import type { GatewayStrategyOptions } from '../../config/index.ts';
import { createHoldOutStrategy } from './hold-out.ts';
import { isFailure, isRateLimit, type KeyChoiceStrategy, type StrategyKey } from './types.ts';

const MINUTE_MS = 60_000;

/**
 * LiteLLM's router cooldown: a key leaves the rotation for its Retry-After (else `cooldown_ms`,
 * LiteLLM's 5 s) after a 429, and after more than `allowed_fails` other failures within a minute;
 * the rest share traffic by their configured weights.
 */
export function createLitellmCooldownStrategy(
  keys: readonly StrategyKey[],
  options: Pick<GatewayStrategyOptions, 'allowedFails' | 'cooldownMs'>,
): KeyChoiceStrategy {
  const fails = new Map<string, { minuteStartMs: number; count: number }>();
  return createHoldOutStrategy('litellm-cooldown', keys, (o, holdUntil) => {
    if (isRateLimit(o.outcome)) {
      holdUntil(o.atMs + (o.retryAfterMs ?? options.cooldownMs));
      return;
    }
    if (!isFailure(o.outcome)) return;
    let window = fails.get(o.keyId);
    if (window === undefined || o.atMs - window.minuteStartMs >= MINUTE_MS) {
      window = { minuteStartMs: o.atMs, count: 0 };
      fails.set(o.keyId, window);
    }
    window.count++;
    if (window.count > options.allowedFails) {
      holdUntil(o.atMs + options.cooldownMs);
      window.count = 0;
    }
  });
}
