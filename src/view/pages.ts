import type { AlertView as ActiveAlert } from '../alerts/index.ts';
import type { AnalyticsSnapshot, QuotaForecast, SubjectForecast } from '../analytics/index.ts';
import { forecastExhaustion, type FanPoint } from '../forecast/index.ts';
import type { AdviceRow, AlertEventRow, OutcomeBucketRow } from '../store/index.ts';
import {
  buildAlertEventView,
  buildAlertView,
  buildKeysView,
  buildPoolView,
  buildQuotaView,
  iso,
  type SilenceMatcher,
} from './model.ts';
import type { AlertEventView, AlertView, KeyView, PoolView, QuotaView } from './schemas.ts';

/** How worried a reader should be about a key or quota: drives colour and order on every page. */
export type Risk = 'critical' | 'warning' | 'ok' | 'unknown';

const RISK_ORDER: Readonly<Record<Risk, number>> = { critical: 3, warning: 2, ok: 1, unknown: 0 };

/** Critical: exhausted, or more likely than not to run out before reset; warning: a real chance or 80 % used. */
export function assessQuotaRisk(q: QuotaView): Risk {
  if (q.status === 'exhausted' || q.p_exhaust >= 0.5) return 'critical';
  if (q.p_exhaust >= 0.1 || (q.limit > 0 && q.used / q.limit >= 0.8)) return 'warning';
  if (q.status === 'insufficient_data') return 'unknown';
  return 'ok';
}

/** A key's row on the pool page: its riskiest quota decides its colour and rank. */
export interface KeyRow {
  key: KeyView;
  risk: Risk;
  /** The quota that decides the row's risk (highest p_exhaust, then fullest); undefined without quotas. */
  worst: QuotaView | undefined;
  pExhaust: number;
  usedRatio: number;
}

function worseQuota(a: QuotaView, b: QuotaView): boolean {
  const ra = RISK_ORDER[assessQuotaRisk(a)];
  const rb = RISK_ORDER[assessQuotaRisk(b)];
  if (ra !== rb) return ra > rb;
  if (a.p_exhaust !== b.p_exhaust) return a.p_exhaust > b.p_exhaust;
  return ratio(a) > ratio(b);
}

function ratio(q: QuotaView): number {
  return q.limit > 0 ? q.used / q.limit : 0;
}

export function buildKeyRow(key: KeyView): KeyRow {
  let worst: QuotaView | undefined;
  for (const q of key.quotas) if (worst === undefined || worseQuota(q, worst)) worst = q;
  return {
    key,
    risk: worst === undefined ? 'unknown' : assessQuotaRisk(worst),
    worst,
    pExhaust: worst?.p_exhaust ?? 0,
    usedRatio: worst === undefined ? 0 : ratio(worst),
  };
}

/** Riskiest first: risk, then chance of running out, then earliest median ETA, then fullest. */
export function rankKeyRows(rows: KeyRow[]): KeyRow[] {
  const eta = (r: KeyRow): number =>
    r.worst?.eta_p50 === null || r.worst === undefined ? Infinity : Date.parse(r.worst.eta_p50);
  return rows.sort(
    (a, b) =>
      RISK_ORDER[b.risk] - RISK_ORDER[a.risk] ||
      b.pExhaust - a.pExhaust ||
      eta(a) - eta(b) ||
      b.usedRatio - a.usedRatio ||
      a.key.key_id.localeCompare(b.key.key_id),
  );
}

/** Health shown on the overview; every field is what the service knew when the page was drawn. */
export interface HealthView {
  clickhouse: { ready: boolean; reason?: string };
  lastCycle: { at: string | null; outcome: string; durationMs: number; error?: string } | undefined;
  /** Spans committed per second since the previous page view (or since start), undefined without ingest. */
  ingestSpansPerSecond: number | undefined;
}

export interface OverviewPool {
  pool: PoolView;
  risk: Risk;
  /** Keys by advice state (`active`, `exhausted`, `cooling_down`, `unknown`, or `no advice`). */
  keysByState: Record<string, number>;
  /** The riskiest keys, riskiest first. */
  atRisk: KeyRow[];
}

export interface OverviewView {
  evaluatedAt: string | null;
  pools: OverviewPool[];
  firing: AlertView[];
  health: HealthView;
}

const AT_RISK_SHOWN = 5;

