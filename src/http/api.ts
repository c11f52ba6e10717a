import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Analytics, AnalyticsSnapshot, SubjectForecast } from '../analytics/index.ts';
import { silenceFromRow, silencedBy, type AlertView, type Silence } from '../alerts/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { Store } from '../store/index.ts';
import { requireAdmin } from '../auth/index.ts';
import { registerSilences } from './silences.ts';

function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
}

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function quotasOf(s: SubjectForecast): object[] {
  return s.quotas.map((q) => ({
    quota_id: q.quota.id,
    dimension: q.quota.dimension,
    window:
      q.quota.window.kind === 'calendar'
        ? q.quota.window.unit
        : q.quota.window.kind === 'rolling'
          ? `${q.quota.window.seconds}s`
          : 'provider',
    source: q.quota.source,
    // A provider bucket whose reported reset has passed: full again until new headers say otherwise.
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
  }));
}

function alertJson(a: AlertView, silences: readonly Silence[], nowMs: number): object {
  // Silences are matched now, not as of the last cycle: a silence just created shows at once.
  const silenced = silencedBy(a.labels, silences, nowMs);
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

/** The read API over the latest analytics cycle: pools, keys, advice, alerts. */
export async function registerApi(
  app: FastifyInstance,
  analytics: Analytics,
  store: Store,
  adminToken: string | undefined,
): Promise<void> {
  const requireSnapshot = (): AnalyticsSnapshot => {
    const snapshot = analytics.snapshot();
    if (snapshot === undefined) {
      const last = analytics.lastRun();
      throw new HeadroomError(
        ErrorCode.notReady,
        last?.outcome === 'failure'
          ? `the analytics cycle failed: ${last.error ?? 'unknown error'}`
          : 'the first analytics cycle has not completed yet',
        { statusCode: 503, details: { retryAfterSeconds: 5 } },
      );
    }
    return snapshot;
  };

  app.get('/v1/pools', async () => {
    const snapshot = requireSnapshot();
    const pools = new Set([...snapshot.subjects.map((s) => s.subject.pool), ...snapshot.advice.keys()]);
    return {
      evaluated_at: iso(snapshot.evaluatedAtMs),
      pools: [...pools].sort().map((pool) => ({
        pool,
        keys: snapshot.subjects.filter((s) => s.subject.pool === pool && s.subject.kind === 'key').length,
        active_alerts: snapshot.alerts.filter((a) => a.pool === pool && a.state === 'firing').length,
        advice_version: snapshot.advice.get(pool)?.version ?? null,
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
        quotas: snapshot.subjects
          .filter((s) => s.subject.pool === pool && s.subject.kind === 'pool')
          .flatMap((s) => quotasOf(s)),
        partitions: snapshot.subjects
          .filter((s) => s.subject.pool === pool && s.subject.kind === 'partition')
          .map((s) => ({ partition: s.subject.id, keys: s.subject.keyIds, quotas: quotasOf(s) })),
      })),
    };
  });

  app.get<{ Querystring: { pool?: string } }>('/v1/keys', async (request) => {
    const snapshot = requireSnapshot();
    const pool = request.query.pool;
    const keys = snapshot.subjects.filter(
      (s) => s.subject.kind === 'key' && (pool === undefined || s.subject.pool === pool),
    );
    return {
      evaluated_at: iso(snapshot.evaluatedAtMs),
      keys: keys.map((s) => {
        const advised = snapshot.advice.get(s.subject.pool)?.keys.find((k) => k.key_id === s.subject.id);
        return {
          pool: s.subject.pool,
          key_id: s.subject.id,
          partition: s.subject.partition,
          provider: s.subject.provider,
          weight: advised?.weight ?? null,
          state: advised?.state ?? null,
          quotas: quotasOf(s),
        };
      }),
    };
  });

  app.get<{ Params: { pool: string } }>('/v1/pools/:pool/advice', async (request, reply) => {
    requireAdmin(request.headers.authorization, adminToken);
    const snapshot = requireSnapshot();
    const advice = snapshot.advice.get(request.params.pool);
    if (advice === undefined) {
      throw new HeadroomError(
        ErrorCode.notFound,
        `no advice for pool ${JSON.stringify(request.params.pool)}: no key of it has been seen or configured`,
        {
          statusCode: 404,
          details: { pool: request.params.pool },
        },
      );
    }
    const etag = `"${createHash('sha256').update(`${advice.pool}\u0000${advice.version}`).digest('hex').slice(0, 16)}"`;
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    const inm = request.headers['if-none-match'];
    if (inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
      return reply.status(304).send();
    }
    return {
      pool: advice.pool,
      version: advice.version,
      generated_at: iso(advice.generated_at),
      valid_until: iso(advice.valid_until),
      keys: advice.keys.map((k) => ({
        key_id: k.key_id,
        weight: k.weight,
        state: k.state,
        ...(k.until === undefined ? {} : { until: iso(k.until) }),
        reason: k.reason,
      })),
      pool_state: advice.pool_state,
      ...(advice.dry_at === undefined ? {} : { dry_at: iso(advice.dry_at) }),
      ...(advice.short_by === undefined ? {} : { short_by: advice.short_by }),
    };
  });

  app.get<{ Querystring: { limit?: string } }>('/v1/alerts', async (request) => {
    const limitText = request.query.limit ?? '100';
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > 10_000) {
      throw new HeadroomError(
        ErrorCode.badRequest,
        `limit=${JSON.stringify(limitText)} is invalid: expected a whole number from 1 to 10000`,
        {
          statusCode: 400,
        },
      );
    }
    const snapshot = analytics.snapshot();
    const history = await store.readAlertHistory(Number(limitText));
    const silences = (await store.readSilences()).map(silenceFromRow);
    const nowMs = Date.now();
    return {
      active: (snapshot?.alerts ?? []).map((a) => alertJson(a, silences, nowMs)),
      history: history.map((row) => ({
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
      })),
    };
  });

  await registerSilences(app, store, adminToken);
}
