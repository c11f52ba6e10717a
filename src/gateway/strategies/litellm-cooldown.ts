import type { GatewayStrategyOptions } from '../../config/index.ts';
import { SmoothWeightedPicker, normaliseWeights } from './smooth-weights.ts';
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
  const weights = new Map(keys.map((k) => [k.keyId, k.weight]));
  const coolUntil = new Map<string, number>();
  const fails = new Map<string, { minuteStartMs: number; count: number }>();
  const picker = new SmoothWeightedPicker();
  const readyAtMs = (keyId: string, nowMs: number): number => Math.max(nowMs, coolUntil.get(keyId) ?? 0);
  return {
    name: 'litellm-cooldown',
    choose: (nowMs, candidates) =>
      picker.pick(candidates, (keyId) => (readyAtMs(keyId, nowMs) > nowMs ? 0 : (weights.get(keyId) ?? 0))),
    readyAtMs,
    observe: (o) => {
      if (isRateLimit(o.outcome)) {
        coolUntil.set(o.keyId, o.atMs + (o.retryAfterMs ?? options.cooldownMs));
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
        coolUntil.set(o.keyId, o.atMs + options.cooldownMs);
        window.count = 0;
      }
    },
    describe: (nowMs) => ({
      source: 'defaults',
      weights: normaliseWeights(
        new Map([...weights].map(([k, w]) => [k, readyAtMs(k, nowMs) > nowMs ? 0 : w])),
      ),
    }),
  };
}
