/**
 * When to push, pure: the decision is a function of what was last pushed to a target, the latest
 * advice and the time.
 */
import type { Advice } from './index.ts';

const REENABLED_REASON = 'headroom re-enabled the key: its until passed';

/**
 * The advice with every key taken out until a time that has now passed put back, since no gateway
 * can "disable until T". A key put back gets the mean weight of the keys in use (an equal share when
 * none is), and the weights are normalised again to sum to 1.
 */
export function reenableExpiredKeys(advice: Advice, nowMs: number): Advice {
  const expired = (k: Advice['keys'][number]): boolean =>
    k.weight === 0 && k.until !== undefined && k.until <= nowMs;
  if (!advice.keys.some(expired)) return advice;
  const inUse = advice.keys.filter((k) => k.weight > 0);
  const share = inUse.length === 0 ? 1 : inUse.reduce((s, k) => s + k.weight, 0) / inUse.length;
  const keys = advice.keys.map((k) => {
    if (!expired(k)) return k;
    const { until: _until, ...rest } = k;
    return { ...rest, weight: share, state: 'active' as const, reason: REENABLED_REASON };
  });
  const total = keys.reduce((s, k) => s + k.weight, 0);
  return {
    ...advice,
    keys: keys.map((k) => ({ ...k, weight: Math.round((k.weight / total) * 1e6) / 1e6 })),
  };
}

/** The earliest `until` after `nowMs` of a key the advice takes out: when to look again. */
export function nextReenableAtMs(advice: Advice, nowMs: number): number | undefined {
  let next: number | undefined;
  for (const k of advice.keys) {
    if (
      k.weight === 0 &&
      k.until !== undefined &&
      k.until > nowMs &&
      (next === undefined || k.until < next)
    ) {
      next = k.until;
    }
  }
  return next;
}

/** What a target last received (or is receiving): an advice version plus the keys headroom put back. */
export interface TargetPushState {
  /** Identity of the last decided push: `version` and the keys re-enabled on top of it. */
  decided: string | undefined;
  /** Outcome of the last push that finished; undefined while none has. */
  lastOutcome: 'success' | 'failure' | 'retryable' | undefined;
  /** A push for the target is running or waiting. */
  inFlight: boolean;
}

export type PushTrigger = 'advice' | 'reenable' | 'retry';

export interface PushDecision {
  advice: Advice;
  trigger: PushTrigger;
  identity: string;
}

/**
 * Whether to push `advice` to a target now: when its version or the set of keys headroom re-enables
 * changed since the last push, or when the last push did not succeed (and none is in flight).
 */
export function decidePush(state: TargetPushState, advice: Advice, nowMs: number): PushDecision | undefined {
  const effective = reenableExpiredKeys(advice, nowMs);
  const reenabled = effective.keys
    .filter((k, i) => k.reason === REENABLED_REASON && advice.keys[i]?.weight === 0)
    .map((k) => k.key_id);
  const identity = `${advice.version}:${reenabled.join(',')}`;
  if (identity !== state.decided) {
    const sameVersion = state.decided?.split(':')[0] === String(advice.version);
    return {
      advice: effective,
      trigger: sameVersion && reenabled.length > 0 ? 'reenable' : 'advice',
      identity,
    };
  }
  if (!state.inFlight && state.lastOutcome !== undefined && state.lastOutcome !== 'success') {
    return { advice: effective, trigger: 'retry', identity };
  }
  return undefined;
}
