import type {
  AlertEventView,
  AlertView,
  KeyPageView,
  KeyRow,
  OverviewView,
  PoolPageView,
  QuotaView,
} from '../view/index.ts';
import { assessQuotaRisk, pagePathFor } from '../view/index.ts';
import {
  renderBar,
  renderOutcomesChart,
  renderUsageChart,
  renderWeightsChart,
  describeForecast,
} from './charts.ts';
import {
  esc,
  formatAmount,
  formatPercent,
  formatProbability,
  formatRelative,
  formatTime,
  parseIso,
} from './format.ts';
import { renderLayout } from './layout.ts';

/** What every page is drawn with besides its view. */
export interface PageContext {
  pollMillis: number;
  signedIn: boolean;
}

const RISK_LABEL: Readonly<Record<string, string>> = {
  critical: 'runs out',
  warning: 'at risk',
  ok: 'ok',
  unknown: 'no forecast',
};

function riskBadge(risk: string): string {
  return `<span class="badge risk-${esc(risk)}">${esc(RISK_LABEL[risk] ?? risk)}</span>`;
}

function keyLink(pool: string, keyId: string): string {
  return `<a href="${esc(pagePathFor({ pool, kind: 'key', id: keyId }))}">${esc(keyId)}</a>`;
}

function subjectLink(pool: string, kind: string, id: string): string {
  if (kind === 'key') return keyLink(pool, id);
  return `<a href="${esc(pagePathFor({ pool, kind, id }))}">${esc(kind === 'pool' ? pool : `${kind} ${id}`)}</a>`;
}

function etaRange(q: QuotaView | undefined, nowMs: number): string {
  if (q === undefined || q.eta_p50 === null) return q?.status === 'exhausted' ? 'exhausted' : '—';
  const p10 = formatTime(parseIso(q.eta_p10), nowMs);
  const p90 = q.eta_p90 === null ? 'after reset' : formatTime(parseIso(q.eta_p90), nowMs);
  return `${p10} – ${p90}`;
}

function quotaCell(q: QuotaView): string {
  const risk = assessQuotaRisk(q);
  return `<div class="quota"><span class="quota-name">${esc(q.quota_id)}</span> ${renderBar(q.used, q.limit, risk)} <span class="num">${esc(formatAmount(q.used, q.dimension))} / ${esc(formatAmount(q.limit, q.dimension))}</span></div>`;
}

function alertRows(alerts: readonly AlertView[], nowMs: number): string {
  if (alerts.length === 0) return '<p class="empty">No active alerts.</p>';
  return `<div class="scroll"><table class="alerts"><caption>Active alerts</caption><thead><tr><th scope="col">Severity</th><th scope="col">State</th><th scope="col">Subject</th><th scope="col">Summary</th><th scope="col">Since</th></tr></thead><tbody>
${alerts
  .map(
    (a) =>
      `<tr class="severity-${esc(a.severity)}"><td><span class="badge severity-${esc(a.severity)}">${esc(a.severity)}</span></td><td>${esc(a.state)}${a.silenced ? ' · silenced' : ''}${a.inhibited ? ' · inhibited' : ''}</td><td>${subjectLink(a.pool, a.subject_kind, a.subject_id)}</td><td>${esc(a.summary)}</td><td>${esc(formatTime(parseIso(a.started_at), nowMs))}</td></tr>`,
  )
  .join('\n')}
</tbody></table></div>`;
}

function historyRows(history: readonly AlertEventView[], nowMs: number, caption: string): string {
  if (history.length === 0) return `<p class="empty">No alert history.</p>`;
  return `<div class="scroll"><table class="history"><caption>${esc(caption)}</caption><thead><tr><th scope="col">At</th><th scope="col">State</th><th scope="col">Severity</th><th scope="col">Subject</th><th scope="col">Summary</th></tr></thead><tbody>
${history
  .map(
    (h) =>
      `<tr><td>${esc(formatTime(parseIso(h.at), nowMs))}</td><td>${esc(h.state)}</td><td>${esc(h.severity)}</td><td>${subjectLink(h.pool, h.subject_kind, h.subject_id)}</td><td>${esc(h.summary)}</td></tr>`,
  )
  .join('\n')}
</tbody></table></div>`;
}

