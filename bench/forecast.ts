/**
 * Forecast back-test: replays real and synthetic API traffic through the forecasting core at simulated
 * analytics cycles and scores headroom's method against two baselines.
 *
 * (a) servegen: per-client traffic of a commercial LLM API (ServeGen), each client a key with a daily
 *     request quota set from its own previous week (bench/forecast/servegen.ts).
 * (b) minute: TPM and RPM quotas on the Azure LLM inference 2023 traces and Mooncake's conversation
 *     trace, decided one window ahead (bench/forecast/minute.ts).
 * (c) synthetic: seeded cases with known structure (bench/forecast/synthetic.ts).
 *
 * Daily quotas are forecast every 5 minutes of simulated time with 5-minute buckets and seven days of
 * history, as the analytics cycle does. Methods and their warnings (bench/forecast/replay.ts):
 * headroom = `forecastExhaustion`, warning as the service's default forecast alert does (pExhaust >=
 * 0.5, so the median ETA is before the reset, and that ETA within 6 hours); predict_linear =
 * `forecastPredictLinear` over 1 h, warning when the line reaches the limit before the reset;
 * static_80 = `forecastStaticThreshold(0.8)`, warning at 80 % used. headroom is also scored at
 * pExhaust >= 0.5, 0.8 and 0.95 with any ETA before the reset, at 0.8 within 4 hours, and with the
 * optional pace rule added (headroom_pace: at the pace of the last 30 minutes, out within 45).
 *
 * Figures per method: recall = share of events (windows that ran out) warned at least 30 minutes
 * before (minute quotas: before the window started); rec.fore = the same over foreseeable events
 * (not exhausted in the window's first 30 minutes, not in a surge: the last 30 minutes running at
 * more than 3x the rate of the hour before); rec.any = warned at all before running out; med.lead =
 * median time from the first warning to the exhaustion; false.al = share of windows that did not run
 * out on which the method warned at least once; fa.clear = the same without close calls (windows that
 * ended at 90 % of the limit or more); |eta err| = median |ETA at the first warning - actual|.
 *
 * Reference rows oracle_5pct / _10pct / _25pct are not forecasts: at every cycle they know the rest of
 * the window's usage, off by one lognormal error per window (5, 10, 25 %), and warn when it reaches
 * the limit. They show how well the rest of a day would have to be known to meet a target; the
 * servegen section also prints how well it can be projected from the pace so far or from last week.
 *
 * Curves (bench/forecast/curves.ts): on servegen every rule's threshold is swept over a grid and the
 * Pareto front of recall against false-alarm rate traced per method (headroom's forecast rule, its pace
 * rule, both, predict_linear over lookback x margin, static thresholds 50-95 %), read at false-alarm
 * rates 0.05 / 0.10 / 0.20 and summed as the area under the front over 0-0.5; over all clients and over
 * two halves split by a fixed hash of the client, with the default alert fitted on one half and scored
 * on the other. The fronts are drawn to an SVG chart (`--svg PATH`, default bench/results/forecast-fronts.svg).
 *
 * The last line is one JSON object with every figure. BENCH_QUICK=1 replays a subset (every fifth
 * ServeGen client, 3 synthetic keys per case over 4 days); `--client-stride N` keeps every N-th ServeGen
 * client, `--servegen-only` skips (b) and (c).
 * Traces: ServeGen (Apache-2.0, Xiang et al., arXiv 2505.09999), Azure LLM inference trace 2023
 * (CC-BY 4.0, Patel et al., Splitwise, ISCA 2024), Mooncake (Apache-2.0, Mooncake FAST'25).
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { curvesReport } from './forecast/curves-report.ts';
import { runMinute } from './forecast/minute.ts';
import { ORACLES, PRIMARY_SCORERS, SCORERS } from './forecast/replay.ts';
import type { CaseOutcome } from './forecast/replay.ts';
import { groupJson, tableHeader, tableRows } from './forecast/report.ts';
import { runServegen } from './forecast/servegen.ts';
import { runSynthetic, SYNTHETIC_CASES } from './forecast/synthetic.ts';
import { missingTraces } from './forecast/traces.ts';

const QUICK = process.env['BENCH_QUICK'] === '1';
const { values: options } = parseArgs({
  options: {
    'client-stride': { type: 'string' },
    'servegen-only': { type: 'boolean', default: false },
    // Beside the bench, wherever it is run from; printed relative to the working directory.
    svg: {
      type: 'string',
      default: relative('.', fileURLToPath(new URL('./results/forecast-fronts.svg', import.meta.url))),
    },
  },
});
const strideOption = options['client-stride'];
const clientStride = strideOption === undefined ? null : Number(strideOption);
if (clientStride !== null && !(Number.isInteger(clientStride) && clientStride >= 1)) {
  console.error(
    `--client-stride: invalid value ${JSON.stringify(strideOption)}; expected a whole number >= 1`,
  );
  process.exit(2);
}
const ALL_SCORERS = SCORERS.map((scorer) => scorer.name);
const WITH_ORACLES = [...ALL_SCORERS, ...ORACLES.map((oracle) => oracle.name)];
const SERVEGEN_CLIENT_STRIDE = clientStride ?? (QUICK ? 5 : 1);
const SYNTHETIC_KEYS = QUICK ? 3 : 10;
const SYNTHETIC_DAYS = QUICK ? 4 : 7;

function seconds(fromMs: number): number {
  return Number(((performance.now() - fromMs) / 1000).toFixed(1));
}

function byScenario(outcomes: readonly CaseOutcome[]): Map<string, CaseOutcome[]> {
  const groups = new Map<string, CaseOutcome[]>();
  for (const outcome of outcomes) {
    const list = groups.get(outcome.scenario) ?? [];
    list.push(outcome);
    groups.set(outcome.scenario, list);
  }
  return groups;
}

function fraction(count: number, total: number): string {
  return total > 0 ? `${count} (${((100 * count) / total).toFixed(1)} %)` : '0';
}

const missing = missingTraces();
if (missing !== null) {
  console.error(missing);
  process.exit(1);
}

const startedMs = performance.now();
const SUBSET = QUICK || SERVEGEN_CLIENT_STRIDE > 1 || options['servegen-only'];
console.log(`bench:forecast${SUBSET ? ' (a subset)' : ''}`);

// (a) ServeGen.
let phaseMs = performance.now();
const servegen = runServegen(SERVEGEN_CLIENT_STRIDE);
const servegenSeconds = seconds(phaseMs);
const servegenEvents = servegen.outcomes.filter((outcome) => outcome.exhaustMs !== null).length;
console.log(
  `\n(a) servegen: ${servegen.clients} clients, ${servegen.outcomes.length} key-days, ` +
    `${fraction(servegenEvents, servegen.outcomes.length)} ran out; daily request quota = p75 of the ` +
    `previous 7 days; ${servegenSeconds} s`,
);
console.log(tableHeader());
console.log(tableRows('servegen', servegen.outcomes, 'min', WITH_ORACLES));
const { early, surge, switch_on: switchOn } = servegen.unforeseeable;
const unforeseeableEvents = servegen.outcomes.filter((o) => o.exhaustMs !== null && o.unforeseeable).length;
console.log(
  `unforeseeable 30 min ahead: ${fraction(unforeseeableEvents, servegenEvents)} of events ` +
    `(ran out < 30 min after midnight: ${early}; surge, last 30 min > 3x the rate of the hour before: ` +
    `${surge}, of which switch-ons after an idle hour: ${switchOn})`,
);
console.log(
  "rest of the day, median |log error| of projecting it from the pace so far (scaled by last week's " +
    "hour-of-day shape) / from last week's mean: " +
    servegen.restOfDay
      .map((split) => `after ${split.hour}:00 ${split.pace.toFixed(2)} / ${split.week.toFixed(2)}`)
      .join(', ') +
    ' (0.10 is about ±10 %; the oracles show what ±5-25 % would buy)',
);
const servegenQuiet = servegen.outcomes.filter((outcome) => outcome.exhaustMs === null);
const closeCalls = servegenQuiet.filter((outcome) => outcome.finalShare >= 0.9).length;
console.log(
  `close calls (did not run out, ended >= 90 % of the limit): ${fraction(closeCalls, servegenQuiet.length)} of quiet key-days`,
);
const curves = curvesReport(servegen.outcomes, options.svg);
console.log(curves.text);

// (b) Minute quotas and (c) synthetic cases.
const FULL = !options['servegen-only'];
let minute: ReturnType<typeof runMinute> = { outcomes: [], quotas: [] };
let synthetic: CaseOutcome[] = [];
if (FULL) {
  phaseMs = performance.now();
  minute = runMinute();
  const minuteSeconds = seconds(phaseMs);
  console.log(
    `\n(b) minute quotas, 1-minute fixed windows decided at their start (recall = warned before the ` +
      `window began; times in seconds); limit = p75 of the trace's minute totals; ${minuteSeconds} s`,
  );
  console.log(tableHeader());
  for (const [scenario, outcomes] of byScenario(minute.outcomes)) {
    console.log(tableRows(scenario, outcomes, 's'));
  }
  console.log(tableRows('minute (all)', minute.outcomes, 's', ALL_SCORERS));

  // (c) Synthetic.
  phaseMs = performance.now();
  synthetic = runSynthetic(SYNTHETIC_KEYS, SYNTHETIC_DAYS);
  const syntheticSeconds = seconds(phaseMs);
  console.log(
    `\n(c) synthetic: ${SYNTHETIC_CASES.length} cases x ${SYNTHETIC_KEYS} keys x ${SYNTHETIC_DAYS} days, ` +
      `daily quota = p75 of the previous 7 days; ${syntheticSeconds} s`,
  );
  console.log(tableHeader());
  for (const [scenario, outcomes] of byScenario(synthetic)) console.log(tableRows(scenario, outcomes, 'min'));
  console.log(tableRows('synthetic (all)', synthetic, 'min', WITH_ORACLES));
}

function minuteJson(): Record<string, unknown> {
  return {
    ...groupJson(minute.outcomes, 'recall_window_ahead', ALL_SCORERS),
    by_trace: Object.fromEntries(
      [...byScenario(minute.outcomes)].map(([scenario, outcomes]) => [
        scenario,
        groupJson(outcomes, 'recall_window_ahead'),
      ]),
    ),
  };
}

function syntheticJson(): Record<string, unknown> {
  return {
    ...groupJson(synthetic, 'recall_30m', WITH_ORACLES),
    by_case: Object.fromEntries(
      [...byScenario(synthetic)].map(([scenario, outcomes]) => [scenario, groupJson(outcomes, 'recall_30m')]),
    ),
  };
}

const json = {
  bench: 'forecast',
  quick: QUICK,
  subset: SUBSET,
  seconds: seconds(startedMs),
  methods: [...PRIMARY_SCORERS],
  servegen: {
    ...groupJson(servegen.outcomes, 'recall_30m', WITH_ORACLES),
    clients: servegen.clients,
    key_days: servegen.outcomes.length,
    events: servegenEvents,
    unforeseeable_events: unforeseeableEvents,
    unforeseeable: servegen.unforeseeable,
    close_calls: closeCalls,
    rest_of_day_median_abs_log_error: servegen.restOfDay,
    curves: curves.json,
  },
  ...(FULL ? { minute: minuteJson(), synthetic: syntheticJson() } : {}),
};
console.log(JSON.stringify(json));
