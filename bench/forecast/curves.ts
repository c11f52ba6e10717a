/**
 * Quality curves of the forecast back-test: every method's alert threshold swept over a grid, each
 * setting scored by recall (warned with the required lead) and false-alarm rate, and the Pareto front
 * of those points traced per method.
 *
 * Rules swept (first warning per setting, recorded during the replay by `SweepRecorder`):
 * - forecast: headroom's forecast rule, `pExhaust >= p` and the median ETA within `horizon`, before the
 *   reset (`alerts.forecast_p_exhaust`, `alerts.forecast_horizon_minutes`);
 * - pace: headroom's pace rule, at the pace of the last `lookback` the window runs out within `within`;
 * - combined: either of the two (the first warning of a pair is the earlier of theirs);
 * - predict_linear: `predict_linear(used[lookback], reset - now) >= margin × limit`;
 * - static: `used / limit >= fraction`.
 */
import { forecastPredictLinear } from '../../src/forecast/index.ts';
import type { Forecast, ForecastInput } from '../../src/forecast/index.ts';
import { seedOf } from './random.ts';

const MINUTE_MS = 60_000;

export const FORECAST_P = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99];
export const FORECAST_HORIZONS_MIN = [30, 60, 120, 180, 240, 360, 540, 720, 1440];
export const PACE_LOOKBACKS_MIN = [15, 30, 60];
export const PACE_WITHIN_MIN = [15, 30, 45, 60, 90, 120, 180];
export const LINEAR_LOOKBACKS_MIN = [30, 60, 120, 240, 360];
export const LINEAR_MARGINS = [0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2];
export const STATIC_FRACTIONS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

export interface ForecastSetting {
  p: number;
  horizonMin: number;
}
export interface PaceSetting {
  lookbackMin: number;
  withinMin: number;
}
export interface LinearSetting {
  lookbackMin: number;
  margin: number;
}

function product<A, B, T>(as: readonly A[], bs: readonly B[], make: (a: A, b: B) => T): T[] {
  return as.flatMap((a) => bs.map((b) => make(a, b)));
}

export const FORECAST_GRID: readonly ForecastSetting[] = product(
  FORECAST_P,
  FORECAST_HORIZONS_MIN,
  (p, h) => ({
    p,
    horizonMin: h,
  }),
);
export const PACE_GRID: readonly PaceSetting[] = product(PACE_LOOKBACKS_MIN, PACE_WITHIN_MIN, (l, w) => ({
  lookbackMin: l,
  withinMin: w,
}));
export const LINEAR_GRID: readonly LinearSetting[] = product(
  LINEAR_LOOKBACKS_MIN,
  LINEAR_MARGINS,
  (l, m) => ({
    lookbackMin: l,
    margin: m,
  }),
);

/** First warning (epoch ms, NaN for none) of every setting of every swept rule, for one case. */
export interface Sweep {
  forecast: Float64Array;
  pace: Float64Array;
  linear: Float64Array;
  static: Float64Array;
}

/** Does the forecast rule warn at (p, horizon)? As `evaluateRules` in src/alerts/rules.ts. */
export function forecastRuleWarns(forecast: Forecast, nowMs: number, p: number, horizonMs: number): boolean {
  return (
    forecast.status === 'ok' &&
    forecast.pExhaust >= p &&
    forecast.etaP50Ms !== null &&
    forecast.etaP50Ms < forecast.resetAtMs &&
    forecast.etaP50Ms - nowMs <= horizonMs
  );
}

/** Does the pace rule warn: at the pace of the last `lookbackMs` the window runs out within `withinMs`? */
export function paceEtaMs(input: ForecastInput, lookbackMs: number): number | null {
  const pace = forecastPredictLinear(input, lookbackMs);
  if (pace.status === 'exhausted') return input.nowMs;
  if (pace.status !== 'ok' || pace.etaP50Ms === null || !(pace.etaP50Ms < input.resetAtMs)) return null;
  return pace.etaP50Ms;
}

/** Records the first warning of every setting over the cycles of one case. */
export class SweepRecorder {
  readonly sweep: Sweep = {
    forecast: new Float64Array(FORECAST_GRID.length).fill(Number.NaN),
    pace: new Float64Array(PACE_GRID.length).fill(Number.NaN),
    linear: new Float64Array(LINEAR_GRID.length).fill(Number.NaN),
    static: new Float64Array(STATIC_FRACTIONS.length).fill(Number.NaN),
  };
  private pending = FORECAST_GRID.length + PACE_GRID.length + LINEAR_GRID.length + STATIC_FRACTIONS.length;

  get done(): boolean {
    return this.pending === 0;
  }

  private mark(values: Float64Array, index: number, nowMs: number): void {
    if (Number.isNaN(values[index] ?? 0)) {
      values[index] = nowMs;
      this.pending -= 1;
    }
  }