export function renderOverviewPage(view: OverviewView, context: PageContext): string {
  const nowMs = parseIso(view.evaluatedAt) ?? 0;
  const h = view.health;
  const health = `<section aria-labelledby="health-h"><h2 id="health-h">Health</h2><dl class="facts">
<dt>ClickHouse</dt><dd class="${h.clickhouse.ready ? 'good' : 'bad'}">${h.clickhouse.ready ? 'ready' : esc(h.clickhouse.reason ?? 'not ready')}</dd>
<dt>Last cycle</dt><dd data-testid="last-cycle">${h.lastCycle === undefined ? '—' : `${esc(formatTime(parseIso(h.lastCycle.at), nowMs))} · ${esc(h.lastCycle.outcome)} · ${Math.round(h.lastCycle.durationMs)} ms${h.lastCycle.error === undefined ? '' : ` · ${esc(h.lastCycle.error)}`}`}</dd>
<dt>Ingest</dt><dd>${h.ingestSpansPerSecond === undefined ? 'not in this process' : `${h.ingestSpansPerSecond.toFixed(1)} spans/s`}</dd>
</dl></section>`;
  const pools = view.pools
    .map((p) => {
      const capacity =
        p.pool.capacity.length === 0
          ? '<p>No capacity forecast (no shared quota known).</p>'
          : `<ul class="capacity">${p.pool.capacity
              .map(
                (c) =>
                  `<li class="${c.runs_dry ? 'bad' : 'good'}">${esc(c.quota_id)}: ${c.runs_dry ? `runs dry at ${esc(formatTime(parseIso(c.runs_dry_at), nowMs))} (${esc(formatRelative(parseIso(c.runs_dry_at), nowMs))}) even with ideal balancing` : 'enough capacity until the keys reset'}</li>`,
              )
              .join('')}</ul>`;
      const states = Object.entries(p.keysByState)
        .map(([state, count]) => `<li>${count} ${esc(state)}</li>`)
        .join('');
      const atRisk = p.atRisk
        .map(
          (r) =>
            `<tr class="risk-${r.risk}"><th scope="row">${keyLink(p.pool.pool, r.key.key_id)}</th><td>${riskBadge(r.risk)}</td><td class="num">${formatProbability(r.pExhaust)}</td><td>${esc(etaRange(r.worst, nowMs))}</td></tr>`,
        )
        .join('\n');
      return `<section class="pool risk-${p.risk}" aria-labelledby="pool-${esc(p.pool.pool)}">
<h2 id="pool-${esc(p.pool.pool)}"><a href="${esc(pagePathFor({ pool: p.pool.pool, kind: 'pool' }))}">${esc(p.pool.pool)}</a> ${riskBadge(p.risk)}</h2>
<p>${p.pool.keys} keys · ${p.pool.active_alerts} firing alerts · advice version ${p.pool.advice_version ?? '—'}</p>
<ul class="states" aria-label="Keys by state">${states}</ul>
${capacity}
<div class="scroll"><table class="at-risk"><caption>Keys closest to running out</caption><thead><tr><th scope="col">Key</th><th scope="col">Risk</th><th scope="col">p(exhaust)</th><th scope="col">ETA p10–p90</th></tr></thead><tbody>
${atRisk}
</tbody></table></div>
</section>`;
    })
    .join('\n');
  const body = `<p class="meta">Forecasts of the cycle at <time datetime="${esc(view.evaluatedAt ?? '')}">${esc(formatTime(nowMs, nowMs))}</time>.</p>
${pools === '' ? '<p class="empty">No pool yet: send spans to /v1/traces.</p>' : pools}
<section aria-labelledby="firing-h"><h2 id="firing-h">Firing alerts</h2>${alertRows(view.firing, nowMs)}</section>
${health}`;
  return renderLayout(body, {
    title: 'Overview',
    current: 'overview',
    evaluatedAt: view.evaluatedAt,
    pollMillis: context.pollMillis,
    signedIn: context.signedIn,
  });
}

