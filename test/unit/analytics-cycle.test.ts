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
