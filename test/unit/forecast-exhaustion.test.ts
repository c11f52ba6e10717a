import { describe, expect, it } from 'vitest';

import { createRandom, EXHAUSTION_METHOD, forecastExhaustion } from '../../src/forecast/index.ts';
import type { Forecast, ForecastInput, UsagePoint } from '../../src/forecast/index.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

function poissonSampler(random: () => number): (mean: number) => number {
  const sample = (mean: number): number => {
    if (mean <= 0) return 0;
    // Knuth's method underflows for large means; a sum of Poisson draws is Poisson.
    if (mean > 30) return sample(30) + sample(mean - 30);
    const limit = Math.exp(-mean);
    let count = -1;
    let product = 1;
    do {
      count += 1;
      product *= random();
    } while (product > limit);
    return count;
  };
  return sample;
}

/** Gamma(shape, 1) by Marsaglia-Tsang, for gamma-Poisson (negative binomial) buckets. */
function gammaSampler(random: () => number): (shape: number) => number {
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const sample = (shape: number): number => {
    if (shape < 1) return sample(shape + 1) * random() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      if (Math.log(1 - random()) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
    }
  };
  return sample;
}

/** Buckets from `fromMs` (inclusive) to `toMs` (exclusive); empty buckets are left out, as rollups do. */
function series(
  fromMs: number,
  toMs: number,
  bucketMs: number,
  draw: (tsMs: number) => number,
): UsagePoint[] {
  const points: UsagePoint[] = [];
  for (let tsMs = fromMs; tsMs < toMs; tsMs += bucketMs) {
    const value = draw(tsMs);
    if (value > 0) points.push({ tsMs, value });
  }
  return points;
}

const total = (points: UsagePoint[]): number => points.reduce((sum, point) => sum + point.value, 0);

const WINDOW_START = Date.UTC(2024, 4, 6); // a Monday, 00:00 UTC
const WINDOW_END = WINDOW_START + DAY;

/** A forecast input whose buckets are points, as these tests build them. */
type PointInput = ForecastInput & { current: UsagePoint[] };

function steadyInput(options: {
  rate: number;
  elapsedMinutes: number;
  limit: number;
  seed?: number;
}): PointInput {
  const poisson = poissonSampler(createRandom(options.seed ?? 1));
  const nowMs = WINDOW_START + options.elapsedMinutes * MINUTE;
  const current = series(WINDOW_START, nowMs, MINUTE, () => poisson(options.rate));
  return {
    nowMs,
    windowStartMs: WINDOW_START,
    resetAtMs: WINDOW_END,
    limit: options.limit,
    used: total(current),
    current,
    bucketMs: MINUTE,
  };
}

function expectCoherent(forecast: Forecast, input: ForecastInput): void {
  expect(forecast.pExhaust).toBeGreaterThanOrEqual(0);
  expect(forecast.pExhaust).toBeLessThanOrEqual(1);
  const etas: Array<[number, number | null]> = [
    [0.1, forecast.etaP10Ms],
    [0.5, forecast.etaP50Ms],
    [0.9, forecast.etaP90Ms],
  ];
  for (const [quantile, eta] of etas) {
    // A quantile of the exhaustion time exists before reset exactly when exhaustion is that likely.
    expect(eta === null).toBe(forecast.pExhaust < quantile);
    if (eta !== null) {
      expect(eta).toBeGreaterThanOrEqual(input.nowMs);
      expect(eta).toBeLessThanOrEqual(input.resetAtMs);
    }
  }
  if (forecast.etaP10Ms !== null && forecast.etaP50Ms !== null) {
    expect(forecast.etaP10Ms).toBeLessThanOrEqual(forecast.etaP50Ms);
  }
  if (forecast.etaP50Ms !== null && forecast.etaP90Ms !== null) {
    expect(forecast.etaP50Ms).toBeLessThanOrEqual(forecast.etaP90Ms);
  }
}

