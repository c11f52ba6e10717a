import type { Alert, AlertCondition, AlertPolicy } from './types.ts';

/** What the lifecycle asks the channel to do this cycle. */
export type AlertAction =
  | { kind: 'post'; alert: Alert }
  | { kind: 'escalate'; alert: Alert; previousSeverity: string }
  | { kind: 'resolve'; alert: Alert };

/**
 * Advances every alert by one cycle, like Prometheus and Alertmanager: a true condition is pending
 * until it has held for `forMs`, then firing (posted once); a cleared condition keeps firing for
 * `keepFiringForMs`, then resolves (the original message is updated). Pure: states in, states and
 * actions out. Alerts whose delivery failed stay un-notified and are retried on the next cycle.
 */
export function advanceAlerts(
  previous: ReadonlyMap<string, Alert>,
  conditions: readonly AlertCondition[],
  policy: AlertPolicy,
  nowMs: number,
  channelFor: (condition: AlertCondition) => string,
): { alerts: Map<string, Alert>; actions: AlertAction[]; transitions: Alert[] } {
  const alerts = new Map<string, Alert>();
  const actions: AlertAction[] = [];
  const transitions: Alert[] = [];
  const seen = new Set<string>();

  for (const condition of conditions) {
    seen.add(condition.alertId);
    const before = previous.get(condition.alertId);
    const fresh = before === undefined || before.state === 'resolved';
    const alert: Alert = {
      alertId: condition.alertId,
      rule: condition.rule,
      severity: condition.severity,
      state: fresh ? 'pending' : before.state,
      pool: condition.pool,
      subjectKind: condition.subjectKind,
      subjectId: condition.subjectId,
      quotaId: condition.quotaId,
      summary: condition.summary,
      facts: condition.facts,
      startedAtMs: fresh ? nowMs : before.startedAtMs,
      lastTrueAtMs: nowMs,
      channel: fresh ? channelFor(condition) : before.channel,
      messageTs: fresh ? '' : before.messageTs,
      notified: fresh ? false : before.notified,
    };
    if (alert.state === 'pending' && nowMs - alert.startedAtMs >= policy.forMs) {
      alert.state = 'firing';
      alert.notified = false;
    }
    if (alert.state === 'firing') {
      if (!alert.notified || alert.messageTs === '') {
        actions.push({ kind: 'post', alert });
      } else if (
        before !== undefined &&
        before.severity !== alert.severity &&
        alert.severity === 'critical'
      ) {
        actions.push({ kind: 'escalate', alert, previousSeverity: before.severity });
      }
    }
    if (before === undefined || before.state !== alert.state || before.severity !== alert.severity)
      transitions.push(alert);
    alerts.set(alert.alertId, alert);
  }

  for (const [id, before] of previous) {
    if (seen.has(id)) continue;
    if (before.state === 'resolved') {
      if (!before.notified) {
        // The resolution was not delivered yet: try again.
        alerts.set(id, before);
        actions.push({ kind: 'resolve', alert: before });
      }
      continue;
    }
    if (before.state === 'pending') {
      // Never fired: it disappears without a message.
      transitions.push({ ...before, state: 'resolved', notified: true });
      continue;
    }
    if (nowMs - before.lastTrueAtMs < policy.keepFiringForMs) {
      alerts.set(id, before);
      continue;
    }
    const resolved: Alert = { ...before, state: 'resolved', notified: false };
    transitions.push(resolved);
    if (before.messageTs !== '') actions.push({ kind: 'resolve', alert: resolved });
    else resolved.notified = true; // nothing was ever posted: nothing to update
    alerts.set(id, resolved);
  }
  return { alerts, actions, transitions };
}
