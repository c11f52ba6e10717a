/**
 * Replays quota windows through the forecasting methods and scores them side by side.
 *
 * A daily case is one key (or partition) on one quota window, with the exact moment its usage reached
 * the limit (or null). The analytics cycle is simulated every `CYCLE_MS`: at each cycle every method
 * gets what the service would have at that moment (usage so far, the window's buckets, the previous
 * days' buckets) and either warns or not. A method's first warning before the exhaustion is what an SRE
 * would have been paged with; the lead time runs from that warning to the exhaustion.
 */
import {
  forecastExhaustion,
  forecastPredictLinear,
  forecastStaticThreshold,
} from '../../src/forecast/index.ts';
import type { Forecast, ForecastInput, UsagePoint } from '../../src/forecast/index.ts';
import {
  DEFAULT_FORECAST_HORIZON_MINUTES,
  DEFAULT_FORECAST_P_EXHAUST,
  DEFAULT_PACE_LOOKBACK_MINUTES,
} from '../../src/config/index.ts';
import { SweepRecorder } from './curves.ts';
import type { Sweep } from './curves.ts';
import { createRandom, median, sampleStandardNormal, seedOf } from './random.ts';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** Simulated analytics cycle. */
export const CYCLE_MS = 5 * MINUTE_MS;
/** Lead time a warning must have on a daily quota to count. */
export const REQUIRED_LEAD_MS = 30 * MINUTE_MS;
/** predict_linear's range: `predict_linear(usage[1h], reset - now) >= limit`. */
export const PREDICT_LINEAR_LOOKBACK_MS = HOUR_MS;
/** The static rule's threshold: used / limit. */
export const STATIC_FRACTION = 0.8;
/** headroom's default forecast alert (config `alerts.forecast_p_exhaust`, `forecast_horizon_minutes`). */
const ALERT_P_EXHAUST = DEFAULT_FORECAST_P_EXHAUST;
const ALERT_HORIZON_MS = DEFAULT_FORECAST_HORIZON_MINUTES * MINUTE_MS;
/** The pace rule's horizon in the `headroom_pace` scorer (config `alerts.pace_horizon_minutes`). */
export const PACE_HORIZON_MS = 45 * MINUTE_MS;

/** The forecasting functions compared. */
export type BaseMethod = 'headroom' | 'predict_linear' | 'static_80';

/** A way of turning one method's forecasts into warnings. */
export interface Scorer {
  name: string;
  base: BaseMethod;
  warns: (forecast: Forecast, nowMs: number) => boolean;
  /**
   * Also warn as headroom's pace rule does: at the pace of the last `lookbackMs` (predict_linear over
   * that range) the window runs out within `withinMs`. Daily windows only.
   */
  pace?: { lookbackMs: number; withinMs: number };
}

function headroomWarns(minPExhaust: number, horizonMs: number): Scorer['warns'] {
  return (forecast, nowMs) =>
    forecast.status === 'ok' &&
    forecast.pExhaust >= minPExhaust &&
    forecast.etaP50Ms !== null &&
    forecast.etaP50Ms < forecast.resetAtMs &&
    forecast.etaP50Ms - nowMs <= horizonMs;
}

const crossesBeforeReset: Scorer['warns'] = (forecast) => forecast.status === 'ok' && forecast.pExhaust >= 1;

/**
 * The three methods, then headroom at other operating points:
 * - headroom: headroom's default forecast alert, as the service raises it: pExhaust >= 0.5 (the median
 *   ETA is before the reset) and that ETA within 6 hours.
 * - predict_linear: the fitted line reaches the limit before the reset.
 * - static_80: used / limit >= 0.8.
 * - headroom_p50 / headroom_p80 / headroom_p95: pExhaust >= 0.5 / 0.8 / 0.95, at any ETA before the reset.
 * - headroom_p80_4h: pExhaust >= 0.8 and the ETA within 4 hours.
 * - headroom_pace: the default forecast alert plus the pace rule (`alerts.pace_horizon_minutes: 45`):
 *   at the pace of the last 30 minutes the window runs out within 45 minutes.
 */
