import { describe, expect, it } from 'vitest';
import {
  AUTH_ERROR_HOLD_MS,
  computeAdvice,
  computeKeyHeadroom,
  decidePoolState,
  forecastSharedUsage,
  projectBucketRemaining,
  splitShared,
  type KeyHeadroom,
  type QuotaState,
} from '../../src/rebalance/index.ts';

const NOW = 1_763_740_800_000;
const settings = { damping: 0.5, validForMs: 90_000 };

function key(keyId: string, rate: number | undefined, extra: Partial<KeyHeadroom> = {}): KeyHeadroom {
  return { keyId, sustainableRatePerSecond: rate, reason: 'test', ...extra };
}

describe('rebalance advice', () => {
  it('weights keys by sustainable rate, summing to one', () => {
    const advice = computeAdvice('p', [key('a', 3), key('b', 1)], undefined, NOW, settings);
    expect(advice.keys).toEqual([
      { key_id: 'a', weight: 0.75, state: 'active', reason: 'test' },
      { key_id: 'b', weight: 0.25, state: 'active', reason: 'test' },
    ]);
    expect(advice.version).toBe(1);
    expect(advice.valid_until).toBe(NOW + 90_000);
  });

  it('gives exhausted and cooling keys zero weight until their reset, at once', () => {
    const previous = computeAdvice('p', [key('a', 1), key('b', 1), key('c', 1)], undefined, NOW, settings);
    const advice = computeAdvice(
      'p',
      [
        key('a', 1),
        key('b', 1, { exhaustedUntilMs: NOW + 60_000 }),
        key('c', 1, { coolingDownUntilMs: NOW + 5_000 }),
      ],
      previous,
      NOW + 1_000,
      settings,
    );
    expect(advice.keys).toMatchObject([
      { key_id: 'a', weight: 1, state: 'active' },
      { key_id: 'b', weight: 0, state: 'exhausted', until: NOW + 60_000 },
      { key_id: 'c', weight: 0, state: 'cooling_down', until: NOW + 5_000 },
    ]);
    expect(advice.version).toBe(2);
  });

  it('damps moves between usable keys and keeps the version when nothing moved', () => {
    const first = computeAdvice('p', [key('a', 1), key('b', 1)], undefined, NOW, settings);
    const moved = computeAdvice('p', [key('a', 3), key('b', 1)], first, NOW + 30_000, settings);
    // Halfway from 0.5 to the target 0.75.
    expect(moved.keys[0]?.weight).toBeCloseTo(0.625, 6);
    const settled = computeAdvice('p', [key('a', 3), key('b', 1)], moved, NOW + 60_000, settings);
    expect(settled.keys[0]?.weight).toBeCloseTo(0.6875, 6);
    const steady = computeAdvice('p', [key('a', 1), key('b', 1)], first, NOW + 30_000, settings);
    expect(steady.version).toBe(first.version);
    expect(steady.generated_at).toBe(NOW + 30_000);
  });

  it('gives keys with no known quota the median weight', () => {
    const advice = computeAdvice(
      'p',
      [key('a', 2), key('b', 4), key('c', undefined)],
      undefined,
      NOW,
      settings,
    );
    expect(advice.keys.find((k) => k.key_id === 'c')).toMatchObject({ state: 'unknown', weight: 4 / 10 });
  });
});

const MINUTE = 60_000;

function quota(extra: Partial<QuotaState> = {}): QuotaState {
  return {
    quotaId: 'requests_per_day',
    dimension: 'requests',
    windowMs: 24 * 60 * MINUTE,
    limit: 10_000,
    remaining: 10_000,
    resetAtMs: NOW + 100_000,
    exhausted: false,
    unitsPerRequest: 1,
    ...extra,
  };
}

function minuteBucket(limit: number, remaining: number, extra: Partial<QuotaState> = {}): QuotaState {
  return quota({
    quotaId: 'provider_requests',
    windowMs: MINUTE,
    limit,
    remaining,
    resetAtMs: NOW + 5_000,
    ...extra,
  });
}