  /** One cycle: `headroom` is `forecastExhaustion(input)`. */
  observe(input: ForecastInput, headroom: Forecast): void {
    const { nowMs, used, limit } = input;
    const { forecast, pace, linear } = this.sweep;
    FORECAST_GRID.forEach((setting, i) => {
      if (
        Number.isNaN(forecast[i] ?? 0) &&
        forecastRuleWarns(headroom, nowMs, setting.p, setting.horizonMin * MINUTE_MS)
      )
        this.mark(forecast, i, nowMs);
    });
    for (const lookbackMin of PACE_LOOKBACKS_MIN) {
      const etaMs = paceEtaMs(input, lookbackMin * MINUTE_MS);
      if (etaMs === null) continue;
      PACE_GRID.forEach((setting, i) => {
        if (setting.lookbackMin === lookbackMin && etaMs - nowMs <= setting.withinMin * MINUTE_MS)
          this.mark(pace, i, nowMs);
      });
    }
    LINEAR_GRID.forEach((setting, i) => {
      if (!Number.isNaN(linear[i] ?? 0)) return;
      const scaledLimit = setting.margin * limit;
      if (used >= scaledLimit) {
        this.mark(linear, i, nowMs);
        return;
      }
      const line = forecastPredictLinear({ ...input, limit: scaledLimit }, setting.lookbackMin * MINUTE_MS);
      if (line.status === 'ok' && line.pExhaust >= 1) this.mark(linear, i, nowMs);
    });
    STATIC_FRACTIONS.forEach((fraction, i) => {
      if (used / limit >= fraction) this.mark(this.sweep.static, i, nowMs);
    });
  }
}

/** What scoring a setting needs of one case. */
export interface CurveCase {
  subject: string;
  exhaustMs: number | null;
  warnByMs: number | null;
  unforeseeable: boolean;
  finalShare: number;
  sweep?: Sweep;
}

/** One operating point: a setting and its scores. */
export interface CurvePoint {
  setting: string;
  recall: number;
  far: number;
  recallForeseeable: number;
  farClear: number;
}

/** A close call: the window did not run out but ended at this share of its limit or more. */
const CLOSE_CALL_SHARE = 0.9;

/** Scores of one setting from each case's first warning (NaN: none). */
export function scoreWarnings(
  cases: readonly CurveCase[],
  warnOf: (item: CurveCase) => number,
  setting: string,
): CurvePoint {
  let events = 0;
  let foreseeable = 0;
  let hits = 0;
  let hitsForeseeable = 0;
  let quiet = 0;
  let clear = 0;
  let alarms = 0;
  let alarmsClear = 0;
  for (const item of cases) {
    const warnMs = warnOf(item);
    const warned = !Number.isNaN(warnMs);
    if (item.exhaustMs === null) {
      const isClear = item.finalShare < CLOSE_CALL_SHARE;
      quiet += 1;
      if (isClear) clear += 1;
      if (warned) {
        alarms += 1;
        if (isClear) alarmsClear += 1;
      }
      continue;
    }
    events += 1;
    if (!item.unforeseeable) foreseeable += 1;
    if (warned && item.warnByMs !== null && warnMs <= item.warnByMs) {
      hits += 1;
      if (!item.unforeseeable) hitsForeseeable += 1;
    }
  }
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
  return {
    setting,
    recall: ratio(hits, events),
    far: ratio(alarms, quiet),
    recallForeseeable: ratio(hitsForeseeable, foreseeable),
    farClear: ratio(alarmsClear, clear),
  };
}

function earlier(a: number, b: number): number {
  if (Number.isNaN(a)) return b;
  if (Number.isNaN(b)) return a;
  return Math.min(a, b);
}

export function forecastLabel(s: ForecastSetting): string {
  return `p>=${s.p} eta<=${s.horizonMin}m`;
}
export function paceLabel(s: PaceSetting): string {
  return `pace ${s.lookbackMin}m out<=${s.withinMin}m`;
}

/** The methods whose fronts are traced, in the order printed. */
export const CURVE_METHODS = ['headroom', 'pace', 'headroom+pace', 'predict_linear', 'static'] as const;
export type CurveMethod = (typeof CURVE_METHODS)[number];

/** Every swept setting of every method, scored over `cases`. */
export function sweepPoints(cases: readonly CurveCase[]): Record<CurveMethod, CurvePoint[]> {
  const at = (rule: keyof Sweep, i: number) => (item: CurveCase) => item.sweep?.[rule][i] ?? Number.NaN;
  const headroom = FORECAST_GRID.map((s, i) => scoreWarnings(cases, at('forecast', i), forecastLabel(s)));
  const pace = PACE_GRID.map((s, i) => scoreWarnings(cases, at('pace', i), paceLabel(s)));
  const combined: CurvePoint[] = [];
  FORECAST_GRID.forEach((f, i) =>
    PACE_GRID.forEach((p, j) =>
      combined.push(
        scoreWarnings(
          cases,
          (item) => earlier(item.sweep?.forecast[i] ?? Number.NaN, item.sweep?.pace[j] ?? Number.NaN),
          `${forecastLabel(f)} or ${paceLabel(p)}`,
        ),
      ),
    ),
  );
  const linear = LINEAR_GRID.map((s, i) =>
    scoreWarnings(cases, at('linear', i), `${s.lookbackMin}m >= ${s.margin}x limit`),
  );
  const statics = STATIC_FRACTIONS.map((f, i) => scoreWarnings(cases, at('static', i), `used >= ${f}`));
  return {
    headroom,
    pace,
    'headroom+pace': [...headroom, ...combined],
    predict_linear: linear,
    static: statics,
  };
}