function sortable(label: string, type: 'text' | 'number'): string {
  return `<th scope="col" aria-sort="none" data-type="${type}"><button type="button">${esc(label)}</button></th>`;
}

function keyRow(r: KeyRow, nowMs: number): string {
  const k = r.key;
  const quotas = k.quotas.length === 0 ? '—' : k.quotas.map(quotaCell).join('');
  const eta = r.worst?.eta_p50 === null || r.worst === undefined ? '' : String(Date.parse(r.worst.eta_p50));
  return `<tr class="risk-${r.risk}" data-key="${esc(k.key_id)}"><th scope="row" data-sort="${esc(k.key_id)}">${keyLink(k.pool, k.key_id)}</th><td data-sort="${esc(k.partition)}">${esc(k.partition)}</td><td data-sort="${r.risk === 'critical' ? 3 : r.risk === 'warning' ? 2 : r.risk === 'ok' ? 1 : 0}">${riskBadge(r.risk)}</td><td data-sort="${r.usedRatio.toFixed(4)}">${quotas}</td><td class="num" data-sort="${r.pExhaust}">${formatProbability(r.pExhaust)}</td><td data-sort="${eta}">${esc(etaRange(r.worst, nowMs))}</td><td class="num" data-sort="${k.weight ?? -1}">${k.weight === null ? '—' : k.weight.toFixed(3)}</td><td data-sort="${esc(k.state ?? '')}">${esc(k.state ?? '—')}</td></tr>`;
}

export function renderPoolPage(view: PoolPageView, context: PageContext): string {
  const nowMs = parseIso(view.evaluatedAt) ?? 0;
  const pool = view.pool;
  const capacity = pool.capacity
    .map(
      (c) =>
        `<li class="${c.runs_dry ? 'bad' : 'good'}">${esc(c.quota_id)}: ${c.runs_dry ? `runs dry at ${esc(formatTime(parseIso(c.runs_dry_at), nowMs))} even with ideal balancing — add keys or raise quotas` : 'enough capacity until the keys reset'} (demand ${c.demand_per_second.toFixed(3)}/s over ${c.keys} keys)</li>`,
    )
    .join('');
  const poolQuotas =
    pool.quotas.length === 0
      ? ''
      : `<section aria-labelledby="pq-h"><h2 id="pq-h">Pool quotas</h2>${pool.quotas.map(quotaCell).join('')}</section>`;
  const partitions =
    pool.partitions.length === 0
      ? ''
      : `<section aria-labelledby="parts-h"><h2 id="parts-h">Partitions</h2><div class="scroll"><table class="partitions"><thead><tr><th scope="col">Partition</th><th scope="col">Keys</th><th scope="col">Used / limit per quota</th><th scope="col">p(exhaust)</th><th scope="col">ETA p10–p90</th></tr></thead><tbody>
${pool.partitions
  .map((p) => {
    const worst = [...p.quotas].sort((a, b) => b.p_exhaust - a.p_exhaust)[0];
    return `<tr id="partition-${esc(p.partition)}" class="risk-${worst === undefined ? 'unknown' : assessQuotaRisk(worst)}"><th scope="row">${esc(p.partition)}</th><td>${p.keys.map((k) => keyLink(pool.pool, k)).join(', ')}</td><td>${p.quotas.map(quotaCell).join('') || '—'}</td><td class="num">${worst === undefined ? '—' : formatProbability(worst.p_exhaust)}</td><td>${esc(etaRange(worst, nowMs))}</td></tr>`;
  })
  .join('\n')}
</tbody></table></div></section>`;
  const body = `<p class="meta">${pool.keys} keys · ${pool.active_alerts} firing alerts · forecasts of <time datetime="${esc(view.evaluatedAt ?? '')}">${esc(formatTime(nowMs, nowMs))}</time></p>
${capacity === '' ? '' : `<ul class="capacity">${capacity}</ul>`}
${poolQuotas}
<section aria-labelledby="keys-h"><h2 id="keys-h">Keys</h2>
<div class="scroll"><table class="keys sortable"><caption>Every key, riskiest first; select a column heading to sort.</caption><thead><tr>${sortable('Key', 'text')}${sortable('Partition', 'text')}${sortable('Risk', 'number')}${sortable('Used / limit per quota', 'number')}${sortable('p(exhaust)', 'number')}${sortable('ETA p10–p90', 'number')}${sortable('Weight', 'number')}${sortable('State', 'text')}</tr></thead><tbody>
${view.rows.map((r) => keyRow(r, nowMs)).join('\n')}
</tbody></table></div></section>
${partitions}
<section aria-labelledby="weights-h"><h2 id="weights-h">Advice history</h2>${view.weights.length === 0 ? '<p class="empty">No advice yet.</p>' : renderWeightsChart(view.weights, nowMs - 86_400_000, nowMs, 'weights')}</section>
<section aria-labelledby="pool-alerts-h"><h2 id="pool-alerts-h">Alerts</h2>${alertRows(view.alerts, nowMs)}</section>`;
  return renderLayout(body, {
    title: `Pool ${pool.pool}`,
    current: 'pool',
    evaluatedAt: view.evaluatedAt,
    pollMillis: context.pollMillis,
    signedIn: context.signedIn,
  });
}