describe('key headroom', () => {
  it('counts a per-minute bucket as its rate, not as what is left until it refills', () => {
    // Key a: 600 per minute with 10 left for 5 s; key b: 60 per minute, full. What is left over the
    // time to the refill would rank a (2/s) below b (12/s); the rates are 10/s and 1/s.
    const [a, b] = computeKeyHeadroom(
      [
        { keyId: 'a', quotas: [minuteBucket(600, 10)] },
        { keyId: 'b', quotas: [minuteBucket(60, 60)] },
      ],
      [],
      NOW,
    );
    expect(a?.sustainableRatePerSecond).toBeCloseTo(10, 9);
    expect(b?.sustainableRatePerSecond).toBeCloseTo(1, 9);
    expect(a?.reason).toBe('provider_requests: 600 per 60 s');
  });

  it('converts token buckets into requests with the usage per request', () => {
    const [a] = computeKeyHeadroom(
      [
        {
          keyId: 'a',
          quotas: [
            minuteBucket(600, 600),
            minuteBucket(60_000, 60_000, { dimension: 'tokens', unitsPerRequest: 2000 }),
          ],
        },
      ],
      [],
      NOW,
    );
    // 1,000 tokens a second at 2,000 tokens a request: half a request a second binds, not 10.
    expect(a?.sustainableRatePerSecond).toBeCloseTo(0.5, 9);
  });

  it('spreads what a longer window has left over the time to its reset, the tightest quota binding', () => {
    const [a] = computeKeyHeadroom(
      [{ keyId: 'a', quotas: [quota({ remaining: 1000 }), minuteBucket(6000, 6000)] }],
      [],
      NOW,
    );
    expect(a?.sustainableRatePerSecond).toBeCloseTo(10, 9);
    expect(a?.reason).toMatch(/^requests_per_day: 1000 left until /);
  });

  it('gives a shared partition to this pool only what is left after everyone else’s forecast', () => {
    const shared = {
      ...quota({ remaining: 5000 }),
      others: { ratePerMs: 0, untilReset: 3000 },
    };
    const result = computeKeyHeadroom(
      [
        { keyId: 'a', quotas: [], partition: 'org' },
        { keyId: 'b', quotas: [], partition: 'org' },
        { keyId: 'c', quotas: [quota({ remaining: 10_000 })] },
      ],
      [{ partition: 'org', quotas: [shared] }],
      NOW,
    );
    // 2,000 left for this pool over 100 s: 20/s, 10/s per key; c has 100/s of its own.
    expect(result.map((k) => k.sustainableRatePerSecond)).toEqual([10, 10, 100]);
    expect(result[0]?.reason).toMatch(
      /^partition org requests_per_day: 2000 left after others' forecast 3000/,
    );
  });

  it('takes a shared rate bucket minus the others’ rate, and lets a key capped by its own quota leave its share to the other', () => {
    const shared = { ...minuteBucket(1200, 600), others: { ratePerMs: 5 / 1000, untilReset: 25 } };
    const result = computeKeyHeadroom(
      [
        { keyId: 'a', quotas: [minuteBucket(120, 120)], partition: 'org' },
        { keyId: 'b', quotas: [], partition: 'org' },
      ],
      [{ partition: 'org', quotas: [shared] }],
      NOW,
    );
    // 20/s for the org, 5/s of it taken by others: 15/s; a's own 2/s caps it, b gets the other 13/s.
    expect(result[0]?.sustainableRatePerSecond).toBeCloseTo(2, 9);
    expect(result[1]?.sustainableRatePerSecond).toBeCloseTo(13, 9);
    expect(splitShared(10, [1, undefined, 3])).toEqual([1, 6, 3]);
  });

  it('gives zero until the until: exhausted windows, empty buckets, throttling answers, revoked keys', () => {
    const result = computeKeyHeadroom(
      [
        { keyId: 'spent', quotas: [quota({ remaining: 0, exhausted: true })] },
        { keyId: 'empty-bucket', quotas: [minuteBucket(60, 0)] },
        { keyId: 'throttled', quotas: [quota()], coolingDownUntilMs: NOW + 7_000 },
        { keyId: 'over-quota', quotas: [quota()], quotaExhaustedUntilMs: NOW + 3_600_000 },
        { keyId: 'revoked', quotas: [quota()], authErrorAtMs: NOW - 1_000 },
        { keyId: 'in-spent-org', quotas: [quota()], partition: 'org' },
        { keyId: 'cooled-off', quotas: [quota()], coolingDownUntilMs: NOW - 1 },
      ],
      [
        {
          partition: 'org',
          quotas: [{ ...quota({ remaining: 0 }), others: { ratePerMs: 0, untilReset: 0 } }],
        },
      ],
      NOW,
    );
    const byId = new Map(result.map((k) => [k.keyId, k]));
    expect(byId.get('spent')).toMatchObject({ exhaustedUntilMs: NOW + 100_000 });
    expect(byId.get('empty-bucket')).toMatchObject({ coolingDownUntilMs: NOW + 5_000 });
    expect(byId.get('throttled')).toMatchObject({ coolingDownUntilMs: NOW + 7_000 });
    expect(byId.get('over-quota')).toMatchObject({ exhaustedUntilMs: NOW + 3_600_000 });
    expect(byId.get('revoked')).toMatchObject({ exhaustedUntilMs: NOW - 1_000 + AUTH_ERROR_HOLD_MS });
    expect(byId.get('in-spent-org')).toMatchObject({
      exhaustedUntilMs: NOW + 100_000,
      reason: 'partition org requests_per_day exhausted until reset',
    });
    expect(byId.get('cooled-off')?.coolingDownUntilMs).toBeUndefined();
    const advice = computeAdvice('p', result, undefined, NOW, settings);
    expect(advice.keys.filter((k) => k.weight > 0).map((k) => k.key_id)).toEqual(['cooled-off']);
    expect(advice.keys.find((k) => k.key_id === 'revoked')).toMatchObject({ state: 'exhausted', weight: 0 });
  });
});