/**
 * The Pareto front: the points no other point beats on both recall and false-alarm rate, by rising
 * false-alarm rate (and so rising recall).
 */
export function paretoFront(points: readonly CurvePoint[]): CurvePoint[] {
  const sorted = [...points].sort((a, b) => a.far - b.far || b.recall - a.recall);
  const front: CurvePoint[] = [];
  for (const point of sorted) {
    const last = front[front.length - 1];
    if (last === undefined || point.recall > last.recall) {
      if (last !== undefined && last.far === point.far) front.pop();
      front.push(point);
    }
  }
  return front;
}

/**
 * Recall on the front at false-alarm rate `far`: linear between its points (alternating two settings
 * at random reaches any point between them), from (0, 0) (never warn), flat beyond its last point.
 */
export function recallAt(front: readonly CurvePoint[], far: number): number {
  let previous = { far: 0, recall: 0 };
  for (const point of front) {
    if (point.far >= far) {
      if (point.far === previous.far) return Math.max(point.recall, previous.recall);
      const t = (far - previous.far) / (point.far - previous.far);
      return previous.recall + t * (point.recall - previous.recall);
    }
    previous = point;
  }
  return previous.recall;
}

/** Area under the front over false-alarm rates [0, maxFar], divided by maxFar (1 = full recall throughout). */
export function areaUnderFront(front: readonly CurvePoint[], maxFar: number): number {
  const knots = [0, ...front.map((p) => p.far).filter((far) => far > 0 && far < maxFar), maxFar];
  let area = 0;
  for (let k = 1; k < knots.length; k += 1) {
    const a = knots[k - 1] ?? 0;
    const b = knots[k] ?? 0;
    area += ((recallAt(front, a) + recallAt(front, b)) / 2) * (b - a);
  }
  return area / maxFar;
}

/** Fixed half of a subject: 'A' or 'B' by a hash of its id, the same on every run. */
export function halfOf(subject: string): 'A' | 'B' {
  return seedOf(`half:${subject}`) % 2 === 0 ? 'A' : 'B';
}

/**
 * The default alert fitted on `cases`: the forecast setting, alone or with a pace setting, with the
 * highest recall on foreseeable events among those with false alarms on clear days <= `maxFarClear`
 * (ties: fewer false alarms). Returns the forecast and pace settings (pace null: off).
 */
export function fitDefaultAlert(
  cases: readonly CurveCase[],
  maxFarClear: number,
): { forecast: ForecastSetting; pace: PaceSetting | null } {
  let best: { forecast: ForecastSetting; pace: PaceSetting | null; point: CurvePoint } | null = null;
  const consider = (forecast: ForecastSetting, pace: PaceSetting | null, point: CurvePoint): void => {
    if (point.farClear > maxFarClear) return;
    if (
      best === null ||
      point.recallForeseeable > best.point.recallForeseeable ||
      (point.recallForeseeable === best.point.recallForeseeable && point.farClear < best.point.farClear)
    )
      best = { forecast, pace, point };
  };
  FORECAST_GRID.forEach((f, i) => {
    consider(
      f,
      null,
      scoreWarnings(cases, (item) => item.sweep?.forecast[i] ?? Number.NaN, ''),
    );
    PACE_GRID.forEach((p, j) =>
      consider(
        f,
        p,
        scoreWarnings(
          cases,
          (item) => earlier(item.sweep?.forecast[i] ?? Number.NaN, item.sweep?.pace[j] ?? Number.NaN),
          '',
        ),
      ),
    );
  });
  const chosen = best as { forecast: ForecastSetting; pace: PaceSetting | null } | null;
  return chosen ?? { forecast: { p: 0.99, horizonMin: 30 }, pace: null };
}

/** Scores of a forecast setting, optionally with a pace setting, over `cases`. */
export function scoreAlert(
  cases: readonly CurveCase[],
  forecast: ForecastSetting,
  pace: PaceSetting | null,
): CurvePoint {
  const i = FORECAST_GRID.findIndex((s) => s.p === forecast.p && s.horizonMin === forecast.horizonMin);
  const j =
    pace === null
      ? -1
      : PACE_GRID.findIndex((s) => s.lookbackMin === pace.lookbackMin && s.withinMin === pace.withinMin);
  if (i < 0 || (pace !== null && j < 0)) throw new Error('bench: the alert setting is not on the swept grid');
  const label = pace === null ? forecastLabel(forecast) : `${forecastLabel(forecast)} or ${paceLabel(pace)}`;
  return scoreWarnings(
    cases,
    (item) =>
      earlier(
        item.sweep?.forecast[i] ?? Number.NaN,
        j < 0 ? Number.NaN : (item.sweep?.pace[j] ?? Number.NaN),
      ),
    label,
  );
}