export function renderKeyPage(view: KeyPageView, context: PageContext): string {
  const nowMs = parseIso(view.evaluatedAt) ?? 0;
  const k = view.key;
  const charts = view.charts
    .map((c, i) => {
      const q = c.quota;
      const reported =
        c.reported === undefined
          ? ''
          : `<p>Provider reported ${esc(formatAmount(c.reported.remaining, q.dimension))} remaining at ${esc(formatTime(c.reported.observedAtMs, nowMs))}, resetting at ${esc(formatTime(c.reported.resetAtMs, nowMs))}${c.reported.refilled ? ' (reset passed since: taken as full)' : ''}.</p>`;
      const fanTable =
        c.fan.length === 0
          ? ''
          : `<details><summary>Forecast as a table</summary><table class="fan-table"><thead><tr><th scope="col">Time</th><th scope="col">p10</th><th scope="col">p50</th><th scope="col">p90</th></tr></thead><tbody>${c.fan
              .filter((_, j) => j % 6 === 0 || j === c.fan.length - 1)
              .map(
                (p) =>
                  `<tr><td>${esc(formatTime(p.atMs, nowMs))}</td><td class="num">${esc(formatAmount(p.p10, q.dimension))}</td><td class="num">${esc(formatAmount(p.p50, q.dimension))}</td><td class="num">${esc(formatAmount(p.p90, q.dimension))}</td></tr>`,
              )
              .join('')}</tbody></table></details>`;
      return `<section class="quota-section risk-${c.risk}" aria-labelledby="q${i}-h">
<h2 id="q${i}-h">${esc(q.quota_id)} ${riskBadge(c.risk)}</h2>
<dl class="facts"><dt>Used / limit</dt><dd>${esc(formatAmount(q.used, q.dimension))} / ${esc(formatAmount(q.limit, q.dimension))} (${formatPercent(q.limit > 0 ? q.used / q.limit : 0)})</dd>
<dt>p(exhaust before reset)</dt><dd>${formatProbability(q.p_exhaust)}</dd>
<dt>ETA p10–p90</dt><dd>${esc(etaRange(q, nowMs))}</dd>
<dt>Reset</dt><dd>${esc(formatTime(parseIso(q.reset_at), nowMs))} (${esc(formatRelative(parseIso(q.reset_at), nowMs))})</dd>
<dt>Forecast</dt><dd>${esc(q.status)} · ${esc(q.method)} · source ${esc(q.source)}</dd></dl>
<figure>${q.window.endsWith('s') && q.window !== 'provider' ? '' : renderUsageChart(c, `chart-${i}`)}
<figcaption>${esc(describeForecast(c))}</figcaption></figure>
${fanTable}
${reported}
</section>`;
    })
    .join('\n');
  const partition =
    view.partition === undefined || view.partition.quotas.length === 0
      ? ''
      : `<section aria-labelledby="part-h"><h2 id="part-h">Partition ${esc(view.partition.id)}</h2>${view.partition.quotas.map(quotaCell).join('')}</section>`;
  const body = `<p class="meta">${riskBadge(view.risk)} partition ${esc(k.partition)} · provider ${esc(k.provider || '—')} · weight ${k.weight === null ? '—' : k.weight.toFixed(3)} · ${esc(k.state ?? 'no advice')} · forecasts of <time datetime="${esc(view.evaluatedAt ?? '')}">${esc(formatTime(nowMs, nowMs))}</time></p>
${charts === '' ? '<p class="empty">No quota known for this key: configure one, or send provider rate-limit headers.</p>' : charts}
${partition}
<section aria-labelledby="outcomes-h"><h2 id="outcomes-h">Outcomes</h2><figure>${renderOutcomesChart(view.outcomes, nowMs - 86_400_000, nowMs, view.outcomesBucketMs, 'outcomes')}<figcaption>Calls per ${Math.round(view.outcomesBucketMs / 60_000)} minutes over the last 24 hours: ok, 429 rate limited, quota exhausted, other errors.</figcaption></figure></section>
<section aria-labelledby="key-alerts-h"><h2 id="key-alerts-h">Alerts</h2>${alertRows(view.active, nowMs)}${historyRows(view.history, nowMs, 'Alert history of this key')}</section>`;
  return renderLayout(body, {
    title: `Key ${k.key_id}`,
    current: 'pool',
    crumbs: [{ href: pagePathFor({ pool: k.pool, kind: 'pool' }), label: k.pool }],
    evaluatedAt: view.evaluatedAt,
    pollMillis: context.pollMillis,
    signedIn: context.signedIn,
  });
}

