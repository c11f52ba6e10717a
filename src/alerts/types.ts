export type Severity = 'warning' | 'critical';
export type AlertState = 'pending' | 'firing' | 'resolved';
export type RuleName =
  'threshold' | 'forecast' | 'pace' | 'throttling' | 'pool_capacity' | 'key_health' | 'no_data';

/** What a rule found true in one cycle. */
export interface AlertCondition {
  alertId: string;
  rule: RuleName;
  severity: Severity;
  pool: string;
  subjectKind: string;
  subjectId: string;
  /** The partition a key draws from, or the partition itself; '' when none is known. */
  partition: string;
  /** The quota the alert is about; '' for alerts about a key or pool as a whole. */
  quotaId: string;
  /** One line for humans, e.g. "key-b will run out of requests_per_day at 15:40 UTC". */
  summary: string;
  facts: AlertFacts;
}

/**
 * What a rule saw. Quota rules fill the quota fields; the others fill what applies to them
 * (a throttled share, when a key expires, how long a key has been silent).
 */
export interface AlertFacts {
  dimension?: string;
  used?: number;
  limit?: number;
  resetAtMs?: number;
  etaP50Ms?: number | null;
  etaP10Ms?: number | null;
  pExhaust?: number;
  status?: string;
  /** The rule's own measure, e.g. the throttled share of calls (0-1) or the minutes of silence. */
  value?: number;
  /** When the thing the rule warns of happens: the pool runs dry, the key expires. */
  atMs?: number | null;
  /** Where to look or what to do. */
  advice: string;
}

/** An alert as it lives between cycles (and in the `alerts` table). */
export interface Alert {
  alertId: string;
  rule: string;
  severity: Severity;
  state: AlertState;
  pool: string;
  subjectKind: string;
  subjectId: string;
  partition: string;
  quotaId: string;
  summary: string;
  facts: AlertFacts;
  /** When the condition was first seen true in this episode. */
  startedAtMs: number;
  /** When the alert started firing; null while pending. `group_wait` counts from it. */
  firedAtMs: number | null;
  /** Last cycle the condition was true. */
  lastTrueAtMs: number;
}

export interface AlertPolicy {
  /** The condition must hold this long before the alert fires (Prometheus `for`). */
  forMs: number;
  /** A firing alert stays firing this long after its condition clears (Prometheus `keep_firing_for`). */
  keepFiringForMs: number;
}