describe('forecastExhaustion: status', () => {
  it('reports exhausted, with certainty, once usage has reached the limit', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 100 });
    const forecast = forecastExhaustion(input);
    expect(forecast).toMatchObject({
      method: EXHAUSTION_METHOD,
      status: 'exhausted',
      pExhaust: 1,
      remaining: 0,
      etaP10Ms: input.nowMs,
      etaP50Ms: input.nowMs,
      etaP90Ms: input.nowMs,
    });
  });

  it('refuses to guess with thin history and a window that has barely started', () => {
    const poisson = poissonSampler(createRandom(2));
    const nowMs = WINDOW_START + 20 * MINUTE;
    const current = series(WINDOW_START, nowMs, MINUTE, () => poisson(50));
    const history = series(WINDOW_START - 2 * HOUR, WINDOW_START, MINUTE, () => poisson(50));
    const input: ForecastInput = {
      nowMs,
      windowStartMs: WINDOW_START,
      resetAtMs: WINDOW_END,
      limit: 10_000,
      used: total(current),
      current,
      history,
      bucketMs: MINUTE,
    };
    const forecast = forecastExhaustion(input);
    expect(forecast).toMatchObject({
      status: 'insufficient_data',
      pExhaust: 0,
      etaP10Ms: null,
      etaP50Ms: null,
      etaP90Ms: null,
      used: input.used,
      remaining: 10_000 - input.used,
    });

    // A few days of history, or a good part of the window, are enough to say something.
    const withHistory = forecastExhaustion({
      ...input,
      history: series(WINDOW_START - 3 * DAY, WINDOW_START, MINUTE, () => poisson(50)),
    });
    expect(withHistory.status).toBe('ok');
    expect(withHistory.pExhaust).toBeGreaterThan(0.99);
    const later = steadyInput({ rate: 50, elapsedMinutes: 180, limit: 100_000 });
    expect(forecastExhaustion(later).status).toBe('ok');
  });

  it('refuses to guess when the quota shows usage the series do not contain', () => {
    const input = steadyInput({ rate: 0, elapsedMinutes: 600, limit: 1000 });
    expect(forecastExhaustion({ ...input, used: 400 }).status).toBe('insufficient_data');
    // An idle key with nothing used is a confident, correct "no".
    const idle = forecastExhaustion(input);
    expect(idle).toMatchObject({ status: 'ok', etaP10Ms: null, etaP50Ms: null, etaP90Ms: null });
    expect(idle.pExhaust).toBeLessThan(1e-6);
  });

  it('rejects invalid input, naming the field', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 100, limit: 10_000 });
    expect(() => forecastExhaustion({ ...input, bucketMs: 0 })).toThrow(/bucketMs/);
    expect(() => forecastExhaustion({ ...input, resetAtMs: input.windowStartMs })).toThrow(/resetAtMs/);
    expect(() => forecastExhaustion({ ...input, timeZone: 'Nowhere/Land' })).toThrow(/"Nowhere\/Land"/);
  });
});

describe('forecastExhaustion: properties', () => {
  it('gives coherent quantiles: p10 <= p50 <= p90, each present exactly when pExhaust reaches it', () => {
    const probabilities: number[] = [];
    for (const elapsedMinutes of [120, 600, 1200]) {
      const probe = steadyInput({ rate: 5, elapsedMinutes, limit: 1e9, seed: elapsedMinutes });
      const projectedRest = 5 * (1440 - elapsedMinutes);
      for (const factor of [0.5, 0.9, 0.97, 1, 1.03, 1.1, 1.5]) {
        const input = { ...probe, limit: Math.round(probe.used + projectedRest * factor) };
        const forecast = forecastExhaustion(input);
        expect(forecast.status).toBe('ok');
        expectCoherent(forecast, input);
        probabilities.push(forecast.pExhaust);
      }
    }
    // The grid covers certain, uncertain and impossible exhaustion.
    expect(Math.max(...probabilities)).toBeGreaterThan(0.99);
    expect(Math.min(...probabilities)).toBeLessThan(0.01);
    expect(probabilities.some((p) => p > 0.2 && p < 0.8)).toBe(true);
  });

  it('puts the median ETA where the observed rate runs out', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 6000 });
    const forecast = forecastExhaustion(input);
    const expectedEtaMs = input.nowMs + ((input.limit - input.used) / 5) * MINUTE;
    expect(forecast.pExhaust).toBeGreaterThan(0.99);
    expect(Math.abs((forecast.etaP50Ms ?? 0) - expectedEtaMs)).toBeLessThan(20 * MINUTE);
    expect((forecast.ratePerMs ?? 0) * MINUTE).toBeCloseTo(5, 0);
  });

  it('raises pExhaust with the usage rate', () => {
    const probabilities = [3, 4, 5, 6, 7].map((rate) => {
      const input = steadyInput({ rate, elapsedMinutes: 600, limit: 7200, seed: 9 });
      return forecastExhaustion(input).pExhaust;
    });
    for (let i = 1; i < probabilities.length; i += 1) {
      expect(probabilities[i]).toBeGreaterThanOrEqual(probabilities[i - 1] ?? 0);
    }
    expect(probabilities[0]).toBeLessThan(0.05);
    expect(probabilities[4]).toBeGreaterThan(0.95);
  });

  it('raises pExhaust with what is already used', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 7200, seed: 4 });
    let previous = -1;
    for (let used = input.used - 600; used <= input.used + 600; used += 100) {
      const forecast = forecastExhaustion({ ...input, used });
      expect(forecast.pExhaust).toBeGreaterThanOrEqual(previous);
      previous = forecast.pExhaust;
    }
    expect(forecastExhaustion({ ...input, used: input.used - 600 }).pExhaust).toBeLessThan(0.05);
    expect(forecastExhaustion({ ...input, used: input.used + 600 }).pExhaust).toBeGreaterThan(0.95);
  });

  it('is deterministic and leaves its input untouched', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 7200 });
    const copy = structuredClone(input);
    expect(forecastExhaustion(input)).toEqual(forecastExhaustion(copy));
    expect(input).toEqual(copy);
  });
});

