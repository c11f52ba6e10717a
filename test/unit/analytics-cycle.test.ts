import { describe, expect, it } from 'vitest';
import { computeCycle, type CycleInputs } from '../../src/analytics/cycle.ts';
import type { CachedSeries } from '../../src/analytics/series-cache.ts';
import { parseHeadroomFile } from '../../src/config/index.ts';
import { forecastExhaustion } from '../../src/forecast/index.ts';

const MINUTE = 60_000;
const BUCKET = 10 * MINUTE;
const DAY_START = Date.UTC(2026, 10, 21);
const NOW = DAY_START + 12 * 60 * MINUTE + 5 * MINUTE;

/** One key: 10 requests per 10 minutes since midnight, then 500 per bucket from 11:30, 250 so far at 12:00. */
function surgingKey(): CachedSeries {
  const fine = {
    t: [] as number[],
    requests: [] as number[],
    input_tokens: [] as number[],
    output_tokens: [] as number[],
    cost_usd: [] as number[],
  };
  for (let t = DAY_START; t <= NOW - 5 * MINUTE; t += BUCKET) {
    const requests = t === NOW - 5 * MINUTE ? 250 : t >= NOW - 35 * MINUTE ? 500 : 10;
    fine.t.push(t);
    fine.requests.push(requests);
    fine.input_tokens.push(requests * 100);
    fine.output_tokens.push(requests * 10);
    fine.cost_usd.push(requests * 0.001);
  }
  const hours = { t: [], requests: [], input_tokens: [], output_tokens: [], cost_usd: [] };
  return { pool: 'p', key_id: 'k', partition: 'k', provider: 'openai', hours, fine };
}

function inputs(paceLookbackMs?: number): CycleInputs {
  return {
    file: parseHeadroomFile(
      'pools: [{ name: p, key_quotas: [{ dimension: requests, window: day, limit: 4000 }] }]',
      'test.yaml',
    ),
    nowMs: NOW,
    bucketMs: BUCKET,
    series: [surgingKey()],
    fineFromMs: NOW - 26 * 60 * MINUTE,
    coveredFromMs: NOW - 8 * 24 * 60 * MINUTE,
    prefixes: new Map(),
    providerLimits: [],
    throttling: [],
    ...(paceLookbackMs === undefined ? {} : { paceLookbackMs }),
  };
}

describe('analytics cycle', () => {
  it('forecasts a pool quota over the usage of every key of the pool', () => {
    const other = { ...surgingKey(), key_id: 'k2' };
    const result = computeCycle({
      ...inputs(),
      file: parseHeadroomFile(
        'pools: [{ name: p, quotas: [{ dimension: requests, window: day, limit: 10000 }] }]',
        'test.yaml',
      ),
      series: [surgingKey(), other],
    });
    const pool = result.subjects.find((s) => s.subject.kind === 'pool');
    expect(pool?.subject).toMatchObject({ pool: 'p', id: 'p', keyIds: ['k', 'k2'] });
    expect(pool?.quotas[0]?.forecast.used).toBe(2 * 2440);
    // Pool quotas bound the pool as a whole: they do not weigh one key against another.
    expect(result.headroom.get('p')?.map((h) => h.reason)).toEqual([
      'no quota known: median weight',
      'no quota known: median weight',
    ]);
  });

  it('projects the pace of the last minutes of a calendar window when asked to', () => {
    const [quota] = computeCycle(inputs(30 * MINUTE)).subjects[0]?.quotas ?? [];
    expect(quota?.forecast.used).toBe(690 + 1500 + 250);
    // 50 requests a minute, 1,560 left: about 31 minutes from 12:05.
    expect(quota?.paceEtaMs).toBeGreaterThan(NOW + 25 * MINUTE);
    expect(quota?.paceEtaMs).toBeLessThan(NOW + 40 * MINUTE);
    expect(computeCycle(inputs()).subjects[0]?.quotas[0]?.paceEtaMs).toBeNull();
  });

  it('hands the core the cached columns: the same forecast as from points', () => {
    const [quota] = computeCycle(inputs()).subjects[0]?.quotas ?? [];
    const key = surgingKey();
    const points = key.fine.t.map((tsMs, i) => ({ tsMs, value: key.fine.requests[i] ?? 0 }));
    expect(quota?.windowStartMs).toBe(DAY_START);
    expect(quota?.forecast).toEqual(
      forecastExhaustion({
        nowMs: NOW,
        windowStartMs: DAY_START,
        resetAtMs: DAY_START + 24 * 60 * MINUTE,
        limit: 4000,
        used: 2440,
        current: points.filter((p) => p.tsMs >= DAY_START),
        history: [],
        bucketMs: BUCKET,
        timeZone: 'UTC',
      }),
    );
  });
});

