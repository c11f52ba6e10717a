import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { Forecast, ForecastInput } from './types.ts';

function invalidInput(field: string, value: unknown, expected: string): HeadroomError {
  return new HeadroomError(
    ErrorCode.badRequest,
    `forecast input ${field}: invalid value ${JSON.stringify(value)}; expected ${expected}`,
    { statusCode: 400, details: { field, value } },
  );
}

/** Rejects inputs no forecast can be made from, naming the field and the value. */
export function assertForecastInput(input: ForecastInput): void {
  const finite: Array<[string, number]> = [
    ['nowMs', input.nowMs],
    ['windowStartMs', input.windowStartMs],
    ['resetAtMs', input.resetAtMs],
  ];
  for (const [field, value] of finite) {
    if (!Number.isFinite(value)) throw invalidInput(field, value, 'a finite epoch ms');
  }
  if (!(input.resetAtMs > input.windowStartMs)) {
    throw invalidInput('resetAtMs', input.resetAtMs, `a time after windowStartMs (${input.windowStartMs})`);
  }
  if (input.nowMs < input.windowStartMs) {
    throw invalidInput('nowMs', input.nowMs, `a time at or after windowStartMs (${input.windowStartMs})`);
  }
  if (!Number.isFinite(input.limit) || input.limit < 0) {
    throw invalidInput('limit', input.limit, 'a finite number >= 0');
  }
  if (!Number.isFinite(input.used) || input.used < 0) {
    throw invalidInput('used', input.used, 'a finite number >= 0');
  }
  if (!Number.isFinite(input.bucketMs) || input.bucketMs <= 0) {
    throw invalidInput('bucketMs', input.bucketMs, 'a positive number of ms');
  }
}

export type ForecastBase = Pick<Forecast, 'method' | 'used' | 'limit' | 'remaining' | 'resetAtMs'>;

export function forecastBase(method: string, input: ForecastInput): ForecastBase {
  return {
    method,
    used: input.used,
    limit: input.limit,
    remaining: Math.max(0, input.limit - input.used),
    resetAtMs: input.resetAtMs,
  };
}

/** Already out of quota: every quantile of the exhaustion time is "now" (or earlier; the past is not forecast). */
export function exhaustedForecast(base: ForecastBase, nowMs: number): Forecast {
  return { ...base, status: 'exhausted', etaP10Ms: nowMs, etaP50Ms: nowMs, etaP90Ms: nowMs, pExhaust: 1 };
}

export function insufficientDataForecast(base: ForecastBase): Forecast {
  return {
    ...base,
    status: 'insufficient_data',
    etaP10Ms: null,
    etaP50Ms: null,
    etaP90Ms: null,
    pExhaust: 0,
  };
}
