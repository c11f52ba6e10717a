import type { AlertLabels, AlertView as ActiveAlert } from '../alerts/index.ts';
import type { AnalyticsSnapshot, QuotaForecast, SubjectForecast } from '../analytics/index.ts';
import { renderAdviceJson, type Advice, type PushStatus } from '../rebalance/index.ts';
import type { AlertEventRow } from '../store/index.ts';
import type {
  AdviceView,
  AlertEventView,
  AlertsView,
  AlertView,
  KeysView,
  PoolsView,
  PoolView,
  PushView,
  QuotaView,
} from './schemas.ts';

/** Epoch ms as ISO 8601, or null. */
export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function windowName(q: QuotaForecast): string {
  const w = q.quota.window;
  return w.kind === 'calendar' ? w.unit : w.kind === 'rolling' ? `${w.seconds}s` : 'provider';
}

export function buildQuotaView(q: QuotaForecast): QuotaView {
  return {
    quota_id: q.quota.id,
    dimension: q.quota.dimension,
    window: windowName(q),
    source: q.quota.source,
    refilled: q.quota.reported?.refilled ?? false,
    used: round(q.forecast.used),
    limit: q.forecast.limit,
    remaining: round(q.forecast.remaining),
    window_start: iso(q.windowStartMs),
    reset_at: iso(q.forecast.resetAtMs),
    eta_p10: iso(q.forecast.etaP10Ms),
    eta_p50: iso(q.forecast.etaP50Ms),
    eta_p90: iso(q.forecast.etaP90Ms),
    p_exhaust: round(q.forecast.pExhaust),
    pace_eta: iso(q.paceEtaMs),
    status: q.forecast.status,
    method: q.forecast.method,
  };
}

function quotaViews(s: SubjectForecast): QuotaView[] {
  return s.quotas.map(buildQuotaView);
}

/** Every pool of the latest cycle: key count, alerts, capacity forecast, pool and partition quotas. */
export function buildPoolsView(snapshot: AnalyticsSnapshot, pushes: readonly PushStatus[] = []): PoolsView {
  const names = new Set([...snapshot.subjects.map((s) => s.subject.pool), ...snapshot.advice.keys()]);
  return {
    evaluated_at: iso(snapshot.evaluatedAtMs),
    pools: [...names].sort().map((pool) => buildPoolView(snapshot, pool, pushes)),
  };
}

function pushView(p: PushStatus): PushView {
  return {
    target: p.target,
    type: p.type,
    in_flight: p.inFlight,
    last:
      p.last === undefined
        ? null
        : {
            at: iso(p.last.at),
            advice_version: p.last.advice_version,
            trigger: p.last.trigger,
            outcome: p.last.outcome,
            error: p.last.error === '' ? null : p.last.error,
            attempts: p.last.attempts,
            duration_ms: p.last.duration_ms,
          },
  };
}

export function buildPoolView(
  snapshot: AnalyticsSnapshot,
  pool: string,
  pushes: readonly PushStatus[] = [],
): PoolView {
  const subjects = snapshot.subjects.filter((s) => s.subject.pool === pool);
  return {
    pool,
    keys: subjects.filter((s) => s.subject.kind === 'key').length,
    active_alerts: snapshot.alerts.filter((a) => a.pool === pool && a.state === 'firing').length,
    advice_version: snapshot.advice.get(pool)?.version ?? null,
    push: pushes.filter((p) => p.pool === pool).map(pushView),
    pool_state: snapshot.poolStates.get(pool)?.state ?? 'ok',
    dry_at: iso(snapshot.poolStates.get(pool)?.dryAtMs),
    capacity: snapshot.capacity
      .filter((c) => c.pool === pool)
      .map((c) => ({
        quota_id: c.quotaId,
        dimension: c.dimension,
        keys: c.keys,
        demand_per_second: round(c.demandPerSecond),
        runs_dry: c.capacity.runsDry,
        runs_dry_at: iso(c.capacity.etaMs),
        lead_time_seconds: c.leadTimeMs === null ? null : Math.round(c.leadTimeMs / 1000),
        method: c.method,
        capacity_before_earliest_reset: round(c.capacity.capacityBeforeEarliestReset),
        shortfall: Number.isFinite(c.capacity.shortfall) ? round(c.capacity.shortfall) : null,
      })),
    quotas: subjects.filter((s) => s.subject.kind === 'pool').flatMap(quotaViews),
    partitions: subjects
      .filter((s) => s.subject.kind === 'partition')
      .map((s) => ({ partition: s.subject.id, keys: s.subject.keyIds, quotas: quotaViews(s) })),
  };
}

/** Keys of the latest cycle (of one pool, or all), each with its advice weight and state. */
export function buildKeysView(snapshot: AnalyticsSnapshot, pool?: string): KeysView {
  const advised = new Map<string, Advice['keys'][number]>();
  for (const advice of snapshot.advice.values())
    for (const k of advice.keys) advised.set(`${advice.pool}\u0000${k.key_id}`, k);
  const keys = snapshot.subjects.filter(
    (s) => s.subject.kind === 'key' && (pool === undefined || s.subject.pool === pool),
  );
  return {
    evaluated_at: iso(snapshot.evaluatedAtMs),
    keys: keys.map((s) => {
      const advice = advised.get(`${s.subject.pool}\u0000${s.subject.id}`);
      return {
        pool: s.subject.pool,
        key_id: s.subject.id,
        partition: s.subject.partition,
        provider: s.subject.provider,
        weight: advice?.weight ?? null,
        state: advice?.state ?? null,
        quotas: quotaViews(s),
      };
    }),
  };
}

/** The advice document gateways read; rebalance renders it, so a push sends exactly what a poll gets. */
export function buildAdviceView(advice: Advice): AdviceView {
  return renderAdviceJson(advice);
}

/**
 * Ids of the silences that hold an alert's labels now (the caller matches them at request time, so
 * a silence just created shows at once).
 */
export type SilenceMatcher = (labels: AlertLabels) => string[];

export function buildAlertView(a: ActiveAlert, silencedBy: SilenceMatcher): AlertView {
  const silenced = silencedBy(a.labels);
  return {
    alert_id: a.alertId,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    pool: a.pool,
    subject_kind: a.subjectKind,
    subject_id: a.subjectId,
    quota_id: a.quotaId,
    summary: a.summary,
    labels: a.labels,
    started_at: iso(a.startedAtMs),
    fired_at: iso(a.firedAtMs),
    silenced: silenced.length > 0,
    silenced_by: silenced,
    inhibited: a.inhibitedBy.length > 0,
    inhibited_by: a.inhibitedBy,
    delivered: a.delivered,
    used: a.facts.used ?? null,
    limit: a.facts.limit ?? null,
    eta_p50: iso(a.facts.etaP50Ms ?? a.facts.atMs),
    reset_at: iso(a.facts.resetAtMs),
  };
}

export function buildAlertEventView(row: AlertEventRow): AlertEventView {
  return {
    at: iso(row.at),
    alert_id: row.alert_id,
    rule: row.rule,
    severity: row.severity,
    state: row.state,
    pool: row.pool,
    subject_kind: row.subject_kind,
    subject_id: row.subject_id,
    quota_id: row.quota_id,
    summary: row.summary,
  };
}

export function buildAlertsView(
  active: readonly ActiveAlert[],
  history: readonly AlertEventRow[],
  silencedBy: SilenceMatcher,
): AlertsView {
  return {
    active: active.map((a) => buildAlertView(a, silencedBy)),
    history: history.map(buildAlertEventView),
  };
}
