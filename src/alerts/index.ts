import type { AlertEventRow, Store } from '../store/index.ts';
import { advanceAlerts, type AlertAction } from './lifecycle.ts';
import { evaluateRules, type ForecastFacts, type RuleSettings } from './rules.ts';
import type { AlertChannel } from './slack.ts';
import type { Alert, AlertFacts, AlertPolicy } from './types.ts';

export { buildAlertBlocks, createSlackChannel } from './slack.ts';
export { advanceAlerts } from './lifecycle.ts';
export { evaluateRules } from './rules.ts';
export type { AlertChannel, SlackOptions } from './slack.ts';
export type { ForecastFacts, RuleSettings } from './rules.ts';
export type { Alert, AlertCondition, AlertFacts, AlertPolicy, AlertState, Severity } from './types.ts';

export interface Alerting {
  /** Loads open alerts from ClickHouse so that a restart does not send anything twice. */
  restore(): Promise<void>;
  /** Runs the rules on this cycle's forecasts, advances every alert and delivers what changed. */
  evaluate(
    forecasts: readonly ForecastFacts[],
    nowMs: number,
    channelOf: (pool: string) => string,
  ): Promise<void>;
  /** Alerts that are pending or firing. */
  active(): Alert[];
}

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

function toRow(alert: Alert, atMs: number): AlertEventRow {
  return {
    at: atMs,
    alert_id: alert.alertId,
    rule: alert.rule,
    severity: alert.severity,
    state: alert.state,
    pool: alert.pool,
    subject_kind: alert.subjectKind,
    subject_id: alert.subjectId,
    quota_id: alert.quotaId,
    summary: alert.summary,
    details: JSON.stringify(alert.facts),
    started_at: alert.startedAtMs,
    channel: alert.channel,
    message_ts: alert.messageTs,
    notified: alert.notified ? 1 : 0,
  };
}

function fromRow(row: AlertEventRow): Alert {
  return {
    alertId: row.alert_id,
    rule: row.rule,
    severity: row.severity === 'critical' ? 'critical' : 'warning',
    state: row.state === 'firing' ? 'firing' : row.state === 'pending' ? 'pending' : 'resolved',
    pool: row.pool,
    subjectKind: row.subject_kind,
    subjectId: row.subject_id,
    quotaId: row.quota_id,
    summary: row.summary,
    facts: JSON.parse(row.details) as AlertFacts,
    startedAtMs: row.started_at,
    lastTrueAtMs: row.at,
    channel: row.channel,
    messageTs: row.message_ts,
    notified: row.notified === 1,
  };
}

export function createAlerting(options: {
  store: Store;
  channel: AlertChannel | undefined;
  rules: RuleSettings;
  policy: AlertPolicy;
  log: Logger;
}): Alerting {
  const { store, channel, rules, policy, log } = options;
  let alerts = new Map<string, Alert>();

  async function deliver(action: AlertAction): Promise<boolean> {
    const alert = action.alert;
    if (channel === undefined || alert.channel === '') {
      // No channel configured: the alert is recorded (API, Grafana) but there is nothing to send.
      alert.notified = true;
      return true;
    }
    const result =
      action.kind === 'post'
        ? await channel.post(alert)
        : action.kind === 'escalate'
          ? await channel.reply(
              alert,
              `:red_circle: Escalated from ${action.previousSeverity} to critical: ${alert.summary}`,
            )
          : await channel.resolve(alert);
    if (result.kind !== 'success') {
      log.warn(
        {
          alert: alert.alertId,
          action: action.kind,
          err: result.error.message,
          retryable: result.kind === 'retryable',
        },
        'alert delivery failed; retrying next cycle',
      );
      if (action.kind === 'escalate') return false;
      alert.notified = false;
      return false;
    }
    if (action.kind === 'post' && result.value !== undefined) alert.messageTs = result.value.messageTs;
    alert.notified = true;
    log.info(
      {
        alert: alert.alertId,
        action: action.kind,
        rule: alert.rule,
        severity: alert.severity,
        state: alert.state,
        pool: alert.pool,
        subject: `${alert.subjectKind} ${alert.subjectId}`,
        quota: alert.quotaId,
        channel: alert.channel,
      },
      `alert sent: ${alert.summary}`,
    );
    return true;
  }

  return {
    async restore() {
      alerts = new Map((await store.readOpenAlerts()).map((row) => [row.alert_id, fromRow(row)]));
    },
    async evaluate(forecasts, nowMs, channelOf) {
      const conditions = evaluateRules(forecasts, rules, nowMs);
      const step = advanceAlerts(alerts, conditions, policy, nowMs, (c) => channelOf(c.pool));
      alerts = step.alerts;
      const changed = new Map(step.transitions.map((a) => [a.alertId, a]));
      for (const action of step.actions) {
        if (await deliver(action)) changed.set(action.alert.alertId, action.alert);
      }
      await store.writeAlertEvents([...changed.values()].map((a) => toRow(a, nowMs)));
      for (const [id, alert] of alerts) if (alert.state === 'resolved' && alert.notified) alerts.delete(id);
    },
    active() {
      return [...alerts.values()].filter((a) => a.state !== 'resolved');
    },
  };
}
