/** The curves section of the forecast back-test: fronts per method and per half, the fitted default, the chart. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_FORECAST_HORIZON_MINUTES, DEFAULT_FORECAST_P_EXHAUST } from '../../src/config/index.ts';
import { frontsSvg } from './chart.ts';
import {
  areaUnderFront,
  CURVE_METHODS,
  fitDefaultAlert,
  forecastLabel,
  halfOf,
  paceLabel,
  paretoFront,
  recallAt,
  scoreAlert,
  scoreWarnings,
  sweepPoints,
} from './curves.ts';
import type { CurveCase, CurveMethod, CurvePoint, ForecastSetting, PaceSetting } from './curves.ts';
import { ORACLES } from './replay.ts';
import type { CaseOutcome } from './replay.ts';

/** False-alarm rates the recall is read at, and the range the area is taken over. */
export const READ_AT_FAR = [0.05, 0.1, 0.2] as const;
export const MAX_FAR = 0.5;
/** The default alert is fitted for false alarms on clear days at or below this. */
const FIT_MAX_FAR_CLEAR = 0.05;
/** The halves should agree to within this on every figure. */
const HALF_TOLERANCE = 0.03;

const round = (value: number): number => Number(value.toFixed(4));

interface MethodCurve {
  front: CurvePoint[];
  recallAt: number[];
  area: number;
}

function curvesOf(cases: readonly CurveCase[]): Record<CurveMethod, MethodCurve> {
  const points = sweepPoints(cases);
  const result = {} as Record<CurveMethod, MethodCurve>;
  for (const method of CURVE_METHODS) {
    const front = paretoFront(points[method]);
    result[method] = {
      front,
      recallAt: READ_AT_FAR.map((far) => recallAt(front, far)),
      area: areaUnderFront(front, MAX_FAR),
    };
  }
  return result;
}

function oraclePoints(cases: readonly CaseOutcome[]): CurvePoint[] {
  return ORACLES.map((oracle) =>
    scoreWarnings(
      cases,
      (item) => (item as CaseOutcome).methods[oracle.name]?.warnMs ?? Number.NaN,
      oracle.name,
    ),
  );
}

function alertRow(point: CurvePoint): Record<string, number> {
  return {
    recall: round(point.recall),
    recall_foreseeable: round(point.recallForeseeable),
    false_alarm_rate: round(point.far),
    false_alarm_rate_clear: round(point.farClear),
  };
}

const pad = (text: string, width: number): string => text.padEnd(width);
const num = (value: number): string => value.toFixed(3).padStart(8);

export interface CurvesReport {
  text: string;
  json: Record<string, unknown>;
}

