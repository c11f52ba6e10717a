import type { Alert, AlertCondition, AlertPolicy } from './types.ts';

/**
 * Advances every alert by one cycle, like Prometheus: a true condition is pending until it has held
 * for `forMs`, then firing; a cleared condition keeps firing for `keepFiringForMs`, then resolves.
 * Pure: states in, states out. `transitions` lists the alerts whose state or severity changed (one
 * row each in the `alerts` history); resolved alerts leave the map. What to send is decided later,
 * per notification group, from the alerts that remain.
 */
export function advanceAlerts(
  previous: ReadonlyMap<string, Alert>,
  conditions: readonly AlertCondition[],
  policy: AlertPolicy,
  nowMs: number,
): { alerts: Map<string, Alert>; transitions: Alert[] } {
  const alerts = new Map<string, Alert>();
  const transitions: Alert[] = [];

  for (const condition of conditions) {
    if (alerts.has(condition.alertId)) continue;
    const before = previous.get(condition.alertId);
    const alert: Alert = {
      alertId: condition.alertId,
      rule: condition.rule,
      severity: condition.severity,
      state: before?.state ?? 'pending',
      pool: condition.pool,
      subjectKind: condition.subjectKind,
      subjectId: condition.subjectId,
      partition: condition.partition,
      quotaId: condition.quotaId,
      summary: condition.summary,
      facts: condition.facts,
      startedAtMs: before?.startedAtMs ?? nowMs,
      firedAtMs: before?.firedAtMs ?? null,
      lastTrueAtMs: nowMs,
    };
    if (alert.state === 'pending' && nowMs - alert.startedAtMs >= policy.forMs) {
      alert.state = 'firing';
      alert.firedAtMs = nowMs;
    }
    if (before === undefined || before.state !== alert.state || before.severity !== alert.severity)
      transitions.push(alert);
    alerts.set(alert.alertId, alert);
  }

  for (const [id, before] of previous) {
    if (alerts.has(id)) continue;
    if (before.state === 'firing' && nowMs - before.lastTrueAtMs < policy.keepFiringForMs) {
      alerts.set(id, before);
      continue;
    }
    // A pending alert that clears never fired; its episode ends all the same.
    transitions.push({ ...before, state: 'resolved' });
  }
  return { alerts, transitions };
}