function alertViews(alerts: readonly ActiveAlert[], silencedBy: SilenceMatcher): AlertView[] {
  return alerts.map((a) => buildAlertView(a, silencedBy));
}

export function buildOverview(
  snapshot: AnalyticsSnapshot,
  health: HealthView,
  silencedBy: SilenceMatcher,
): OverviewView {
  const keys = buildKeysView(snapshot).keys;
  const names = [...new Set([...snapshot.subjects.map((s) => s.subject.pool), ...snapshot.advice.keys()])];
  const pools = names.sort().map((name): OverviewPool => {
    const pool = buildPoolView(snapshot, name);
    const rows = rankKeyRows(keys.filter((k) => k.pool === name).map(buildKeyRow));
    const keysByState: Record<string, number> = {};
    for (const r of rows) {
      const state = r.key.state ?? 'no advice';
      keysByState[state] = (keysByState[state] ?? 0) + 1;
    }
    const runsDry = pool.capacity.some((c) => c.runs_dry);
    const top = rows[0]?.risk ?? 'unknown';
    return {
      pool,
      risk: runsDry ? 'critical' : top,
      keysByState,
      atRisk: rows.slice(0, AT_RISK_SHOWN),
    };
  });
  return {
    evaluatedAt: iso(snapshot.evaluatedAtMs),
    pools,
    firing: alertViews(
      snapshot.alerts.filter((a) => a.state === 'firing'),
      silencedBy,
    ),
    health,
  };
}

/** One point of weight history: when a version was generated and each key's weight in it. */
export interface WeightSeries {
  keyId: string;
  points: Array<{ atMs: number; weight: number }>;
}

export interface PoolPageView {
  evaluatedAt: string | null;
  pool: PoolView;
  rows: KeyRow[];
  weights: WeightSeries[];
  alerts: AlertView[];
}

/** Keys drawn in the weight chart; the table lists them all. */
const WEIGHT_SERIES_SHOWN = 8;

export function buildPoolPage(
  snapshot: AnalyticsSnapshot,
  pool: string,
  adviceHistory: readonly AdviceRow[],
  silencedBy: SilenceMatcher,
): PoolPageView | undefined {
  const keys = buildKeysView(snapshot, pool).keys;
  if (keys.length === 0 && !snapshot.advice.has(pool)) return undefined;
  const byKey = new Map<string, WeightSeries>();
  for (const row of adviceHistory) {
    let series = byKey.get(row.key_id);
    if (series === undefined) byKey.set(row.key_id, (series = { keyId: row.key_id, points: [] }));
    series.points.push({ atMs: row.generated_at, weight: row.weight });
  }
  const current = new Map((snapshot.advice.get(pool)?.keys ?? []).map((k) => [k.key_id, k.weight]));
  const weights = [...byKey.values()]
    .sort(
      (a, b) => (current.get(b.keyId) ?? 0) - (current.get(a.keyId) ?? 0) || a.keyId.localeCompare(b.keyId),
    )
    .slice(0, WEIGHT_SERIES_SHOWN);
  return {
    evaluatedAt: iso(snapshot.evaluatedAtMs),
    pool: buildPoolView(snapshot, pool),
    rows: rankKeyRows(keys.map(buildKeyRow)),
    weights,
    alerts: alertViews(
      snapshot.alerts.filter((a) => a.pool === pool),
      silencedBy,
    ),
  };
}

/** One quota's chart: usage so far in the window, the fan to the reset, the limit and the reset. */
export interface QuotaChart {
  quota: QuotaView;
  risk: Risk;
  windowStartMs: number;
  resetAtMs: number;
  nowMs: number;
  limit: number;
  /** Cumulative usage from the window start to now. */
  usage: Array<{ atMs: number; used: number }>;
  /** Quantiles of cumulative usage from now on; empty when there is no forecast to draw. */
  fan: FanPoint[];
  /** Provider-reported bucket, when the limit comes from response headers. */
  reported?: { remaining: number; resetAtMs: number; observedAtMs: number; refilled: boolean };
}

export interface KeyPageView {
  evaluatedAt: string | null;
  key: KeyView;
  risk: Risk;
  charts: QuotaChart[];
  /** Quotas of the partition the key draws from, when it has any. */
  partition: { id: string; quotas: QuotaView[] } | undefined;
  outcomes: OutcomeBucketRow[];
  outcomesBucketMs: number;
  active: AlertView[];
  history: AlertEventView[];
}