/**
 * Simulates many windows, forecasts each at a random moment, lets the window run to its end and
 * compares predicted probabilities with how often the quota actually ran out.
 */
function simulateCalibration(options: {
  seed: number;
  windows: number;
  withHistory: boolean;
  /** Negative-binomial size of bucket counts (gamma-Poisson); undefined for plain Poisson. */
  overdispersion?: number;
}): Array<{ p: number; exhausted: boolean }> {
  const random = createRandom(options.seed);
  const poisson = poissonSampler(random);
  const gamma = gammaSampler(random);
  const bucketsPerWindow = 720;
  const outcomes: Array<{ p: number; exhausted: boolean }> = [];
  for (let w = 0; w < options.windows; w += 1) {
    const windowStartMs = WINDOW_START + w * DAY;
    const rate = 1 + random() * 9;
    const size = options.overdispersion;
    const draw = (): number => poisson(size === undefined ? rate : (gamma(size) * rate) / size);
    const nowIndex = 60 + Math.floor(random() * 600);
    const nowMs = windowStartMs + nowIndex * MINUTE;
    const current = series(windowStartMs, nowMs, MINUTE, draw);
    const used = total(current);
    let rest = 0;
    for (let i = nowIndex; i < bucketsPerWindow; i += 1) rest += draw();
    const history = options.withHistory ? series(windowStartMs - 2 * DAY, windowStartMs, MINUTE, draw) : [];
    // The limit is placed around what the observed rate projects (not the true rate, which would leak
    // information the forecaster cannot have and bias which windows land in which probability bin).
    const observedRate = used / nowIndex;
    const limit = Math.round(
      (used + observedRate * (bucketsPerWindow - nowIndex)) * (0.93 + random() * 0.14),
    );
    if (used >= limit) continue;
    const forecast = forecastExhaustion({
      nowMs,
      windowStartMs,
      resetAtMs: windowStartMs + bucketsPerWindow * MINUTE,
      limit,
      used,
      current,
      history,
      bucketMs: MINUTE,
    });
    expect(forecast.status).toBe('ok');
    outcomes.push({ p: forecast.pExhaust, exhausted: used + rest >= limit });
  }
  return outcomes;
}

function expectCalibrated(outcomes: Array<{ p: number; exhausted: boolean }>): void {
  for (const [low, high] of [
    [0.05, 0.35],
    [0.35, 0.65],
    [0.65, 0.95],
    [0.7, 0.9],
  ] as const) {
    const inBin = outcomes.filter(({ p }) => p >= low && p < high);
    expect(inBin.length).toBeGreaterThan(60);
    const predicted = inBin.reduce((sum, { p }) => sum + p, 0) / inBin.length;
    const observed = inBin.filter(({ exhausted }) => exhausted).length / inBin.length;
    const standardError = Math.sqrt((predicted * (1 - predicted)) / inBin.length);
    expect(Math.abs(observed - predicted)).toBeLessThan(Math.max(0.06, 3 * standardError));
  }
  // Confident forecasts are right.
  const confident = outcomes.filter(({ p }) => p < 0.02 || p > 0.98);
  const wrong = confident.filter(({ p, exhausted }) => p > 0.5 !== exhausted).length;
  expect(wrong / confident.length).toBeLessThan(0.03);
}

