import { describe, expect, it } from 'vitest';
import {
  createRandom,
  forecastExhaustion,
  type ForecastInput,
  type UsagePoint,
} from '../../src/forecast/index.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Two days of steady usage at `perBucket` a ten-minute bucket, then today until `nowMs`. */
function steadyInput(perBucket: number, limit: number, nowMs: number, fanAtMs?: number[]): ForecastInput {
  const windowStartMs = Math.floor(nowMs / DAY) * DAY;
  const random = createRandom(3);
  const points: UsagePoint[] = [];
  let used = 0;
  for (let t = windowStartMs - 2 * DAY; t < nowMs; t += 10 * MINUTE) {
    const value = Math.max(0, Math.round(perBucket * (0.8 + 0.4 * random())));
    points.push({ tsMs: t, value });
    if (t >= windowStartMs) used += value;
  }
  return {
    nowMs,
    windowStartMs,
    resetAtMs: windowStartMs + DAY,
    limit,
    used,
    current: points,
    history: points,
    bucketMs: 10 * MINUTE,
    ...(fanAtMs === undefined ? {} : { fanAtMs }),
  };
}

describe('the forecast fan', () => {
  const nowMs = Date.UTC(2026, 5, 10, 12, 0);

  it('is absent unless asked for, and asking changes nothing else', () => {
    const plain = forecastExhaustion(steadyInput(10, 2_000, nowMs));
    expect(plain.fan).toBeUndefined();
    const withFan = forecastExhaustion(steadyInput(10, 2_000, nowMs, [nowMs, nowMs + HOUR]));
    expect({ ...withFan, fan: undefined }).toEqual({ ...plain, fan: undefined });
  });

  it('starts at the usage so far, widens with time, and keeps p10 ≤ p50 ≤ p90 ≤ limit', () => {
    const times = Array.from({ length: 13 }, (_, i) => nowMs + i * HOUR);
    const f = forecastExhaustion(steadyInput(10, 2_000, nowMs, times));
    const input = steadyInput(10, 2_000, nowMs);
    expect(f.fan?.[0]).toEqual({ atMs: nowMs, p10: input.used, p50: input.used, p90: input.used });
    let lastWidth = 0;
    for (const p of f.fan ?? []) {
      expect(p.p10).toBeLessThanOrEqual(p.p50);
      expect(p.p50).toBeLessThanOrEqual(p.p90);
      expect(p.p90).toBeLessThanOrEqual(2_000);
      expect(p.p90 - p.p10).toBeGreaterThanOrEqual(lastWidth - 1e-6);
      lastWidth = p.p90 - p.p10;
    }
    // About 60 an hour: the median by the reset is close to what is used plus twelve hours of that.
    const atReset = f.fan?.at(-1);
    expect(atReset?.atMs).toBe(nowMs + 12 * HOUR);
    expect(atReset?.p50).toBeGreaterThan(input.used + 12 * 60 * 0.8);
    expect(atReset?.p50).toBeLessThan(input.used + 12 * 60 * 1.2);
  });

  it('meets the limit where the forecast says the quota runs out', () => {
    // About 60 an hour with 500 left and 12 hours to go: it runs out in the afternoon.
    const input = steadyInput(10, 0, nowMs);
    const limit = input.used + 500;
    const f0 = forecastExhaustion({ ...input, limit });
    expect(f0.etaP10Ms).not.toBeNull();
    expect(f0.etaP90Ms).not.toBeNull();
    const etas = [f0.etaP10Ms, f0.etaP50Ms, f0.etaP90Ms] as number[];
    const f = forecastExhaustion({ ...input, limit, fanAtMs: etas });
    const [atP10, atP50, atP90] = f.fan ?? [];
    // The early case (p90 of usage) reaches the limit at the early ETA, the median at the median ETA.
    expect(atP10?.p90).toBeCloseTo(limit, -1);
    expect(atP50?.p50).toBeCloseTo(limit, -1);
    expect(atP90?.p10).toBeCloseTo(limit, -1);
  });
});
