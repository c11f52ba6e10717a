import { describe, expect, it } from 'vitest';

import {
  forecastPredictLinear,
  forecastStaticThreshold,
  PREDICT_LINEAR_METHOD,
  STATIC_THRESHOLD_METHOD,
} from '../../src/forecast/index.ts';
import type { ForecastInput, UsagePoint } from '../../src/forecast/index.ts';

const SECOND = 1000;
const MINUTE = 60_000;

/** Six one-minute buckets from t = 0 (the window start); `now` is 30 s into the sixth. */
const input: ForecastInput & { current: UsagePoint[] } = {
  nowMs: 330 * SECOND,
  windowStartMs: 0,
  resetAtMs: 3600 * SECOND,
  limit: 200,
  used: 95,
  current: [
    { tsMs: 0, value: 10 },
    { tsMs: 1 * MINUTE, value: 20 },
    { tsMs: 2 * MINUTE, value: 10 },
    { tsMs: 3 * MINUTE, value: 30 },
    { tsMs: 4 * MINUTE, value: 20 },
    { tsMs: 5 * MINUTE, value: 5 },
  ],
  bucketMs: MINUTE,
};

describe('forecastPredictLinear (Prometheus predict_linear)', () => {
  it('matches a least-squares line computed by hand, with the intercept at the evaluation time', () => {
    // Lookback 180 s: samples of the usage gauge at the bucket boundaries 180 s, 240 s, 300 s and at
    // now (330 s): 95 - 5 - 20 - 30 = 40, 95 - 5 - 20 = 70, 95 - 5 = 90, 95.
    // x relative to now (s): -150, -90, -30, 0; mean x = -67.5, mean y = 73.75.
    // Sxy = (-82.5)(-33.75) + (-22.5)(-3.75) + (37.5)(16.25) + (67.5)(21.25) = 4912.5
    // Sxx = 82.5² + 22.5² + 37.5² + 67.5² = 13275
    const slopePerSecond = 4912.5 / 13275;
    const intercept = 73.75 + slopePerSecond * 67.5;
    const etaMs = 330 * SECOND + ((200 - intercept) / slopePerSecond) * SECOND;

    const forecast = forecastPredictLinear(input, 180 * SECOND);
    expect(forecast).toMatchObject({
      method: PREDICT_LINEAR_METHOD,
      status: 'ok',
      pExhaust: 1,
      remaining: 105,
    });
    expect(forecast.ratePerMs).toBeCloseTo(slopePerSecond / 1000, 12);
    expect(forecast.etaP50Ms).toBeCloseTo(etaMs, -1);
    // No uncertainty model: every quantile is the crossing.
    expect(forecast.etaP10Ms).toBe(forecast.etaP50Ms);
    expect(forecast.etaP90Ms).toBe(forecast.etaP50Ms);
  });

  it('says no when the line reaches the limit only after the reset', () => {
    // Same line, but the window resets at 600 s, before the crossing (~604 s).
    const forecast = forecastPredictLinear({ ...input, resetAtMs: 600 * SECOND }, 180 * SECOND);
    expect(forecast).toMatchObject({
      status: 'ok',
      pExhaust: 0,
      etaP10Ms: null,
      etaP50Ms: null,
      etaP90Ms: null,
    });
  });

  it('does not fit across the window start', () => {
    // A lookback reaching before the window adds no samples from the previous window.
    const previousWindow = [{ tsMs: -2 * MINUTE, value: 500 }];
    const withPrevious = forecastPredictLinear(
      { ...input, current: [...previousWindow, ...input.current] },
      600 * SECOND,
    );
    expect(withPrevious).toEqual(forecastPredictLinear(input, 600 * SECOND));
  });

  it('needs two samples, like Prometheus', () => {
    const justStarted = { ...input, nowMs: 20 * SECOND, used: 3, current: [{ tsMs: 0, value: 3 }] };
    // Samples at 0 s and at 20 s: enough.
    expect(forecastPredictLinear(justStarted, 60 * SECOND).status).toBe('ok');
    // Lookback of 10 s reaches no bucket boundary: only the sample at now.
    expect(forecastPredictLinear(justStarted, 10 * SECOND)).toMatchObject({
      status: 'insufficient_data',
      pExhaust: 0,
      etaP50Ms: null,
    });
  });

  it('reports exhaustion and rejects a bad lookback', () => {
    expect(forecastPredictLinear({ ...input, used: 200 }, 180 * SECOND)).toMatchObject({
      status: 'exhausted',
      pExhaust: 1,
      etaP50Ms: input.nowMs,
    });
    expect(() => forecastPredictLinear(input, 0)).toThrow(/lookbackMs/);
  });
});

describe('forecastStaticThreshold ("alert at 80 %")', () => {
  it('fires once usage reaches the fraction of the limit, and says nothing about time', () => {
    const at = (used: number) => forecastStaticThreshold({ ...input, limit: 100, used }, 0.8);
    expect(at(79)).toMatchObject({
      method: STATIC_THRESHOLD_METHOD,
      status: 'ok',
      pExhaust: 0,
      etaP50Ms: null,
    });
    expect(at(80)).toMatchObject({
      status: 'ok',
      pExhaust: 1,
      etaP10Ms: null,
      etaP50Ms: null,
      etaP90Ms: null,
    });
    expect(at(100)).toMatchObject({ status: 'exhausted', pExhaust: 1, remaining: 0 });
    expect(() => forecastStaticThreshold(input, 1.5)).toThrow(/fraction/);
  });
});
