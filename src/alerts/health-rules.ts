import { formatTime } from './rules.ts';
import type { AlertCondition, Severity } from './types.ts';

/** One key's call outcomes over the recent windows (from `api_calls`). */
export interface OutcomeFacts {
  pool: string;
  keyId: string;
  partition: string;
  /** Calls within the throttling window, and of them the throttled ones. */
  calls: number;
  rateLimited: number;
  quotaExhausted: number;
  /** Calls answered `auth_error` within the key-health window, and when the last one was. */
  authErrors: number;
  lastAuthErrorMs: number;
  /** The last successful call within the key-health window; 0 when none. */
  lastOkMs: number;
}

/** A pool's capacity forecast for one quota every key has: runs dry even with ideal balancing? */
export interface CapacityFacts {
  pool: string;
  quotaId: string;
  dimension: string;
  keys: number;
  runsDry: boolean;
  /** When the pool runs dry; null when it does not before its keys reset. */
  etaMs: number | null;
  demandPerSecond: number;
}

/** A key named in the configuration, for the key-health and no-data rules. */
export interface ConfiguredKeyFacts {
  pool: string;
  keyId: string;
  partition: string;
  /** `expires_at` from the configuration. */
  expiresAtMs?: number;
  /** End of the last bucket with traffic; null when never seen. */
  lastSeenMs: number | null;
  /** The key's usual longest silence (see {@link estimateUsualGapMs}); null when too little history. */
  usualGapMs: number | null;
}

export interface HealthRuleSettings {
  /** Throttled share of calls (rate_limited + quota_exhausted) for a warning; default 0.1. */
  throttlingWarningRatio: number;
  /** … and for critical; default 0.5. */
  throttlingCriticalRatio: number;
  /** Fewer calls than this in the window say nothing; default 20. */
  throttlingMinCalls: number;
  throttlingWindowMs: number;
  /** The pool-capacity rule fires when the pool runs dry within this; default 6 h. */
  poolCapacityLeadMs: number;
  /** `expires_at` is warned of this long ahead; default 14 days. */
  keyExpiryWarningMs: number;
  /** The no-data rule never fires on a silence shorter than this; default 30 min. */
  noDataMinMs: number;
  /** … nor shorter than this many times the key's usual gap; default 3. */
  noDataGapFactor: number;
}

export const DEFAULT_HEALTH_RULE_SETTINGS: Readonly<HealthRuleSettings> = Object.freeze({
  throttlingWarningRatio: 0.1,
  throttlingCriticalRatio: 0.5,
  throttlingMinCalls: 20,
  throttlingWindowMs: 15 * 60_000,
  poolCapacityLeadMs: 6 * 3_600_000,
  keyExpiryWarningMs: 14 * 86_400_000,
  noDataMinMs: 30 * 60_000,
  noDataGapFactor: 3,
});

const percent = (share: number): string => `${(share * 100).toFixed(0)} %`;

function keyCondition(
  rule: AlertCondition['rule'],
  id: string,
  k: { pool: string; keyId: string; partition: string },
  severity: Severity,
  summary: string,
  facts: AlertCondition['facts'],
): AlertCondition {
  return {
    alertId: `${rule}:${k.pool}:key:${k.keyId}:${id}`,
    rule,
    severity,
    pool: k.pool,
    subjectKind: 'key',
    subjectId: k.keyId,
    partition: k.partition,
    quotaId: '',
    summary,
    facts,
  };
}

/**
 * The throttling rule: the share of calls answered `rate_limited` or `quota_exhausted` over the
 * window, per key and per pool. It sees what forecasts cannot: limits nobody configured and the
 * provider never reported, and outside consumers of a shared quota.
 */
export function evaluateThrottling(
  outcomes: readonly OutcomeFacts[],
  settings: HealthRuleSettings,
): AlertCondition[] {
  const conditions: AlertCondition[] = [];
  const pools = new Map<string, { calls: number; throttled: number }>();
  const minutes = Math.round(settings.throttlingWindowMs / 60_000);
  const judge = (calls: number, throttled: number): Severity | undefined => {
    if (calls < settings.throttlingMinCalls) return undefined;
    const share = throttled / calls;
    if (share >= settings.throttlingCriticalRatio) return 'critical';
    return share >= settings.throttlingWarningRatio ? 'warning' : undefined;
  };
  for (const o of outcomes) {
    const throttled = o.rateLimited + o.quotaExhausted;
    const pool = pools.get(o.pool) ?? { calls: 0, throttled: 0 };
    pool.calls += o.calls;
    pool.throttled += throttled;
    pools.set(o.pool, pool);
    const severity = judge(o.calls, throttled);
    if (severity === undefined) continue;
    const share = throttled / o.calls;
    conditions.push(
      keyCondition(
        'throttling',
        'outcomes',
        o,
        severity,
        `key ${o.keyId} in pool ${o.pool} is throttled: ${percent(share)} of ${o.calls} calls in the last ${minutes} minutes were rate_limited (${o.rateLimited}) or quota_exhausted (${o.quotaExhausted})`,
        {
          value: share,
          advice:
            o.quotaExhausted > 0
              ? `The provider says the quota of key ${o.keyId} is exhausted: its traffic fails until the quota resets or is raised.`
              : `Key ${o.keyId} is over a provider rate limit: spread traffic over the pool's other keys (the advice lowers its weight) or ask for a higher limit.`,
        },
      ),
    );
  }
  for (const [pool, total] of pools) {
    const severity = judge(total.calls, total.throttled);
    if (severity === undefined) continue;
    conditions.push({
      alertId: `throttling:${pool}:pool:${pool}:outcomes`,
      rule: 'throttling',
      severity,
      pool,
      subjectKind: 'pool',
      subjectId: pool,
      partition: '',
      quotaId: '',
      summary: `pool ${pool} is throttled: ${percent(total.throttled / total.calls)} of ${total.calls} calls in the last ${minutes} minutes were rate_limited or quota_exhausted`,
      facts: {
        value: total.throttled / total.calls,
        advice: `Many keys of pool ${pool} are throttled at once: the pool is short of capacity; add keys, raise limits or shed load.`,
      },
    });
  }
  return conditions;
}