export function renderAlertsPage(
  view: { evaluatedAt: string | null; active: AlertView[]; history: AlertEventView[] },
  context: PageContext,
): string {
  const nowMs = parseIso(view.evaluatedAt) ?? Date.now();
  const body = `<section aria-labelledby="active-h"><h2 id="active-h">Active</h2>${alertRows(view.active, nowMs)}</section>
<section aria-labelledby="history-h"><h2 id="history-h">History</h2>${historyRows(view.history, nowMs, 'State changes, newest first')}</section>`;
  return renderLayout(body, {
    title: 'Alerts',
    current: 'alerts',
    evaluatedAt: view.evaluatedAt,
    pollMillis: context.pollMillis,
    signedIn: context.signedIn,
  });
}

export function renderLoginPage(next: string, failed: boolean): string {
  const body = `<form class="login" method="post" action="/login">
${failed ? '<p class="bad" role="alert">That token is not the admin token.</p>' : ''}
<input type="hidden" name="next" value="${esc(next)}">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>`;
  return renderLayout(body, { title: 'Sign in' });
}

export function renderMessagePage(title: string, message: string, context?: PageContext): string {
  return renderLayout(`<p>${esc(message)}</p>`, {
    title,
    ...(context === undefined ? {} : { pollMillis: context.pollMillis, signedIn: context.signedIn }),
  });
}