export const SCORERS: readonly Scorer[] = [
  { name: 'headroom', base: 'headroom', warns: headroomWarns(ALERT_P_EXHAUST, ALERT_HORIZON_MS) },
  { name: 'predict_linear', base: 'predict_linear', warns: crossesBeforeReset },
  { name: 'static_80', base: 'static_80', warns: crossesBeforeReset },
  { name: 'headroom_p50', base: 'headroom', warns: headroomWarns(0.5, Number.POSITIVE_INFINITY) },
  { name: 'headroom_p80', base: 'headroom', warns: headroomWarns(0.8, Number.POSITIVE_INFINITY) },
  { name: 'headroom_p95', base: 'headroom', warns: headroomWarns(0.95, Number.POSITIVE_INFINITY) },
  { name: 'headroom_p80_4h', base: 'headroom', warns: headroomWarns(0.8, 4 * HOUR_MS) },
  {
    name: 'headroom_pace',
    base: 'headroom',
    warns: headroomWarns(ALERT_P_EXHAUST, ALERT_HORIZON_MS),
    pace: { lookbackMs: DEFAULT_PACE_LOOKBACK_MINUTES * MINUTE_MS, withinMs: PACE_HORIZON_MS },
  },
];
/** The scorers the task's targets are about. */
export const PRIMARY_SCORERS = ['headroom', 'predict_linear', 'static_80'] as const;

export function forecastWith(method: BaseMethod, input: ForecastInput): Forecast {
  switch (method) {
    case 'headroom':
      return forecastExhaustion(input);
    case 'predict_linear':
      return forecastPredictLinear(input, PREDICT_LINEAR_LOOKBACK_MS);
    case 'static_80':
      return forecastStaticThreshold(input, STATIC_FRACTION);
  }
}

/** One quota window of one subject, with what really happened in it. */
export interface DailyCase {
  scenario: string;
  subject: string;
  windowStartMs: number;
  resetAtMs: number;
  limit: number;
  bucketMs: number;
  /** Buckets before the window (the previous days), ascending, empty ones left out. */
  history: UsagePoint[];
  /** Usage of each bucket of the window: index k covers `windowStartMs + k * bucketMs`. */
  buckets: ArrayLike<number>;
  /** When usage reached the limit, epoch ms; null when the window did not run out. */
  exhaustMs: number | null;
  /** Events only: no warning with the required lead could rest on the usage seen (`isUnforeseeable`). */
  unforeseeable: boolean;
}

/** What one scorer did on one case: its first warning (before the exhaustion, for events). */
export interface MethodOutcome {
  warnMs: number | null;
  /** The method's median ETA at its first warning (null for methods that state none). */
  etaMs: number | null;
}

export interface CaseOutcome {
  scenario: string;
  /** The key (or partition) the window belongs to. */
  subject: string;
  exhaustMs: number | null;
  /** A warning at or before this time has the required lead (events only). */
  warnByMs: number | null;
  unforeseeable: boolean;
  /** The window's whole usage over its limit (beyond 1 for events: the demand that went unserved). */
  finalShare: number;
  methods: Record<string, MethodOutcome>;
  /** Daily windows: the first warning of every swept alert setting (bench/forecast/curves.ts). */
  sweep?: Sweep;
}

/** A window that did not run out but ended at this share of its limit or more is a close call. */
export const CLOSE_CALL_SHARE = 0.9;

/** Rate ratio (last 30 min vs the hour before) above which an event counts as a surge. */
export const SURGE_RATIO = 3;

/**
 * True when the 30 minutes before `exhaustMs` ran at more than `SURGE_RATIO` times the rate of the
 * hour before them: a switch-on or a burst. `usageBetween(a, b)` is the usage in [a, b), across window
 * boundaries.
 */
export function isSurge(exhaustMs: number, usageBetween: (fromMs: number, toMs: number) => number): boolean {
  const last = usageBetween(exhaustMs - REQUIRED_LEAD_MS, exhaustMs);
  const before = usageBetween(exhaustMs - REQUIRED_LEAD_MS - HOUR_MS, exhaustMs - REQUIRED_LEAD_MS);
  return last / REQUIRED_LEAD_MS > (SURGE_RATIO * before) / HOUR_MS;
}

/**
 * An event no method can be expected to warn of 30 minutes ahead from the usage it has seen: it ran
 * out less than 30 minutes into its window, or in a surge (`isSurge`).
 */