describe('usage of a shared partition by everyone else', () => {
  const base = { nowMs: NOW, limit: 1200, ownUsed: 0, ownRatePerMs: 0, otherPools: [] };

  it('reads a reported per-minute deficit as everyone’s rate and takes this pool’s rate out', () => {
    const shared = forecastSharedUsage({
      ...base,
      windowMs: MINUTE,
      resetAtMs: NOW + 30_000,
      reportedUsed: 900,
      ownRatePerMs: 5 / 1000,
    });
    // 900 per minute is 15/s; this pool does 5/s: others 10/s.
    expect(shared.remaining).toBe(300);
    expect(shared.others.ratePerMs * 1000).toBeCloseTo(10, 9);
  });

  it('carries outside usage of a daily window on to the reset, and adds other pools’ forecasts', () => {
    const dayStart = NOW - 6 * 60 * MINUTE;
    const shared = forecastSharedUsage({
      ...base,
      limit: 100_000,
      windowMs: 24 * 60 * MINUTE,
      resetAtMs: dayStart + 24 * 60 * MINUTE,
      reportedUsed: 30_000,
      ownUsed: 12_000,
      otherPools: [{ used: 6_000, ratePerMs: 0.001, untilReset: 20_000 }],
    });
    // Outside: 30,000 - 12,000 - 6,000 = 12,000 in 6 h, 2,000 an hour, 36,000 in the 18 h left.
    expect(shared.remaining).toBe(70_000);
    expect(shared.others.untilReset).toBeCloseTo(20_000 + 36_000, 6);
  });

  it('counts other pools’ usage against a configured limit headroom sees only through spans', () => {
    const shared = forecastSharedUsage({
      ...base,
      limit: 10_000,
      windowMs: 24 * 60 * MINUTE,
      resetAtMs: NOW + 60 * MINUTE,
      ownUsed: 2_000,
      otherPools: [{ used: 3_000, ratePerMs: 0.5, untilReset: 1_500 }],
    });
    expect(shared).toEqual({ remaining: 5_000, others: { ratePerMs: 0.5, untilReset: 1_500 } });
  });
});

describe('pool state in the advice', () => {
  const capacity = (quotaId: string, dryAtMs: number | null) => ({
    quotaId,
    dimension: 'requests' as const,
    runsDry: dryAtMs !== null,
    dryAtMs,
    shortfall: 2500,
    demandUntilReset: 10_000,
  });

  it('says the pool runs dry, when and how short, naming the quota that runs out first', () => {
    const state = decidePoolState(
      [capacity('ok_quota', null), capacity('late', NOW + 7_200_000), capacity('early', NOW + 3_600_000)],
      NOW,
    );
    expect(state).toEqual({
      state: 'runs_dry',
      dryAtMs: NOW + 3_600_000,
      leadTimeMs: 3_600_000,
      shortfall: { quotaId: 'early', dimension: 'requests', amount: 2500, share: 0.25 },
    });
    expect(decidePoolState([capacity('ok_quota', null)], NOW)).toEqual({ state: 'ok' });

    const ok = computeAdvice('p', [key('a', 1)], undefined, NOW, settings);
    expect(ok.pool_state).toBe('ok');
    expect(ok.dry_at).toBeUndefined();
    const dry = computeAdvice('p', [key('a', 1)], ok, NOW + 30_000, settings, state);
    // Same weights, new state: a new version, so a gateway polling with If-None-Match sees it.
    expect(dry.version).toBe(ok.version + 1);
    expect(dry).toMatchObject({
      pool_state: 'runs_dry',
      dry_at: NOW + 3_600_000,
      short_by: { quota_id: 'early', dimension: 'requests', amount: 2500, share: 0.25 },
    });
  });

  it('splits traffic evenly over usable keys when none has headroom left', () => {
    const advice = computeAdvice(
      'p',
      [key('a', 0), key('b', 0), key('c', 1, { coolingDownUntilMs: NOW + 1 })],
      undefined,
      NOW,
      settings,
    );
    expect(advice.keys.map((k) => k.weight)).toEqual([0.5, 0.5, 0]);
  });
});

describe('provider buckets between reports', () => {
  it('refill at their rate from the last report, up to the limit', () => {
    const bucket = { limit: 600, remaining: 0, windowMs: MINUTE };
    expect(projectBucketRemaining(bucket, NOW - 5_000, NOW)).toBe(50);
    expect(projectBucketRemaining(bucket, NOW - 5 * MINUTE, NOW)).toBe(600);
    expect(projectBucketRemaining(bucket, NOW, NOW)).toBe(0);
  });
});
