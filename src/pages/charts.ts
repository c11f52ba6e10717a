import type { FanPoint } from '../forecast/index.ts';
import type { OutcomeBucketRow } from '../store/index.ts';
import type { QuotaChart, WeightSeries } from '../view/index.ts';
import { esc, formatAmount, formatProbability, formatTime } from './format.ts';

const WIDTH = 640;
const HEIGHT = 240;
const PAD = { left: 56, right: 16, top: 14, bottom: 28 };

interface Scale {
  x(ms: number): number;
  y(value: number): number;
}

function linearScale(x0: number, x1: number, y0: number, y1: number): Scale {
  const w = WIDTH - PAD.left - PAD.right;
  const h = HEIGHT - PAD.top - PAD.bottom;
  return {
    x: (ms) => PAD.left + ((ms - x0) / Math.max(1, x1 - x0)) * w,
    y: (v) => PAD.top + h - ((v - y0) / Math.max(1e-9, y1 - y0)) * h,
  };
}

const n = (v: number): string => v.toFixed(1);

function timeTicks(fromMs: number, toMs: number, scale: Scale, nowMs: number): string {
  const ticks: string[] = [];
  const count = 4;
  for (let i = 0; i <= count; i++) {
    const t = fromMs + ((toMs - fromMs) * i) / count;
    ticks.push(
      `<text class="tick" x="${n(scale.x(t))}" y="${HEIGHT - 8}" text-anchor="middle">${esc(formatTime(t, nowMs).replace(' UTC', ''))}</text>`,
    );
  }
  return ticks.join('');
}

function valueTicks(max: number, scale: Scale, dimension: string, extra: number[] = []): string {
  const values = [0, max / 2, max, ...extra];
  return values
    .map(
      (v) =>
        `<text class="tick" x="${PAD.left - 6}" y="${n(scale.y(v) + 4)}" text-anchor="end">${esc(formatAmount(v, dimension))}</text>`,
    )
    .join('');
}

/** The fan as drawn: up to the point where even its low edge has reached the limit. */
function visibleFan(fan: readonly FanPoint[], limit: number): FanPoint[] {
  const end = fan.findIndex((p) => p.p10 >= limit);
  return end === -1 ? [...fan] : fan.slice(0, end + 1);
}

/**
 * Cumulative usage of one quota in its window, the forecast fan (p10–p90 band and median) from now
 * to the reset, the limit line and the reset line, with a title and description for screen readers.
 */