describe('forecastExhaustion: calibration on simulated windows', () => {
  it('is calibrated for Poisson usage with no history', () => {
    expectCalibrated(simulateCalibration({ seed: 11, windows: 1200, withHistory: false }));
  });

  it('is calibrated for Poisson usage with history', () => {
    expectCalibrated(simulateCalibration({ seed: 12, windows: 1200, withHistory: true }));
  });

  it('is calibrated for overdispersed (negative binomial) usage', () => {
    expectCalibrated(simulateCalibration({ seed: 13, windows: 1200, withHistory: false, overdispersion: 2 }));
  });
});

describe('forecastExhaustion: resets, bursts and surges', () => {
  it('ignores everything before the window start (a reset is a sawtooth, not a trend)', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 7200 });
    const beforeReset = series(WINDOW_START - 2 * HOUR, WINDOW_START, MINUTE, () => 400);
    const withSawtooth = forecastExhaustion({ ...input, current: [...beforeReset, ...input.current] });
    expect(withSawtooth).toEqual(forecastExhaustion(input));
  });

  it('does not read a burst that has ended as a new level', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 13_000 });
    const burstTsMs = input.nowMs - 60 * MINUTE;
    const current = input.current.map((point) =>
      point.tsMs === burstTsMs ? { ...point, value: 3000 } : point,
    );
    const withBurst = forecastExhaustion({ ...input, current, used: total(current) });
    // The burst counts toward `used`, but the rest of the day runs at the usual rate.
    expect((withBurst.ratePerMs ?? 0) * MINUTE).toBeLessThan(6);
    expect(withBurst.pExhaust).toBeLessThan(0.05);
    expect(withBurst.etaP10Ms).toBeNull();
  });

  it('follows a surge that is still going on', () => {
    const input = steadyInput({ rate: 5, elapsedMinutes: 600, limit: 9000 });
    const surgeFromMs = input.nowMs - 10 * MINUTE;
    const current = input.current
      .filter((point) => point.tsMs < surgeFromMs)
      .concat(series(surgeFromMs, input.nowMs, MINUTE, () => 60));
    const steady = forecastExhaustion(input);
    const surging = forecastExhaustion({ ...input, current, used: total(current) });
    expect((surging.ratePerMs ?? 0) * MINUTE).toBeGreaterThan(2 * (steady.ratePerMs ?? 0) * MINUTE);
    expect(surging.pExhaust).toBeGreaterThan(0.9);
    expect(steady.pExhaust).toBeLessThan(0.05);
  });
});

