export type Severity = 'warning' | 'critical';
export type AlertState = 'pending' | 'firing' | 'resolved';

/** What a rule found true in one cycle. */
export interface AlertCondition {
  alertId: string;
  rule: 'threshold' | 'forecast' | 'pace';
  severity: Severity;
  pool: string;
  subjectKind: string;
  subjectId: string;
  quotaId: string;
  /** One line for humans, e.g. "key-b will run out of requests_per_day at 15:40 UTC". */
  summary: string;
  facts: AlertFacts;
}

export interface AlertFacts {
  dimension: string;
  used: number;
  limit: number;
  resetAtMs: number;
  etaP50Ms: number | null;
  etaP10Ms: number | null;
  pExhaust: number;
  status: string;
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
  quotaId: string;
  summary: string;
  facts: AlertFacts;
  /** When the condition was first seen true in this episode. */
  startedAtMs: number;
  /** Last cycle the condition was true. */
  lastTrueAtMs: number;
  channel: string;
  /** Slack message timestamp of the parent message; '' until it has been posted. */
  messageTs: string;
  /** Whether the current state has been delivered to the channel. */
  notified: boolean;
}

export interface AlertPolicy {
  /** The condition must hold this long before the alert fires (Prometheus `for`). */
  forMs: number;
  /** A firing alert stays firing this long after its condition clears (Prometheus `keep_firing_for`). */
  keepFiringForMs: number;
}
