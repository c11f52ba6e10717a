import type { AlertCondition, AlertFacts, Severity } from './types.ts';

/** What the rules need to know about one forecast. */
export interface ForecastFacts {
  pool: string;
  subjectKind: string;
  subjectId: string;
  quotaId: string;
  dimension: string;
  used: number;
  limit: number;
  resetAtMs: number;
  etaP10Ms: number | null;
  etaP50Ms: number | null;
  pExhaust: number;
  status: string;
  /** The partition a key draws from, or the partition itself; '' or absent when none. */
  partition?: string;
  /** When the quota runs out at the pace of the last `paceLookbackMs`, before its reset; else null. */
  paceEtaMs?: number | null;
}

export interface RuleSettings {
  warningRatio: number;
  criticalRatio: number;
  forecastPExhaust: number;
  forecastHorizonMs: number;
  /** The pace rule fires when the pace ETA is within this; 0 turns the rule off. */
  paceHorizonMs?: number;
  paceLookbackMs?: number;
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

function formatAmount(value: number, dimension: string): string {
  if (dimension === 'cost_usd') return `$${value.toFixed(2)}`;
  return Math.round(value).toLocaleString('en-US');
}

/** Who the alert is about, as its summary starts: `key k in pool p`, `partition o in pool p`, `pool p`. */
function subjectLabel(f: ForecastFacts): string {
  switch (f.subjectKind) {
    case 'pool':
      return `pool ${f.pool}`;
    case 'partition':
      return `partition ${f.subjectId} in pool ${f.pool}`;
    default:
      return `key ${f.subjectId} in pool ${f.pool}`;
  }
}

function adviceFor(f: ForecastFacts): string {
  switch (f.subjectKind) {
    case 'pool':
      return `Every key of pool ${f.pool} counts against this quota, so rebalancing cannot help: shed or defer traffic, or raise the quota before ${formatTime(f.resetAtMs)}.`;
    case 'partition':
      return `Every key of partition ${f.subjectId} shares this quota: move traffic to keys of another partition, or raise the quota before ${formatTime(f.resetAtMs)}.`;
    default:
      return `Shift traffic to other keys of pool ${f.pool} (headroom's advice already lowers this key's weight), or raise the quota.`;
  }
}

/**
 * The threshold rule (usage as a share of the limit, 80 % warning / 95 % critical by default), the
 * forecast rule (likely to run out before reset, within the horizon) and, when enabled, the pace rule
 * (a fast burn: at the pace of the last minutes the quota runs out within its horizon; what a surge
 * looks like before the forecast, which weighs the whole day, catches up). Pure: forecasts in,
 * conditions out.
 */
export function evaluateRules(
  forecasts: readonly ForecastFacts[],
  settings: RuleSettings,
  nowMs: number,
): AlertCondition[] {
  const conditions: AlertCondition[] = [];
  for (const f of forecasts) {
    const base = {
      pool: f.pool,
      subjectKind: f.subjectKind,
      subjectId: f.subjectId,
      partition: f.partition ?? (f.subjectKind === 'partition' ? f.subjectId : ''),
      quotaId: f.quotaId,
    };
    const facts: AlertFacts = {
      dimension: f.dimension,
      used: f.used,
      limit: f.limit,
      resetAtMs: f.resetAtMs,
      etaP50Ms: f.etaP50Ms,
      etaP10Ms: f.etaP10Ms,
      pExhaust: f.pExhaust,
      status: f.status,
      advice: adviceFor(f),
    };
    const ratio = f.limit > 0 ? f.used / f.limit : 0;
    if (ratio >= settings.warningRatio) {
      const severity: Severity = ratio >= settings.criticalRatio ? 'critical' : 'warning';
      const what = ratio >= 1 ? 'has run out of' : `has used ${(ratio * 100).toFixed(0)} % of`;
      conditions.push({
        alertId: `threshold:${f.pool}:${f.subjectKind}:${f.subjectId}:${f.quotaId}`,
        rule: 'threshold',
        severity,
        ...base,
        summary: `${subjectLabel(f)} ${what} ${f.quotaId} (${formatAmount(f.used, f.dimension)} / ${formatAmount(f.limit, f.dimension)}); resets ${formatTime(f.resetAtMs)}`,
        facts,
      });
    }
    const eta = f.etaP50Ms;
    if (
      f.status === 'ok' &&
      eta !== null &&
      f.pExhaust >= settings.forecastPExhaust &&
      eta < f.resetAtMs &&
      eta - nowMs <= settings.forecastHorizonMs
    ) {
      conditions.push({
        alertId: `forecast:${f.pool}:${f.subjectKind}:${f.subjectId}:${f.quotaId}`,
        rule: 'forecast',
        severity: eta - nowMs <= settings.forecastHorizonMs / 4 ? 'critical' : 'warning',
        ...base,
        summary: `${subjectLabel(f)} will run out of ${f.quotaId} around ${formatTime(eta)} (p=${f.pExhaust.toFixed(2)}), before it resets ${formatTime(f.resetAtMs)}`,
        facts,
      });
    }
    const paceEta = f.paceEtaMs ?? null;
    const paceHorizonMs = settings.paceHorizonMs ?? 0;
    if (
      paceHorizonMs > 0 &&
      // The pace needs no history: a new key that switches on and burns fast is the case it is for.
      f.status !== 'exhausted' &&
      paceEta !== null &&
      paceEta < f.resetAtMs &&
      paceEta - nowMs <= paceHorizonMs
    ) {
      const minutes = Math.round((settings.paceLookbackMs ?? 0) / 60_000);
      conditions.push({
        alertId: `pace:${f.pool}:${f.subjectKind}:${f.subjectId}:${f.quotaId}`,
        rule: 'pace',
        severity: 'critical',
        ...base,
        summary: `${subjectLabel(f)} is burning ${f.quotaId} fast: at the pace of the last ${minutes} minutes it runs out around ${formatTime(paceEta)}, before it resets ${formatTime(f.resetAtMs)}`,
        facts,
      });
    }
  }
  return conditions;
}