describe('analytics cycle: capacity and headroom wiring', () => {
  const twoKeys = (limit: number) => ({
    ...inputs(),
    file: parseHeadroomFile(
      `pools: [{ name: p, key_quotas: [{ dimension: requests, window: day, limit: ${limit} }] }]`,
      'test.yaml',
    ),
    series: [surgingKey(), { ...surgingKey(), key_id: 'k2' }],
  });

  it('forecasts keys that reset together as one pool, and says when it runs dry and how short', () => {
    // Each key has used 2,440 of 3,000 and runs at 50 a minute: the pool has 1,120 left at 100 a minute.
    const result = computeCycle(twoKeys(3000));
    const [capacity] = result.capacity;
    expect(capacity).toMatchObject({ pool: 'p', quotaId: 'requests_per_day', method: 'pool_total', keys: 2 });
    expect(capacity?.capacity.runsDry).toBe(true);
    // The level is fitted over the whole morning, so the recent surge alone does not set the pace.
    expect(capacity?.leadTimeMs).toBeGreaterThan(5 * MINUTE);
    expect(capacity?.leadTimeMs).toBeLessThan(3 * 60 * MINUTE);
    const state = result.poolStates.get('p');
    expect(state).toMatchObject({ state: 'runs_dry', dryAtMs: capacity?.capacity.etaMs });
    expect(state?.shortfall?.amount).toBeGreaterThan(1_000);

    const roomy = computeCycle(twoKeys(400_000));
    expect(roomy.capacity[0]?.capacity.runsDry).toBe(false);
    expect(roomy.poolStates.get('p')).toEqual({ state: 'ok' });
  });

  it('counts a provider bucket reported by keys of one organisation once, less what outside consumers take', () => {
    const limitRow = (keyId: string, observedAgoMs: number) => ({
      pool: 'p',
      key_id: keyId,
      partition: 'org',
      dimension: 'requests',
      limit: 600,
      remaining: 300,
      reset_at_ms: NOW + 30_000,
      observed_at_ms: NOW - observedAgoMs,
    });
    const inOrg = (keyId: string): CachedSeries => ({ ...surgingKey(), key_id: keyId, partition: 'org' });
    const result = computeCycle({
      ...inputs(),
      file: parseHeadroomFile('pools: [{ name: p }]', 'test.yaml'),
      series: [inOrg('k'), inOrg('k2')],
      providerLimits: [limitRow('k', 1000), limitRow('k2', 2000)],
    });
    const rates = result.headroom.get('p')?.map((h) => h.sustainableRatePerSecond ?? 0) ?? [];
    // 600 a minute is 10/s for the organisation. The freshest report (1 s ago) said 300 left; the
    // bucket has refilled 10 since: 290 used in the last minute is 4.83/s, of which this pool's keys
    // did 750 requests each in the last 15 minutes (1.67/s together): the rest is outside.
    expect(rates[0]).toBeCloseTo(rates[1] ?? 0, 9);
    expect((rates[0] ?? 0) + (rates[1] ?? 0)).toBeCloseTo(10 - (290 / 60 - 1500 / 900), 6);
    expect(result.headroom.get('p')?.[0]?.reason).toMatch(/^partition org provider_requests: 600 per 60 s/);
  });

  it('keeps a learned per-minute limit after its bucket has refilled', () => {
    const result = computeCycle({
      ...inputs(),
      file: parseHeadroomFile('pools: [{ name: p }]', 'test.yaml'),
      providerLimits: [
        {
          pool: 'p',
          key_id: 'k',
          partition: 'k',
          dimension: 'requests',
          limit: 600,
          remaining: 599,
          reset_at_ms: NOW - 5_000,
          observed_at_ms: NOW - 5_100,
        },
      ],
    });
    const [key] = result.headroom.get('p') ?? [];
    expect(key?.sustainableRatePerSecond).toBeCloseTo(10, 9);
    expect(key?.reason).toBe('provider_requests: 600 per 60 s');
  });

  it('says the pool runs dry when a quota of the pool as a whole runs out, whatever the weights', () => {
    const withPoolQuota = (limit: number) =>
      computeCycle({
        ...inputs(),
        file: parseHeadroomFile(
          `pools: [{ name: p, quotas: [{ dimension: requests, window: day, limit: ${limit} }] }]`,
          'test.yaml',
        ),
        series: [surgingKey(), { ...surgingKey(), key_id: 'k2' }],
      });
    const dry = withPoolQuota(6000);
    expect(dry.capacity).toEqual([
      expect.objectContaining({ quotaId: 'requests_per_day', method: 'pool_total', keys: 2 }),
    ]);
    expect(dry.poolStates.get('p')).toMatchObject({ state: 'runs_dry' });
    expect(withPoolQuota(1_000_000).poolStates.get('p')).toEqual({ state: 'ok' });
  });

  it('does not call the pool dry on a quota that only some of its keys have', () => {
    const result = computeCycle({
      ...inputs(),
      file: parseHeadroomFile(
        'pools: [{ name: p, keys: [{ id: k, quotas: [{ dimension: requests, window: day, limit: 3000 }] }] }]',
        'test.yaml',
      ),
      series: [surgingKey(), { ...surgingKey(), key_id: 'k2' }],
    });
    // k runs out, but k2 has no known limit: the demand can go there.
    expect(result.subjects.find((s) => s.subject.id === 'k')?.quotas[0]?.forecast.pExhaust).toBeGreaterThan(
      0.5,
    );
    expect(result.capacity).toEqual([expect.objectContaining({ keys: 1, leadTimeMs: null })]);
    expect(result.poolStates.get('p')).toEqual({ state: 'ok' });
  });
});