export function isUnforeseeable(
  windowStartMs: number,
  exhaustMs: number,
  usageBetween: (fromMs: number, toMs: number) => number,
): boolean {
  return exhaustMs - windowStartMs < REQUIRED_LEAD_MS || isSurge(exhaustMs, usageBetween);
}

/** Replays one daily case through every method at every cycle until it runs out or resets. */
export function replayDailyCase(item: DailyCase): CaseOutcome {
  const { windowStartMs, resetAtMs, limit, bucketMs, history, buckets, exhaustMs } = item;
  if (CYCLE_MS % bucketMs !== 0) throw new Error('bench: the cycle must be a whole number of buckets');
  const methods: Record<string, MethodOutcome> = {};
  for (const scorer of SCORERS) methods[scorer.name] = { warnMs: null, etaMs: null };
  const current: UsagePoint[] = [];
  let used = 0;
  let nextBucket = 0;
  let pending = SCORERS.length;
  const recorder = new SweepRecorder();
  for (let nowMs = windowStartMs; nowMs < resetAtMs && (pending > 0 || !recorder.done); nowMs += CYCLE_MS) {
    if (exhaustMs !== null && nowMs >= exhaustMs) break;
    while (windowStartMs + (nextBucket + 1) * bucketMs <= nowMs) {
      const value = buckets[nextBucket] ?? 0;
      if (value > 0) current.push({ tsMs: windowStartMs + nextBucket * bucketMs, value });
      used += value;
      nextBucket += 1;
    }
    const input: ForecastInput = {
      nowMs,
      windowStartMs,
      resetAtMs,
      limit,
      used,
      current,
      history,
      bucketMs,
      timeZone: 'UTC',
    };
    const forecasts = new Map<BaseMethod, Forecast>();
    if (!recorder.done) {
      const headroom = forecastWith('headroom', input);
      forecasts.set('headroom', headroom);
      recorder.observe(input, headroom);
    }
    for (const scorer of SCORERS) {
      const outcome = methods[scorer.name];
      if (outcome === undefined || outcome.warnMs !== null) continue;
      let forecast = forecasts.get(scorer.base);
      if (forecast === undefined) {
        forecast = forecastWith(scorer.base, input);
        forecasts.set(scorer.base, forecast);
      }
      let etaMs: number | null | undefined = scorer.warns(forecast, nowMs) ? forecast.etaP50Ms : undefined;
      if (etaMs === undefined && scorer.pace !== undefined) {
        const pace = forecastPredictLinear(input, scorer.pace.lookbackMs);
        if (
          pace.status === 'ok' &&
          pace.etaP50Ms !== null &&
          pace.etaP50Ms < resetAtMs &&
          pace.etaP50Ms - nowMs <= scorer.pace.withinMs
        )
          etaMs = pace.etaP50Ms;
      }
      if (etaMs !== undefined) {
        outcome.warnMs = nowMs;
        outcome.etaMs = etaMs;
        pending -= 1;
      }
    }
  }
  let total = 0;
  for (let k = 0; k < buckets.length; k += 1) total += buckets[k] ?? 0;
  addOracles(item, methods, total);
  return {
    scenario: item.scenario,
    subject: item.subject,
    exhaustMs,
    warnByMs: exhaustMs === null ? null : exhaustMs - REQUIRED_LEAD_MS,
    unforeseeable: item.unforeseeable,
    finalShare: limit > 0 ? total / limit : 0,
    methods,
    sweep: recorder.sweep,
  };
}

/**
 * Relative errors of the clairvoyant reference forecasters (`addOracles`), with their scorer names.
 * Not forecasting methods: they bound what any forecaster could reach on a scenario.
 */
export const ORACLES: ReadonlyArray<{ name: string; logError: number }> = [
  { name: 'oracle_5pct', logError: 0.05 },
  { name: 'oracle_10pct', logError: 0.1 },
  { name: 'oracle_25pct', logError: 0.25 },
];

/**
 * Clairvoyant references: at every cycle they know the rest of the window's usage exactly, times one
 * lognormal error per window (sd `logError` in log space, seeded by the case), and warn when usage so
 * far plus that reaches the limit. A forecaster that knew the rest of each day to within ±5 % or ±10 %
 * still meets close calls it cannot call: this is how far real forecasts could get at best.
 */
