/**
 * Forecasting core: quota windows, per-quota exhaustion forecasts and pool capacity. Pure: series in,
 * forecast out; no I/O and no clock reads (time is always an argument).
 */
export type {
  FanPoint,
  Forecast,
  ForecastInput,
  ForecastStatus,
  PoolCapacityForecast,
  PoolKeyCapacity,
  QuotaDimension,
  QuotaWindow,
  ReportedWindow,
  UsageColumns,
  UsagePoint,
  UsageSeries,
  WindowBounds,
} from './types.ts';
export {
  describeTimeZone,
  formatUtcOffset,
  isValidTimeZone,
  zoneOffsetMs,
  zonedTimeToUtc,
} from './time-zone.ts';
export { windowBounds } from './quota-window.ts';
export { EXHAUSTION_METHOD, forecastExhaustion } from './exhaustion.ts';
export {
  forecastPredictLinear,
  forecastStaticThreshold,
  PREDICT_LINEAR_METHOD,
  STATIC_THRESHOLD_METHOD,
} from './baselines.ts';
export { forecastPoolCapacity } from './pool-capacity.ts';
export { createRandom } from './random.ts';
export type { Random } from './random.ts';