describe('forecastExhaustion: time of day', () => {
  const businessHours = (tsMs: number): boolean => {
    const hour = new Date(tsMs).getUTCHours();
    return hour >= 9 && hour < 17;
  };
  const sevenDays = (rate: number, seed: number): UsagePoint[] => {
    const poisson = poissonSampler(createRandom(seed));
    return series(WINDOW_START - 7 * DAY, WINDOW_START, MINUTE, (tsMs) =>
      businessHours(tsMs) ? poisson(rate) : 0,
    );
  };
  const today = (rate: number, nowMs: number, seed: number): UsagePoint[] => {
    const poisson = poissonSampler(createRandom(seed));
    return series(WINDOW_START, nowMs, MINUTE, (tsMs) => (businessHours(tsMs) ? poisson(rate) : 0));
  };

  it('does not take a quiet night for an idle day when history says the day is busy', () => {
    const nowMs = WINDOW_START + 6 * HOUR;
    const input: ForecastInput = {
      nowMs,
      windowStartMs: WINDOW_START,
      resetAtMs: WINDOW_END,
      limit: 3600,
      used: 0,
      current: [],
      history: sevenDays(10, 21),
      bucketMs: MINUTE,
    };
    // History: 4800 a day, all between 09:00 and 17:00.
    const forecast = forecastExhaustion(input);
    expect(forecast.status).toBe('ok');
    expect(forecast.pExhaust).toBeGreaterThan(0.6);
    expect(forecast.etaP50Ms).toBeGreaterThan(WINDOW_START + 9 * HOUR);
    expect(forecast.etaP50Ms).toBeLessThan(WINDOW_START + 17 * HOUR);
    expect((forecast.ratePerMs ?? 1) * MINUTE).toBeLessThan(0.1);
    // Without history, six silent hours mean what they say.
    expect(forecastExhaustion({ ...input, history: [] }).pExhaust).toBeLessThan(0.01);
  });

  it('scales the daily shape to today’s level and puts the ETA where today runs out', () => {
    const nowMs = WINDOW_START + 11 * HOUR;
    for (const rate of [10, 20]) {
      const current = today(rate, nowMs, 22);
      const used = total(current);
      const limit = Math.round(used + 3 * 60 * rate);
      const input: ForecastInput = {
        nowMs,
        windowStartMs: WINDOW_START,
        resetAtMs: WINDOW_END,
        limit,
        used,
        current,
        history: sevenDays(10, 23),
        bucketMs: MINUTE,
      };
      const forecast = forecastExhaustion(input);
      const trueEtaMs = nowMs + 3 * HOUR;
      expect(forecast.pExhaust).toBeGreaterThan(0.5);
      expect(Math.abs((forecast.etaP50Ms ?? 0) - trueEtaMs)).toBeLessThan(30 * MINUTE);
      expectCoherent(forecast, input);
      // Without the daily shape, the quiet morning dilutes the rate and the ETA comes later.
      const flat = forecastExhaustion({ ...input, history: [] });
      expect(Math.abs((flat.etaP50Ms ?? Infinity) - trueEtaMs)).toBeGreaterThan(
        Math.abs((forecast.etaP50Ms ?? 0) - trueEtaMs),
      );
    }
  });

  it('knows the evening is quiet: usage that stops at 17:00 does not run out overnight', () => {
    const nowMs = WINDOW_START + 11 * HOUR;
    const current = today(10, nowMs, 24);
    const used = total(current);
    const input: ForecastInput = {
      nowMs,
      windowStartMs: WINDOW_START,
      resetAtMs: WINDOW_END,
      limit: used + 8 * 60 * 10, // eight more busy hours, but only six are left today
      used,
      current,
      history: sevenDays(10, 25),
      bucketMs: MINUTE,
    };
    expect(forecastExhaustion(input).pExhaust).toBeLessThan(0.01);
    // A forecaster without the daily shape extrapolates today's rate through the night.
    expect(forecastExhaustion({ ...input, history: [] }).pExhaust).toBeGreaterThan(0.5);
  });

  it('reads the profile in the quota’s time zone, across a 23-hour DST day', () => {
    // 2024-03-10 is 23 hours long in Los Angeles; business hours are 09:00-17:00 local.
    const windowStartMs = Date.UTC(2024, 2, 10, 8);
    const resetAtMs = Date.UTC(2024, 2, 11, 7);
    const localHour = (tsMs: number): number => {
      const hour = new Date(tsMs).getUTCHours();
      return (hour + (tsMs >= Date.UTC(2024, 2, 10, 10) ? 17 : 16)) % 24;
    };
    const busy = (tsMs: number): boolean => localHour(tsMs) >= 9 && localHour(tsMs) < 17;
    const poisson = poissonSampler(createRandom(31));
    const history = series(windowStartMs - 7 * DAY, windowStartMs, 10 * MINUTE, (tsMs) => {
      const hour = (new Date(tsMs).getUTCHours() + 16) % 24;
      return hour >= 9 && hour < 17 ? poisson(100) : 0;
    });
    const nowMs = windowStartMs + 11 * HOUR; // 12:00 PDT
    const current = series(windowStartMs, nowMs, 10 * MINUTE, (tsMs) => (busy(tsMs) ? poisson(100) : 0));
    const used = total(current);
    const input: ForecastInput = {
      nowMs,
      windowStartMs,
      resetAtMs,
      limit: used + 2400, // 4 busy hours at 600 an hour
      used,
      current,
      history,
      bucketMs: 10 * MINUTE,
      timeZone: 'America/Los_Angeles',
    };
    const forecast = forecastExhaustion(input);
    expect(forecast.status).toBe('ok');
    expect(Math.abs((forecast.etaP50Ms ?? 0) - (nowMs + 4 * HOUR))).toBeLessThan(40 * MINUTE);
    expectCoherent(forecast, input);
  });
});