export function renderUsageChart(chart: QuotaChart, id: string): string {
  const q = chart.quota;
  const fan = visibleFan(chart.fan, chart.limit);
  const endMs = chart.resetAtMs + (chart.resetAtMs - chart.windowStartMs) * 0.04;
  const top = Math.max(chart.limit * 1.1, ...chart.usage.map((p) => p.used), 1);
  const s = linearScale(chart.windowStartMs, endMs, 0, top);
  const usagePath = chart.usage.map((p) => `${n(s.x(p.atMs))},${n(s.y(p.used))}`).join(' ');
  const band =
    fan.length > 1
      ? [
          ...fan.map((p) => `${n(s.x(p.atMs))},${n(s.y(p.p90))}`),
          ...[...fan].reverse().map((p) => `${n(s.x(p.atMs))},${n(s.y(p.p10))}`),
        ].join(' ')
      : '';
  const median = fan.map((p) => `${n(s.x(p.atMs))},${n(s.y(p.p50))}`).join(' ');
  const fanEndMs = fan.at(-1)?.atMs;
  const title = `${q.quota_id}: usage in the current window, forecast to the reset`;
  return `<svg class="chart usage-chart risk-${chart.risk}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id}-t ${id}-d" data-reset-ms="${chart.resetAtMs}"${fanEndMs === undefined ? '' : ` data-fan-end-ms="${Math.round(fanEndMs)}"`}>
<title id="${id}-t">${esc(title)}</title>
<desc id="${id}-d">${esc(describeForecast(chart))}</desc>
<line class="axis" x1="${PAD.left}" y1="${n(s.y(0))}" x2="${WIDTH - PAD.right}" y2="${n(s.y(0))}"/>
${valueTicks(chart.limit, s, q.dimension)}
${timeTicks(chart.windowStartMs, chart.resetAtMs, s, chart.nowMs)}
${band === '' ? '' : `<polygon class="fan" points="${band}"><title>forecast p10–p90</title></polygon>`}
${median === '' ? '' : `<polyline class="fan-median" points="${median}"><title>forecast median</title></polyline>`}
<polyline class="usage" points="${usagePath}"><title>used so far</title></polyline>
<line class="limit" x1="${PAD.left}" y1="${n(s.y(chart.limit))}" x2="${WIDTH - PAD.right}" y2="${n(s.y(chart.limit))}"><title>limit ${esc(formatAmount(chart.limit, q.dimension))}</title></line>
<text class="label" x="${PAD.left + 4}" y="${n(s.y(chart.limit) - 5)}">limit</text>
<line class="now" x1="${n(s.x(chart.nowMs))}" y1="${PAD.top}" x2="${n(s.x(chart.nowMs))}" y2="${n(s.y(0))}"><title>now</title></line>
<line class="reset" x1="${n(s.x(chart.resetAtMs))}" y1="${PAD.top}" x2="${n(s.x(chart.resetAtMs))}" y2="${n(s.y(0))}"><title>reset ${esc(formatTime(chart.resetAtMs, chart.nowMs))}</title></line>
<text class="label" x="${n(s.x(chart.resetAtMs) - 4)}" y="${PAD.top + 10}" text-anchor="end">reset</text>
</svg>`;
}

/** The forecast in one sentence: the chart's text equivalent. */
export function describeForecast(chart: QuotaChart): string {
  const q = chart.quota;
  const now = chart.nowMs;
  const used = `Used ${formatAmount(q.used, q.dimension)} of ${formatAmount(q.limit, q.dimension)} ${q.dimension.replace('_', ' ')}`;
  const reset = `the reset at ${formatTime(chart.resetAtMs, now)}`;
  if (q.status === 'exhausted') return `${used}: exhausted until ${reset}.`;
  if (q.status === 'insufficient_data') return `${used}. Too little history to forecast before ${reset}.`;
  const eta = (iso: string | null): string => formatTime(iso === null ? null : Date.parse(iso), now);
  const runsOut =
    q.eta_p50 === null
      ? `Most likely lasts until ${reset}`
      : `Most likely runs out at ${eta(q.eta_p50)} (p10 ${eta(q.eta_p10)}, p90 ${q.eta_p90 === null ? 'after the reset' : eta(q.eta_p90)})`;
  const atReset = chart.fan.at(-1);
  const expected =
    atReset !== undefined && atReset.atMs >= chart.resetAtMs && atReset.p50 < chart.limit
      ? `; by ${reset} the forecast expects ${formatAmount(atReset.p10, q.dimension)}–${formatAmount(atReset.p90, q.dimension)} (median ${formatAmount(atReset.p50, q.dimension)})`
      : '';
  return `${used}. ${formatProbability(q.p_exhaust)} chance to run out before ${reset}. ${runsOut}${expected}.`;
}

const OUTCOME_CLASSES = [
  ['ok', 'ok'],
  ['rate_limited', '429 rate limited'],
  ['quota_exhausted', 'quota exhausted'],
  ['other', 'other errors'],
] as const;