/**
 * The pool-capacity rule: the pool runs dry before its keys reset even with ideal balancing, within
 * the lead time. Rebalancing cannot help then; it inhibits the pool's per-key alerts.
 */
export function evaluatePoolCapacity(
  capacity: readonly CapacityFacts[],
  settings: HealthRuleSettings,
  nowMs: number,
): AlertCondition[] {
  const conditions: AlertCondition[] = [];
  for (const c of capacity) {
    if (!c.runsDry || c.etaMs === null || c.etaMs - nowMs > settings.poolCapacityLeadMs) continue;
    conditions.push({
      alertId: `pool_capacity:${c.pool}:pool:${c.pool}:${c.quotaId}`,
      rule: 'pool_capacity',
      severity: c.etaMs - nowMs <= settings.poolCapacityLeadMs / 4 ? 'critical' : 'warning',
      pool: c.pool,
      subjectKind: 'pool',
      subjectId: c.pool,
      partition: '',
      quotaId: c.quotaId,
      summary: `pool ${c.pool} runs dry of ${c.quotaId} around ${formatTime(c.etaMs)} even with ideal balancing across its ${c.keys} keys`,
      facts: {
        dimension: c.dimension,
        atMs: c.etaMs,
        etaP50Ms: c.etaMs,
        value: c.demandPerSecond,
        advice: `Rebalancing cannot help: add keys to pool ${c.pool}, raise their ${c.quotaId} quotas, or spill traffic to another pool before ${formatTime(c.etaMs)}.`,
      },
    });
  }
  return conditions;
}

/**
 * The key-health rule: a key whose latest answers are `auth_error` (revoked, expired, wrong
 * secret), and a key whose configured `expires_at` is near or past.
 */
export function evaluateKeyHealth(
  outcomes: readonly OutcomeFacts[],
  keys: readonly ConfiguredKeyFacts[],
  settings: HealthRuleSettings,
  nowMs: number,
): AlertCondition[] {
  const conditions: AlertCondition[] = [];
  for (const o of outcomes) {
    if (o.authErrors === 0 || o.lastAuthErrorMs < o.lastOkMs) continue;
    conditions.push(
      keyCondition(
        'key_health',
        'auth',
        o,
        'critical',
        `key ${o.keyId} in pool ${o.pool} is refused by the provider: ${o.authErrors} auth_error answers, the last at ${formatTime(o.lastAuthErrorMs)}, none successful since`,
        {
          value: o.authErrors,
          atMs: o.lastAuthErrorMs,
          advice: `The key was probably revoked or has expired: take it out of pool ${o.pool} and replace it.`,
        },
      ),
    );
  }
  for (const k of keys) {
    if (k.expiresAtMs === undefined || k.expiresAtMs - nowMs > settings.keyExpiryWarningMs) continue;
    const expired = k.expiresAtMs <= nowMs;
    conditions.push(
      keyCondition(
        'key_health',
        'expiry',
        k,
        expired || k.expiresAtMs - nowMs <= 86_400_000 ? 'critical' : 'warning',
        expired
          ? `key ${k.keyId} in pool ${k.pool} expired at ${formatTime(k.expiresAtMs)}`
          : `key ${k.keyId} in pool ${k.pool} expires at ${formatTime(k.expiresAtMs)}`,
        {
          atMs: k.expiresAtMs,
          advice: `Rotate key ${k.keyId} before it expires, then update its expires_at.`,
        },
      ),
    );
  }
  return conditions;
}

/**
 * A key's usual longest silence: the 95th percentile of the gaps between its buckets with traffic
 * (starts in ms, ascending). Null with fewer than six such buckets: too little to know what is usual.
 */
export function estimateUsualGapMs(activeBucketStartsMs: readonly number[]): number | null {
  if (activeBucketStartsMs.length < 6) return null;
  const gaps: number[] = [];
  for (let i = 1; i < activeBucketStartsMs.length; i++)
    gaps.push((activeBucketStartsMs[i] as number) - (activeBucketStartsMs[i - 1] as number));
  gaps.sort((a, b) => a - b);
  return gaps[Math.min(gaps.length - 1, Math.floor(gaps.length * 0.95))] ?? null;
}

/** The no-data rule: a configured key silent for longer than its usual gap allows. */
export function evaluateNoData(
  keys: readonly ConfiguredKeyFacts[],
  settings: HealthRuleSettings,
  nowMs: number,
): AlertCondition[] {
  const conditions: AlertCondition[] = [];
  for (const k of keys) {
    if (k.lastSeenMs === null || k.usualGapMs === null) continue;
    const silentMs = nowMs - k.lastSeenMs;
    if (silentMs <= Math.max(settings.noDataMinMs, settings.noDataGapFactor * k.usualGapMs)) continue;
    const minutes = Math.round(silentMs / 60_000);
    conditions.push(
      keyCondition(
        'no_data',
        'silent',
        k,
        'warning',
        `key ${k.keyId} in pool ${k.pool} has sent no calls for ${minutes} minutes (usually at most ${Math.round(k.usualGapMs / 60_000)})`,
        {
          value: minutes,
          atMs: k.lastSeenMs,
          advice: `Check that the gateways still route to key ${k.keyId} and still export spans; forecasts for it are stale meanwhile.`,
        },
      ),
    );
  }
  return conditions;
}
