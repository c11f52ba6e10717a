import { describe, expect, it } from 'vitest';
import { advanceAlerts, evaluateRules, type Alert, type ForecastFacts } from '../../src/alerts/index.ts';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 21, 15, 0, 0);
const rules = { warningRatio: 0.8, criticalRatio: 0.95, forecastPExhaust: 0.8, forecastHorizonMs: 4 * HOUR };

function facts(overrides: Partial<ForecastFacts>): ForecastFacts {
  return {
    pool: 'p',
    subjectKind: 'key',
    subjectId: 'k',
    quotaId: 'requests_per_day',
    dimension: 'requests',
    used: 100,
    limit: 1000,
    resetAtMs: NOW + 9 * HOUR,
    etaP10Ms: null,
    etaP50Ms: null,
    pExhaust: 0,
    status: 'ok',
    ...overrides,
  };
}

describe('alert rules', () => {
  it('fires the threshold rule at the warning and critical ratios', () => {
    expect(evaluateRules([facts({ used: 799 })], rules, NOW)).toEqual([]);
    expect(evaluateRules([facts({ used: 800 })], rules, NOW)).toMatchObject([
      { rule: 'threshold', severity: 'warning' },
    ]);
    expect(evaluateRules([facts({ used: 950 })], rules, NOW)).toMatchObject([
      { rule: 'threshold', severity: 'critical' },
    ]);
    const [exhausted] = evaluateRules([facts({ used: 1000, status: 'exhausted', pExhaust: 1 })], rules, NOW);
    expect(exhausted?.summary).toContain('has run out of requests_per_day');
  });

  it('fires the forecast rule only for a likely exhaustion before reset within the horizon', () => {
    const likely = facts({ pExhaust: 0.9, etaP50Ms: NOW + 2 * HOUR, etaP10Ms: NOW + HOUR });
    expect(evaluateRules([likely], rules, NOW)).toMatchObject([{ rule: 'forecast', severity: 'warning' }]);
    expect(evaluateRules([{ ...likely, etaP50Ms: NOW + 30 * 60_000 }], rules, NOW)).toMatchObject([
      { rule: 'forecast', severity: 'critical' },
    ]);
    expect(evaluateRules([{ ...likely, pExhaust: 0.5 }], rules, NOW)).toEqual([]);
    expect(evaluateRules([{ ...likely, etaP50Ms: NOW + 5 * HOUR }], rules, NOW)).toEqual([]);
    expect(evaluateRules([{ ...likely, status: 'insufficient_data' }], rules, NOW)).toEqual([]);
  });

  it('names the subject: a key or a partition in its pool, or the pool itself', () => {
    const over = { used: 900 };
    const [key] = evaluateRules([facts(over)], rules, NOW);
    const [partition] = evaluateRules(
      [facts({ ...over, subjectKind: 'partition', subjectId: 'org-1' })],
      rules,
      NOW,
    );
    const [pool] = evaluateRules([facts({ ...over, subjectKind: 'pool', subjectId: 'p' })], rules, NOW);
    expect(key?.summary).toMatch(/^key k in pool p has used 90 %/);
    expect(partition?.summary).toMatch(/^partition org-1 in pool p has used 90 %/);
    expect(pool?.summary).toMatch(/^pool p has used 90 % of requests_per_day/);
    expect(pool?.alertId).toBe('threshold:p:pool:p:requests_per_day');
    expect(pool?.facts.advice).toMatch(/rebalancing cannot help/);
  });

  it('fires the pace rule, when enabled, for a fast burn within its horizon, also without history', () => {
    const pace = { ...rules, paceHorizonMs: 45 * 60_000, paceLookbackMs: 30 * 60_000 };
    const burning = facts({ paceEtaMs: NOW + 40 * 60_000, status: 'insufficient_data' });
    const [condition] = evaluateRules([burning], pace, NOW);
    expect(condition).toMatchObject({
      rule: 'pace',
      severity: 'critical',
      alertId: 'pace:p:key:k:requests_per_day',
    });
    expect(condition?.summary).toContain(
      'at the pace of the last 30 minutes it runs out around 2026-11-21 15:40 UTC',
    );
    // Off by default, beyond its horizon, after the reset, or once the quota has run out.
    expect(evaluateRules([burning], rules, NOW)).toEqual([]);
    expect(evaluateRules([{ ...burning, paceEtaMs: NOW + 50 * 60_000 }], pace, NOW)).toEqual([]);
    expect(evaluateRules([{ ...burning, resetAtMs: NOW + 30 * 60_000 }], pace, NOW)).toEqual([]);
    expect(evaluateRules([{ ...burning, paceEtaMs: null }], pace, NOW)).toEqual([]);
    expect(
      evaluateRules([{ ...burning, used: 1000, status: 'exhausted' }], pace, NOW).map((c) => c.rule),
    ).toEqual(['threshold']);
  });
});

describe('alert lifecycle', () => {
  const policy = { forMs: 60_000, keepFiringForMs: 120_000 };
  const condition = evaluateRules([facts({ used: 900 })], rules, NOW);

  it('is pending until the condition has held for `for`, then fires, one transition each', () => {
    const first = advanceAlerts(new Map(), condition, policy, NOW);
    expect([...first.alerts.values()]).toMatchObject([{ state: 'pending', firedAtMs: null }]);
    expect(first.transitions).toHaveLength(1);
    const second = advanceAlerts(first.alerts, condition, policy, NOW + 60_000);
    expect([...second.alerts.values()]).toMatchObject([{ state: 'firing', firedAtMs: NOW + 60_000 }]);
    expect(second.transitions).toMatchObject([{ state: 'firing' }]);
    const third = advanceAlerts(second.alerts, condition, policy, NOW + 120_000);
    expect(third.transitions).toEqual([]);
    expect(third.alerts.get(condition[0]?.alertId ?? '')).toMatchObject({
      startedAtMs: NOW,
      firedAtMs: NOW + 60_000,
    });
  });

  it('keeps firing for `keep_firing_for` after the condition clears, then resolves and leaves', () => {
    const firing: Alert = {
      ...(condition[0] as NonNullable<(typeof condition)[0]>),
      state: 'firing',
      startedAtMs: NOW,
      firedAtMs: NOW,
      lastTrueAtMs: NOW,
    };
    const previous = new Map([[firing.alertId, firing]]);
    const held = advanceAlerts(previous, [], policy, NOW + 60_000);
    expect(held.transitions).toEqual([]);
    expect(held.alerts.get(firing.alertId)?.state).toBe('firing');
    const resolved = advanceAlerts(held.alerts, [], policy, NOW + 120_000);
    expect(resolved.transitions).toMatchObject([{ state: 'resolved', alertId: firing.alertId }]);
    expect(resolved.alerts.size).toBe(0);
  });

  it('records an escalation as a transition of its own', () => {
    const immediate = { forMs: 0, keepFiringForMs: 0 };
    const first = advanceAlerts(new Map(), condition, immediate, NOW);
    expect(first.transitions).toMatchObject([{ state: 'firing', severity: 'warning' }]);
    const critical = evaluateRules([facts({ used: 990 })], rules, NOW);
    const escalated = advanceAlerts(first.alerts, critical, immediate, NOW + 60_000);
    expect(escalated.transitions).toMatchObject([{ state: 'firing', severity: 'critical' }]);
  });
});