const FAN_POINTS = 48;

/** The chart of one quota; the fan comes from the same forecasting core, on the cycle's own input. */
export function buildQuotaChart(q: QuotaForecast, nowMs: number): QuotaChart {
  const view = buildQuotaView(q);
  const resetAtMs = q.forecast.resetAtMs;
  const chart: QuotaChart = {
    quota: view,
    risk: assessQuotaRisk(view),
    windowStartMs: q.windowStartMs,
    resetAtMs,
    nowMs,
    limit: q.forecast.limit,
    usage: [],
    fan: [],
    ...(q.quota.reported === undefined
      ? {}
      : {
          reported: {
            remaining: q.quota.reported.remaining,
            resetAtMs: q.quota.reported.resetAtMs,
            observedAtMs: q.quota.reported.observedAtMs,
            refilled: q.quota.reported.refilled,
          },
        }),
  };
  const input = q.input;
  if (input === undefined) return chart;
  // The input's series starts where the fit does; usage counted before it is an offset at the start.
  const { tsMs, values } =
    'tsMs' in input.current
      ? input.current
      : { tsMs: input.current.map((p) => p.tsMs), values: input.current.map((p) => p.value) };
  const points: Array<{ atMs: number; used: number }> = [];
  let sum = 0;
  for (let i = 0; i < tsMs.length; i++) {
    const t = tsMs[i] as number;
    if (t < input.windowStartMs || t >= nowMs) continue;
    sum += values[i] ?? 0;
    points.push({ atMs: Math.min(nowMs, t + input.bucketMs), used: sum });
  }
  const offset = Math.max(0, input.used - sum);
  chart.usage = [
    { atMs: q.windowStartMs, used: 0 },
    ...(offset > 0 ? [{ atMs: input.windowStartMs, used: offset }] : []),
    ...points.map((p) => ({ atMs: p.atMs, used: p.used + offset })),
    { atMs: nowMs, used: input.used },
  ];
  if (q.forecast.status === 'ok' && resetAtMs > nowMs) {
    const fanAtMs = Array.from(
      { length: FAN_POINTS + 1 },
      (_, i) => nowMs + ((resetAtMs - nowMs) * i) / FAN_POINTS,
    );
    // Exhaustion quantiles fall between the grid points; adding them makes the fan meet the limit
    // exactly where the forecast says it does.
    for (const eta of [q.forecast.etaP10Ms, q.forecast.etaP50Ms, q.forecast.etaP90Ms])
      if (eta !== null) fanAtMs.push(eta);
    fanAtMs.sort((a, b) => a - b);
    chart.fan = forecastExhaustion({ ...input, fanAtMs }).fan ?? [];
  }
  return chart;
}

export function buildKeyPage(
  snapshot: AnalyticsSnapshot,
  pool: string,
  keyId: string,
  extra: {
    outcomes: OutcomeBucketRow[];
    outcomesBucketMs: number;
    history: readonly AlertEventRow[];
    silencedBy: SilenceMatcher;
  },
): KeyPageView | undefined {
  const subject = snapshot.subjects.find(
    (s) => s.subject.kind === 'key' && s.subject.pool === pool && s.subject.id === keyId,
  );
  if (subject === undefined) return undefined;
  const key = buildKeysView({ ...snapshot, subjects: [subject] }).keys[0] as KeyView;
  const partition: SubjectForecast | undefined = snapshot.subjects.find(
    (s) =>
      s.subject.kind === 'partition' && s.subject.pool === pool && s.subject.id === subject.subject.partition,
  );
  return {
    evaluatedAt: iso(snapshot.evaluatedAtMs),
    key,
    risk: buildKeyRow(key).risk,
    charts: subject.quotas.map((q) => buildQuotaChart(q, snapshot.evaluatedAtMs)),
    partition:
      partition === undefined
        ? undefined
        : { id: partition.subject.id, quotas: partition.quotas.map(buildQuotaView) },
    outcomes: extra.outcomes,
    outcomesBucketMs: extra.outcomesBucketMs,
    active: alertViews(
      snapshot.alerts.filter((a) => a.pool === pool && a.subjectKind === 'key' && a.subjectId === keyId),
      extra.silencedBy,
    ),
    history: extra.history.map(buildAlertEventView),
  };
}