/** Fronts over all clients and over each half, the default alert, the cross-validated fit, the chart. */
export function curvesReport(outcomes: readonly CaseOutcome[], svgPath: string): CurvesReport {
  const halves = {
    A: outcomes.filter((o) => halfOf(o.subject) === 'A'),
    B: outcomes.filter((o) => halfOf(o.subject) === 'B'),
  };
  const curves = { all: curvesOf(outcomes), A: curvesOf(halves.A), B: curvesOf(halves.B) };
  const lines: string[] = [];
  const clientsOf = (list: readonly CaseOutcome[]): number => new Set(list.map((o) => o.subject)).size;
  lines.push(
    `\ncurves, servegen: Pareto fronts of recall (warned >= 30 min ahead) against false-alarm rate over each ` +
      `method's swept settings; halves A / B split the clients by a fixed hash (A: ${clientsOf(halves.A)} ` +
      `clients, ${halves.A.length} key-days; B: ${clientsOf(halves.B)} clients, ${halves.B.length} key-days)`,
  );
  const header = `${pad('set', 5)}${pad('method', 16)}${'points'.padStart(7)}${READ_AT_FAR.map((f) => `r@${f.toFixed(2)}`.padStart(8)).join('')}${'auc0-.5'.padStart(8)}`;
  lines.push(header, '-'.repeat(header.length));
  for (const set of ['all', 'A', 'B'] as const) {
    CURVE_METHODS.forEach((method, index) => {
      const curve = curves[set][method];
      lines.push(
        `${pad(index === 0 ? set : '', 5)}${pad(method, 16)}${String(curve.front.length).padStart(7)}${curve.recallAt.map(num).join('')}${num(curve.area)}`,
      );
    });
  }
  const deltas: Array<{ figure: string; gap: number }> = [];
  for (const method of CURVE_METHODS) {
    const a = curves.A[method];
    const b = curves.B[method];
    deltas.push(
      ...a.recallAt.map((value, i) => ({
        figure: `${method} r@${READ_AT_FAR[i]?.toFixed(2) ?? ''}`,
        gap: Math.abs(value - (b.recallAt[i] ?? 0)),
      })),
      { figure: `${method} auc`, gap: Math.abs(a.area - b.area) },
    );
  }

  // The default alert, the pace rule added, and the alert fitted on one half scored on the other.
  const defaultForecast: ForecastSetting = {
    p: DEFAULT_FORECAST_P_EXHAUST,
    horizonMin: DEFAULT_FORECAST_HORIZON_MINUTES,
  };
  const fitA = fitDefaultAlert(halves.A, FIT_MAX_FAR_CLEAR);
  const fitB = fitDefaultAlert(halves.B, FIT_MAX_FAR_CLEAR);
  const describe = (fit: { forecast: ForecastSetting; pace: PaceSetting | null }): string =>
    fit.pace === null
      ? forecastLabel(fit.forecast)
      : `${forecastLabel(fit.forecast)} or ${paceLabel(fit.pace)}`;
  const alertHeader = `${pad('alert', 58)}${pad('set', 5)}${'recall'.padStart(8)}${'rec.fore'.padStart(9)}${'false.al'.padStart(9)}${'fa.clear'.padStart(9)}`;
  lines.push(
    `\nalerts on servegen (fitted: highest rec.fore with fa.clear <= ${FIT_MAX_FAR_CLEAR} on the other half)`,
    alertHeader,
    '-'.repeat(alertHeader.length),
  );
  const alertRows: Record<string, Record<string, Record<string, number>>> = {};
  const addAlert = (
    name: string,
    label: string,
    scored: Partial<Record<'all' | 'A' | 'B', CurvePoint>>,
  ): void => {
    alertRows[name] = {};
    Object.entries(scored).forEach(([set, point], index) => {
      alertRows[name]![set] = alertRow(point);
      lines.push(
        `${pad(index === 0 ? `${name}: ${label}` : '', 58)}${pad(set, 5)}${num(point.recall)}${num(point.recallForeseeable).padStart(9)}${num(point.far).padStart(9)}${num(point.farClear).padStart(9)}`,
      );
    });
  };
  const defaultScores = {
    all: scoreAlert(outcomes, defaultForecast, null),
    A: scoreAlert(halves.A, defaultForecast, null),
    B: scoreAlert(halves.B, defaultForecast, null),
  };
  addAlert('default', forecastLabel(defaultForecast), defaultScores);
  addAlert('fit_on_B', describe(fitB), { A: scoreAlert(halves.A, fitB.forecast, fitB.pace) });
  addAlert('fit_on_A', describe(fitA), { B: scoreAlert(halves.B, fitA.forecast, fitA.pace) });
  const oracles = { all: oraclePoints(outcomes), A: oraclePoints(halves.A), B: oraclePoints(halves.B) };
  ORACLES.forEach((oracle, i) =>
    addAlert(oracle.name, 'clairvoyant reference', {
      all: oracles.all[i]!,
      A: oracles.A[i]!,
      B: oracles.B[i]!,
    }),
  );
  for (const key of ['recall', 'recallForeseeable', 'far', 'farClear'] as const) {
    deltas.push({
      figure: `default alert ${key}`,
      gap: Math.abs(defaultScores.A[key] - defaultScores.B[key]),
    });
  }

  // Targets.
  const check = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  const targetLines: string[] = [];
  const targets: Record<string, unknown> = {};
  for (const own of ['headroom', 'headroom+pace'] as const) {
    for (const set of ['all', 'A', 'B'] as const) {
      let minMargin = Number.POSITIVE_INFINITY;
      for (let far = 0.02; far <= MAX_FAR + 1e-9; far += 0.01) {
        const mine = recallAt(curves[set][own].front, far);
        const theirs = Math.max(
          recallAt(curves[set].predict_linear.front, far),
          recallAt(curves[set].static.front, far),
        );
        minMargin = Math.min(minMargin, mine - theirs);
      }
      const at10 =
        recallAt(curves[set][own].front, 0.1) -
        Math.max(recallAt(curves[set].predict_linear.front, 0.1), recallAt(curves[set].static.front, 0.1));
      targets[`${own}_${set}`] = {
        min_margin_far_0_02_to_0_5: round(minMargin),
        margin_at_0_10: round(at10),
      };
      targetLines.push(
        `  ${own} front above predict_linear and static (${set}): smallest margin over FAR 0.02-0.5 ` +
          `${minMargin.toFixed(3)} ${check(minMargin > 0)}, at 0.10 ${at10.toFixed(3)} ${check(at10 >= 0.05)}`,
      );
    }
  }
  for (const set of ['A', 'B'] as const) {
    const point = defaultScores[set];
    targetLines.push(
      `  default alert (${set}): rec.fore ${point.recallForeseeable.toFixed(3)} ${check(point.recallForeseeable >= 0.95)}, ` +
        `fa.clear ${point.farClear.toFixed(3)} ${check(point.farClear <= 0.05)}`,
    );
  }
  const largest = deltas.reduce((a, b) => (b.gap > a.gap ? b : a));
  const within = deltas.filter((d) => d.gap <= HALF_TOLERANCE).length;
  const ownLargest = deltas
    .filter((d) => d.figure.startsWith('headroom') || d.figure.startsWith('default'))
    .reduce((a, b) => (b.gap > a.gap ? b : a));
  targetLines.push(
    `  halves within ${HALF_TOLERANCE} on every figure above: ${within} of ${deltas.length} are; largest gap ` +
      `${largest.gap.toFixed(3)} (${largest.figure}), of headroom's own ${ownLargest.gap.toFixed(3)} ` +
      `(${ownLargest.figure}) ${check(largest.gap <= HALF_TOLERANCE)}`,
  );
  targets['half_gaps'] = Object.fromEntries(deltas.map((d) => [d.figure, round(d.gap)]));
  lines.push('\ntargets on servegen:', ...targetLines);

  // The chart: every client, the fronts, the default alert and the references as points.
  const svg = frontsSvg(
    'servegen: recall (warned >= 30 min ahead) vs false-alarm rate, Pareto fronts',
    CURVE_METHODS.map((method) => ({ name: method, front: curves.all[method].front })),
    [
      {
        name: `default alert (${forecastLabel(defaultForecast)})`,
        far: defaultScores.all.far,
        recall: defaultScores.all.recall,
      },
      ...oracles.all.map((point) => ({ name: point.setting, far: point.far, recall: point.recall })),
    ],
    MAX_FAR,
  );
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath, svg);
  lines.push(`chart: ${svgPath}`);

  const frontJson = (front: readonly CurvePoint[]): Array<[number, number, string]> =>
    front.map((p) => [round(p.far), round(p.recall), p.setting]);
  const setJson = (set: 'all' | 'A' | 'B'): Record<string, unknown> =>
    Object.fromEntries(
      CURVE_METHODS.map((method) => {
        const curve = curves[set][method];
        return [
          method,
          {
            ...Object.fromEntries(
              READ_AT_FAR.map((far, i) => [`recall_at_far_${far.toFixed(2)}`, round(curve.recallAt[i] ?? 0)]),
            ),
            auc_far_0_0_5: round(curve.area),
            front: frontJson(curve.front),
          },
        ];
      }),
    );
  return {
    text: lines.join('\n'),
    json: {
      halves: {
        A: { clients: clientsOf(halves.A), key_days: halves.A.length },
        B: { clients: clientsOf(halves.B), key_days: halves.B.length },
      },
      fronts: { all: setJson('all'), A: setJson('A'), B: setJson('B') },
      alerts: alertRows,
      fitted: { on_A: describe(fitA), on_B: describe(fitB) },
      targets,
      chart: svgPath,
    },
  };
}
