import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { selectSeries } from './bucket-series.ts';
import {
  assertForecastInput,
  exhaustedForecast,
  forecastBase,
  insufficientDataForecast,
} from './forecast-input.ts';
import type { Forecast, ForecastInput } from './types.ts';

/** `method` of the baseline forecasts. */
export const PREDICT_LINEAR_METHOD = 'predict_linear';
export const STATIC_THRESHOLD_METHOD = 'static_threshold';

function invalidArgument(field: string, value: unknown, expected: string): HeadroomError {
  return new HeadroomError(
    ErrorCode.badRequest,
    `${field}: invalid value ${JSON.stringify(value)}; expected ${expected}`,
    {
      statusCode: 400,
      details: { field, value },
    },
  );
}

/**
 * Baseline: Prometheus `predict_linear(used[lookback], t)` on the in-window usage gauge.
 *
 * Samples are the gauge "usage so far in the window" at every bucket boundary in
 * `[max(now - lookback, windowStart), now)` plus at `now` (where it equals `used`), as a scrape every
 * `bucketMs` would see them; earlier values are `used` minus the usage observed since. As in
 * Prometheus, an ordinary least-squares line is fitted with time relative to the evaluation time (so
 * the intercept is the fitted value now) and extrapolated; fewer than two samples give no answer
 * (`insufficient_data`). There is no uncertainty: `pExhaust` is 1 when the line reaches `limit` by the
 * reset (the usual alert `predict_linear(...) >= limit`), and p10 = p50 = p90 = where it crosses.
 * Samples before the window start are not used: a real Prometheus gauge would show the previous
 * window's sawtooth there, which only makes this baseline worse.
 */
export function forecastPredictLinear(input: ForecastInput, lookbackMs: number): Forecast {
  assertForecastInput(input);
  if (!Number.isFinite(lookbackMs) || lookbackMs <= 0) {
    throw invalidArgument('lookbackMs', lookbackMs, 'a positive number of ms');
  }
  const base = forecastBase(PREDICT_LINEAR_METHOD, input);
  const { nowMs, windowStartMs, resetAtMs, limit, used, bucketMs } = input;
  if (used >= limit) return exhaustedForecast(base, nowMs);
  const fromMs = Math.max(nowMs - lookbackMs, windowStartMs);
  const points = selectSeries(input.current, windowStartMs, nowMs);

  // Walk boundaries newest first, accumulating the usage observed since each one.
  const sampleTimesMs: number[] = [nowMs];
  const sampleValues: number[] = [used];
  let usageSince = 0;
  let next = points.tsMs.length - 1;
  const firstBoundaryMs = Math.ceil(fromMs / bucketMs) * bucketMs;
  for (
    let boundaryMs = Math.ceil(nowMs / bucketMs) * bucketMs - bucketMs;
    boundaryMs >= firstBoundaryMs;
    boundaryMs -= bucketMs
  ) {
    if (boundaryMs >= nowMs) continue;
    while (next >= 0 && (points.tsMs[next] ?? 0) >= boundaryMs) {
      usageSince += points.values[next] ?? 0;
      next -= 1;
    }
    sampleTimesMs.push(boundaryMs);
    sampleValues.push(used - usageSince);
  }
  if (sampleTimesMs.length < 2) return insufficientDataForecast(base);

  // Prometheus' linearRegression(samples, interceptTime): x in seconds relative to the evaluation time.
  let n = 0;
  let sumX = 0;
  let sumY = 0;
  let sumXY = 0;
  let sumX2 = 0;
  for (let i = 0; i < sampleTimesMs.length; i += 1) {
    const x = ((sampleTimesMs[i] ?? 0) - nowMs) / 1000;
    const y = sampleValues[i] ?? 0;
    n += 1;
    sumX += x;
    sumY += y;
    sumXY += x * y;
    sumX2 += x * x;
  }
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slopePerSecond = covXY / varX;
  const intercept = sumY / n - (slopePerSecond * sumX) / n;
  const atResetValue = intercept + (slopePerSecond * (resetAtMs - nowMs)) / 1000;
  const ratePerMs = slopePerSecond / 1000;
  if (!(atResetValue >= limit)) {
    return { ...base, status: 'ok', etaP10Ms: null, etaP50Ms: null, etaP90Ms: null, pExhaust: 0, ratePerMs };
  }
  const etaMs =
    intercept >= limit ? nowMs : Math.round(nowMs + ((limit - intercept) / slopePerSecond) * 1000);
  return { ...base, status: 'ok', etaP10Ms: etaMs, etaP50Ms: etaMs, etaP90Ms: etaMs, pExhaust: 1, ratePerMs };
}

/**
 * Baseline: the static "alert at 80 %" rule. `pExhaust` is 1 once `used / limit >= fraction`, else 0; it
 * makes no statement about time, so the ETAs are null until the quota is actually exhausted.
 */
export function forecastStaticThreshold(input: ForecastInput, fraction: number): Forecast {
  assertForecastInput(input);
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw invalidArgument('fraction', fraction, 'a number in (0, 1]');
  }
  const base = forecastBase(STATIC_THRESHOLD_METHOD, input);
  if (input.used >= input.limit) return exhaustedForecast(base, input.nowMs);
  return {
    ...base,
    status: 'ok',
    etaP10Ms: null,
    etaP50Ms: null,
    etaP90Ms: null,
    pExhaust: input.used / input.limit >= fraction ? 1 : 0,
  };
}