describe('forecastExhaustion: short windows', () => {
  it('forecasts the next full window of a per-minute quota from the minutes before it', () => {
    const poisson = poissonSampler(createRandom(41));
    const nowMs = WINDOW_START + 12 * HOUR + 30_000;
    // Minute buckets up to the one still filling (30 s into it).
    const history = series(nowMs - 2 * HOUR - 30_000, nowMs, MINUTE, (tsMs) =>
      poisson(tsMs + MINUTE > nowMs ? 550 : 1100),
    );
    // A sliding window frees capacity continuously: the question is whether the next 60 s alone
    // reach the limit.
    const input: ForecastInput = {
      nowMs,
      windowStartMs: nowMs,
      resetAtMs: nowMs + MINUTE,
      limit: 1000,
      used: 0,
      current: [],
      history,
      bucketMs: MINUTE,
    };
    const forecast = forecastExhaustion(input);
    expect(forecast.status).toBe('ok');
    // 1100 a minute against a limit of 1000: it runs out, about 55 s into the minute (unless the
    // rate drops by a tenth, which minute-to-minute drift allows now and then).
    expect(forecast.pExhaust).toBeGreaterThan(0.9);
    expect(Math.abs((forecast.etaP50Ms ?? 0) - (nowMs + (1000 / 1100) * MINUTE))).toBeLessThan(5000);
    expectCoherent(forecast, input);
    expect(forecastExhaustion({ ...input, limit: 1300 }).pExhaust).toBeLessThan(0.01);
    // Ten minutes of history are not enough to judge a one-minute window.
    expect(forecastExhaustion({ ...input, history: history.slice(-5) }).status).toBe('insufficient_data');
  });
});

describe('forecastExhaustion: what past windows say about this one', () => {
  it('projects the rest of the day less confidently for a key whose days do not keep their morning pace', () => {
    const bucketMs = 10 * MINUTE;
    const poisson = poissonSampler(createRandom(51));
    // Same daily volume either way: steady all day, or busy one half-day and idle the other in turn.
    const steady = series(WINDOW_START - 7 * DAY, WINDOW_START, bucketMs, () => poisson(100));
    const switching = series(WINDOW_START - 7 * DAY, WINDOW_START, bucketMs, (tsMs) => {
      const day = Math.floor((tsMs - WINDOW_START) / DAY);
      const morning = new Date(tsMs).getUTCHours() < 12;
      return (day % 2 === 0) === morning ? poisson(200) : 0;
    });
    const nowMs = WINDOW_START + 12 * HOUR;
    const current = series(WINDOW_START, nowMs, bucketMs, () => poisson(100));
    const used = total(current);
    // At the morning's pace the afternoon brings 7200; 60 % of that is left.
    const input: ForecastInput = {
      nowMs,
      windowStartMs: WINDOW_START,
      resetAtMs: WINDOW_END,
      limit: Math.round(used + 0.6 * 7200),
      used,
      current,
      history: steady,
      bucketMs,
    };
    const fromSteady = forecastExhaustion(input);
    expect(fromSteady.pExhaust).toBeGreaterThan(0.95);
    // On the switching key, mornings have foretold afternoons badly (a busy morning was followed by an
    // idle afternoon): the projection still says it runs out, with far less certainty. Hour-to-hour
    // noise alone (independent hours) would still claim more than 0.9.
    const fromSwitching = forecastExhaustion({ ...input, history: switching });
    expect(fromSwitching.pExhaust).toBeGreaterThan(0.5);
    expect(fromSwitching.pExhaust).toBeLessThan(0.85);
    expectCoherent(fromSwitching, { ...input, history: switching });
  });

  it('follows a per-minute load that has moved to a new plateau instead of averaging it away', () => {
    const bucketMs = 10_000;
    const poisson = poissonSampler(createRandom(52));
    const nowMs = WINDOW_START + 12 * HOUR;
    // 400 a minute for 27 minutes, then 600 a minute for the last three.
    const history = series(nowMs - 30 * MINUTE, nowMs, bucketMs, (tsMs) =>
      poisson(tsMs >= nowMs - 3 * MINUTE ? 100 : 400 / 6),
    );
    const input: ForecastInput = {
      nowMs,
      windowStartMs: nowMs,
      resetAtMs: nowMs + MINUTE,
      limit: 500,
      used: 0,
      current: [],
      history,
      bucketMs,
    };
    const forecast = forecastExhaustion(input);
    // The minutes before the shift were each predicted best from the one just before them, so the
    // memory is short: the level is near the new plateau, not a blend with the old one (~520).
    expect((forecast.ratePerMs ?? 0) * MINUTE).toBeGreaterThan(560);
    expect(forecast.pExhaust).toBeGreaterThan(0.7);
    expectCoherent(forecast, input);
  });
});