function addOracles(item: DailyCase, methods: Record<string, MethodOutcome>, total: number): void {
  const { windowStartMs, resetAtMs, limit, bucketMs, buckets, exhaustMs } = item;
  const random = createRandom(seedOf(`oracle:${item.subject}:${windowStartMs}`));
  const z = sampleStandardNormal(random);
  for (const oracle of ORACLES) {
    const error = Math.exp(oracle.logError * z);
    const outcome: MethodOutcome = { warnMs: null, etaMs: null };
    let used = 0;
    let nextBucket = 0;
    for (let nowMs = windowStartMs; nowMs < resetAtMs; nowMs += CYCLE_MS) {
      if (exhaustMs !== null && nowMs >= exhaustMs) break;
      while (windowStartMs + (nextBucket + 1) * bucketMs <= nowMs) {
        used += buckets[nextBucket] ?? 0;
        nextBucket += 1;
      }
      if (used + (total - used) * error >= limit) {
        outcome.warnMs = nowMs;
        break;
      }
    }
    methods[oracle.name] = outcome;
  }
}

/** Scores of one method over a set of key-windows. Times in minutes; null where nothing was measured. */
export interface MethodScore {
  /** Share of events warned with the required lead (30 min, or before the window for minute quotas). */
  recall: number | null;
  /** The same over the events that were not unforeseeable (see `isUnforeseeable`). */
  recall_foreseeable: number | null;
  /** Share of events warned at all before they ran out. */
  recall_any: number | null;
  /** Median time from the first warning to the exhaustion, over the events warned. */
  median_lead_min: number | null;
  /** Share of key-windows that did not run out on which the method warned at least once. */
  false_alarm_rate: number | null;
  /** The same, leaving out close calls (windows that ended at `CLOSE_CALL_SHARE` of the limit or more). */
  false_alarm_rate_clear: number | null;
  /** Median |median ETA at the first warning - actual exhaustion| over the events warned. */
  median_abs_eta_error_min: number | null;
  events: number;
  foreseeable_events: number;
  key_windows: number;
}

function share(count: number, total: number): number | null {
  return total > 0 ? count / total : null;
}

export function scoreOutcomes(outcomes: readonly CaseOutcome[], scorer: string): MethodScore {
  let events = 0;
  let foreseeable = 0;
  let warnedAhead = 0;
  let warnedAheadForeseeable = 0;
  let warnedAny = 0;
  let quiet = 0;
  let clear = 0;
  let falseAlarms = 0;
  let falseAlarmsClear = 0;
  const leadsMin: number[] = [];
  const etaErrorsMin: number[] = [];
  for (const outcome of outcomes) {
    const { warnMs, etaMs } = outcome.methods[scorer] ?? { warnMs: null, etaMs: null };
    if (outcome.exhaustMs === null) {
      const isClear = outcome.finalShare < CLOSE_CALL_SHARE;
      quiet += 1;
      if (isClear) clear += 1;
      if (warnMs !== null) {
        falseAlarms += 1;
        if (isClear) falseAlarmsClear += 1;
      }
      continue;
    }
    events += 1;
    if (!outcome.unforeseeable) foreseeable += 1;
    if (warnMs === null) continue;
    warnedAny += 1;
    leadsMin.push((outcome.exhaustMs - warnMs) / MINUTE_MS);
    if (etaMs !== null) etaErrorsMin.push(Math.abs(etaMs - outcome.exhaustMs) / MINUTE_MS);
    if (outcome.warnByMs !== null && warnMs <= outcome.warnByMs) {
      warnedAhead += 1;
      if (!outcome.unforeseeable) warnedAheadForeseeable += 1;
    }
  }
  return {
    recall: share(warnedAhead, events),
    recall_foreseeable: share(warnedAheadForeseeable, foreseeable),
    recall_any: share(warnedAny, events),
    median_lead_min: leadsMin.length > 0 ? median(leadsMin) : null,
    false_alarm_rate: share(falseAlarms, quiet),
    false_alarm_rate_clear: share(falseAlarmsClear, clear),
    median_abs_eta_error_min: etaErrorsMin.length > 0 ? median(etaErrorsMin) : null,
    events,
    foreseeable_events: foreseeable,
    key_windows: outcomes.length,
  };
}