/** Calls per bucket stacked by outcome. */
export function renderOutcomesChart(
  rows: readonly OutcomeBucketRow[],
  fromMs: number,
  toMs: number,
  bucketMs: number,
  id: string,
): string {
  const max = Math.max(1, ...rows.map((r) => r.ok + r.rate_limited + r.quota_exhausted + r.other));
  const s = linearScale(fromMs, toMs, 0, max);
  const width = Math.max(1, s.x(fromMs + bucketMs) - s.x(fromMs) - 1);
  const bars: string[] = [];
  for (const r of rows) {
    let base = 0;
    for (const [field, label] of OUTCOME_CLASSES) {
      const v = r[field];
      if (v <= 0) continue;
      bars.push(
        `<rect class="outcome-${field}" x="${n(s.x(r.t))}" y="${n(s.y(base + v))}" width="${n(width)}" height="${n(s.y(base) - s.y(base + v))}"><title>${esc(`${formatTime(r.t, toMs)}: ${v} ${label}`)}</title></rect>`,
      );
      base += v;
    }
  }
  const totals = OUTCOME_CLASSES.map(
    ([field, label]) => `${rows.reduce((sum, r) => sum + r[field], 0).toLocaleString('en-US')} ${label}`,
  ).join(', ');
  return `<svg class="chart outcomes-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id}-t ${id}-d">
<title id="${id}-t">Calls by outcome</title>
<desc id="${id}-d">${esc(`Last 24 hours: ${totals}.`)}</desc>
<line class="axis" x1="${PAD.left}" y1="${n(s.y(0))}" x2="${WIDTH - PAD.right}" y2="${n(s.y(0))}"/>
${valueTicks(max, s, 'requests')}
${timeTicks(fromMs, toMs, s, toMs)}
${bars.join('\n')}
</svg>`;
}

/** Advice weights of the pool's main keys over the day. */
export function renderWeightsChart(
  series: readonly WeightSeries[],
  fromMs: number,
  toMs: number,
  id: string,
): string {
  const s = linearScale(fromMs, toMs, 0, 1);
  const lines = series.map((w, i) => {
    // A weight holds until the next version: draw steps.
    const points: string[] = [];
    w.points.forEach((p, j) => {
      const next = w.points[j + 1]?.atMs ?? toMs;
      points.push(
        `${n(s.x(Math.max(p.atMs, fromMs)))},${n(s.y(p.weight))}`,
        `${n(s.x(next))},${n(s.y(p.weight))}`,
      );
    });
    const last = w.points.at(-1);
    const dot =
      last === undefined
        ? ''
        : `<circle class="series s${i % 8}" cx="${n(s.x(Math.max(last.atMs, fromMs)))}" cy="${n(s.y(last.weight))}" r="3"/>`;
    return `<polyline class="series s${i % 8}" points="${points.join(' ')}"><title>${esc(w.keyId)}</title></polyline>${dot}`;
  });
  const legend = series
    .map(
      (w, i) =>
        `<li><span class="swatch s${i % 8}" aria-hidden="true"></span>${esc(w.keyId)} ${(w.points.at(-1)?.weight ?? 0).toFixed(3)}</li>`,
    )
    .join('');
  return `<svg class="chart weights-chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id}-t">
<title id="${id}-t">Advice weights over the last 24 hours</title>
<line class="axis" x1="${PAD.left}" y1="${n(s.y(0))}" x2="${WIDTH - PAD.right}" y2="${n(s.y(0))}"/>
${[0, 0.5, 1].map((v) => `<text class="tick" x="${PAD.left - 6}" y="${n(s.y(v) + 4)}" text-anchor="end">${v}</text>`).join('')}
${timeTicks(fromMs, toMs, s, toMs)}
${lines.join('\n')}
</svg>
<ul class="legend" aria-label="Current weight per key">${legend}</ul>`;
}

/** A bar of used against the limit, with its value as text for screen readers. */
export function renderBar(used: number, limit: number, risk: string): string {
  const ratio = limit > 0 ? Math.min(1, used / limit) : 0;
  return `<span class="bar risk-${esc(risk)}" role="meter" aria-valuemin="0" aria-valuemax="${limit}" aria-valuenow="${Math.round(used)}" aria-label="used of limit"><span style="width:${(ratio * 100).toFixed(1)}%"></span></span>`;
}
