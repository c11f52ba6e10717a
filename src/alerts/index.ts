/**
 * Alerting like Prometheus and Alertmanager: pure rules turn forecasts and outcomes into conditions,
 * a pure lifecycle turns conditions into alerts, a pure pipeline routes, groups, silences and
 * inhibits them into notification intents; detached delivery jobs carry the intents out through
 * the one retry wrapper and record what was sent in the `notifications` table.
 */
import { randomUUID } from 'node:crypto';
import type { HeadroomFile, SlackConfig } from '../config/index.ts';
import { createDeliveryQueue, deliverWithRetry, type RetryPolicy } from '../delivery/index.ts';
import type { AlertEventRow, NotificationRow, SilenceRow, Store } from '../store/index.ts';
import { buildAlertRouting, type AlertRouting } from './channels/registry.ts';
import {
  DEFAULT_HEALTH_RULE_SETTINGS,
  evaluateKeyHealth,
  evaluateNoData,
  evaluatePoolCapacity,
  evaluateThrottling,
  type CapacityFacts,
  type ConfiguredKeyFacts,
  type HealthRuleSettings,
  type OutcomeFacts,
} from './health-rules.ts';
import { advanceAlerts } from './lifecycle.ts';
import { alertLabels } from './matchers.ts';
import type { Matcher } from './matchers.ts';
import {
  decideNotifications,
  type AlertMarks,
  type NotificationIntent,
  type NotificationRecord,
  type Silence,
} from './pipeline.ts';
import { evaluateRules, type ForecastFacts, type RuleSettings } from './rules.ts';
import type { Alert, AlertCondition, AlertFacts, AlertPolicy } from './types.ts';

export { advanceAlerts } from './lifecycle.ts';
export { evaluateRules } from './rules.ts';
export {
  DEFAULT_HEALTH_RULE_SETTINGS,
  estimateUsualGapMs,
  evaluateKeyHealth,
  evaluateNoData,
  evaluatePoolCapacity,
  evaluateThrottling,
} from './health-rules.ts';
export {
  ALERT_LABELS,
  alertLabels,
  formatMatcher,
  matchersHold,
  parseMatcher,
  validateMatcher,
} from './matchers.ts';
export {
  contentHashOf,
  decideNotifications,
  DEFAULT_INHIBIT_RULES,
  ROUTE_DEFAULTS,
  routeAlert,
  silencedBy,
  silenceState,
} from './pipeline.ts';
export { buildAlertRouting } from './channels/registry.ts';
export { buildGroupBlocks, describeChanges, SLACK_LIMITS } from './channels/slack.ts';
export {
  buildWebhookPayload,
  signWebhookBody,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from './channels/webhook.ts';
export { buildPagerDutyEvent, pagerDutyDedupKey } from './channels/pagerduty.ts';
export type { AlertRouting } from './channels/registry.ts';
export type { MessageRef, Notifier } from './channels/notifier.ts';
export type { AlertLabels, Matcher } from './matchers.ts';
export type {
  AlertMarks,
  InhibitRule,
  IntentKind,
  NotificationIntent,
  NotificationRecord,
  PipelineInput,
  Route,
  SentAlert,
  Silence,
  SilenceState,
} from './pipeline.ts';
export type { ForecastFacts, RuleSettings } from './rules.ts';
export type { CapacityFacts, ConfiguredKeyFacts, HealthRuleSettings, OutcomeFacts } from './health-rules.ts';
export type {
  Alert,
  AlertCondition,
  AlertFacts,
  AlertPolicy,
  AlertState,
  RuleName,
  Severity,
} from './types.ts';

/** What the rules see in one cycle. */
export interface RuleInputs {
  forecasts: readonly ForecastFacts[];
  outcomes: readonly OutcomeFacts[];
  capacity: readonly CapacityFacts[];
  keys: readonly ConfiguredKeyFacts[];
}

/** An active alert as `/v1/alerts` shows it. */
export interface AlertView extends Alert {
  labels: Readonly<Record<string, string>>;
  silencedBy: string[];
  inhibitedBy: string[];
  /** A receiver has been told of it (and of its current severity). */
  delivered: boolean;
}

export interface Alerting {
  /** Loads open alerts and what every receiver was last sent, so a restart sends nothing twice. */
  restore(): Promise<void>;
  /**
   * Runs every rule, advances the alerts, records transitions, decides what to send and hands it to
   * detached delivery jobs. Returns once decided: deliveries never lengthen the cycle.
   */
  evaluate(inputs: RuleInputs, nowMs: number): Promise<void>;
  /** Alerts that are pending or firing, with their silences, inhibitions and delivery. */
  active(): AlertView[];
  /** What each active integration sends to, e.g. `slack #llm-keys`; empty when none is configured. */
  channels(): string[];
  /** Waits for deliveries in flight (tests, shutdown). */
  drain(timeoutMillis?: number): Promise<void>;
}

/** Longer than one delivery may take (the retry wrapper's deadline, plus a margin). */
const CLAIM_VALID_MS = 2 * 60_000;

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

function toAlertRow(alert: Alert, atMs: number): AlertEventRow {
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
    // Deliveries are recorded per group in `notifications`; these columns stay for old rows.
    channel: '',
    message_ts: '',
    notified: 0,
    fired_at: alert.firedAtMs,
    partition: alert.partition,
  };
}

function fromAlertRow(row: AlertEventRow): Alert {
  return {
    alertId: row.alert_id,
    rule: row.rule,
    severity: row.severity === 'critical' ? 'critical' : 'warning',
    state: row.state === 'firing' ? 'firing' : 'pending',
    pool: row.pool,
    subjectKind: row.subject_kind,
    subjectId: row.subject_id,
    partition: row.partition,
    quotaId: row.quota_id,
    summary: row.summary,
    facts: JSON.parse(row.details) as AlertFacts,
    startedAtMs: row.started_at,
    firedAtMs: row.fired_at ?? (row.state === 'firing' ? row.at : null),
    lastTrueAtMs: row.at,
  };
}

function toRecord(row: NotificationRow): NotificationRecord {
  const [groupKey = row.group_key, integration = ''] = splitKey(row.group_key);
  return {
    key: row.group_key,
    groupKey,
    receiver: row.receiver,
    integration,
    seq: row.seq,
    status: row.status === 'resolved' ? 'resolved' : 'firing',
    contentHash: row.content_hash,
    messageRef: JSON.parse(row.message_ref) as Record<string, string>,
    alerts: JSON.parse(row.alerts) as NotificationRecord['alerts'],
    groupLabels: JSON.parse(row.group_labels) as Record<string, string>,
    firstSentAtMs: row.first_sent_at,
    lastSentAtMs: row.last_sent_at,
  };
}

/** `<group key>|<integration>`: the integration id never contains `|`. */
function splitKey(key: string): [string, string] {
  const at = key.lastIndexOf('|');
  return at < 0 ? [key, ''] : [key.slice(0, at), key.slice(at + 1)];
}

export function silenceFromRow(row: SilenceRow): Silence {
  return {
    id: row.id,
    matchers: JSON.parse(row.matchers) as Matcher[],
    startsAtMs: row.starts_at,
    endsAtMs: row.ends_at,
    createdBy: row.created_by,
    comment: row.comment,
    updatedAtMs: row.updated_at,
  };
}

export function createAlerting(options: {
  store: Store;
  file: HeadroomFile;
  slack: SlackConfig;
  /** `HEADROOM_PUBLIC_URL`: notifications link to the page of their key, partition or pool. */
  publicUrl?: string;
  rules: RuleSettings;
  health?: Partial<HealthRuleSettings>;
  policy: AlertPolicy;
  log: Logger;
  /** Retries of one delivery; the defaults of {@link deliverWithRetry} otherwise. */
  retry?: Partial<RetryPolicy>;
  /** Read when a job records a delivery. */
  clock?: () => number;
}): Alerting {
  const { store, rules, policy, log } = options;
  const health: HealthRuleSettings = { ...DEFAULT_HEALTH_RULE_SETTINGS, ...options.health };
  const clock = options.clock ?? Date.now;
  const routing: AlertRouting = buildAlertRouting(options.file, options.slack, options.publicUrl);
  const queue = createDeliveryQueue((lane, error) =>
    log.warn(
      { group: lane, err: error instanceof Error ? error.message : String(error) },
      'alert delivery job failed',
    ),
  );
  const instanceId = randomUUID();
  let alerts = new Map<string, Alert>();
  let marks = new Map<string, AlertMarks>();
  const records = new Map<string, NotificationRecord>();
  const failures = new Map<string, number>();
  const busy = new Set<string>();

  function rowOf(
    intent: NotificationIntent,
    outcome: 'sent' | 'failed' | 'retryable' | 'claimed',
    error: string,
    messageRef: Readonly<Record<string, string>>,
  ): NotificationRow {
    const newEpisode = intent.previous === undefined || intent.previous.status === 'resolved';
    return {
      group_key: intent.key,
      receiver: intent.receiver,
      seq: intent.seq,
      kind: intent.kind,
      status: intent.kind === 'resolved' ? 'resolved' : 'firing',
      outcome,
      error,
      content_hash: intent.contentHash,
      message_ref: JSON.stringify(messageRef),
      alerts: JSON.stringify(intent.alerts),
      group_labels: JSON.stringify(intent.groupLabels),
      first_sent_at: newEpisode ? intent.decidedAtMs : (intent.previous?.firstSentAtMs ?? intent.decidedAtMs),
      last_sent_at: intent.decidedAtMs,
      recorded_at: clock(),
    };
  }

  async function deliver(intent: NotificationIntent): Promise<void> {
    const notifier = routing.notifiers.get(intent.integration);
    if (notifier === undefined) return;
    // Another instance (or this one before a restart) may have sent this already.
    const [latest] = await store.readLatestNotifications(intent.key);
    if (latest !== undefined && latest.seq >= intent.seq) {
      records.set(intent.key, toRecord(latest));
      return;
    }
    // Instances that decide the same delivery at the same time agree on one sender: the first claim
    // recorded. Claims older than a delivery can take are void (their owner gave up or died).
    const claimedAtMs = clock();
    await store.writeNotifications([
      { ...rowOf(intent, 'claimed', instanceId, {}), recorded_at: claimedAtMs },
    ]);
    const owner = await store.readNotificationClaim(intent.key, intent.seq, claimedAtMs - CLAIM_VALID_MS);
    if (owner !== instanceId) return;
    const result = await deliverWithRetry(() => notifier.send(intent), options.retry);
    if (result.kind === 'success') {
      const row = rowOf(intent, 'sent', '', result.value);
      records.set(intent.key, toRecord(row));
      failures.delete(intent.key);
      await store.writeNotifications([row]);
      for (const alert of intent.kind === 'resolved' ? intent.changes.resolved : intent.alerts)
        log.info(
          {
            alert: alert.alertId,
            action: intent.kind === 'firing' ? 'post' : intent.kind,
            rule: alert.rule,
            severity: alert.severity,
            pool: alert.labels['pool'] ?? '',
            subject: `${alert.labels['subject_kind'] ?? ''} ${alert.labels['subject'] ?? ''}`,
            quota: alert.labels['quota'] ?? '',
            receiver: intent.receiver,
            integration: intent.integration,
            channel: result.value['channel'] ?? '',
          },
          `alert sent: ${alert.summary}`,
        );
      return;
    }
    const permanent = result.kind === 'failure';
    if (permanent) failures.set(intent.key, intent.decidedAtMs);
    log.warn(
      {
        receiver: intent.receiver,
        integration: intent.integration,
        group: intent.groupKey,
        kind: intent.kind,
        attempts: result.attempts,
        err: result.error.message,
      },
      permanent
        ? 'alert notification refused: fix the receiver (token, channel, invitation); tried again after group_interval'
        : 'alert notification not delivered yet: tried again next cycle',
    );
    await store.writeNotifications([
      rowOf(intent, permanent ? 'failed' : 'retryable', result.error.message, {}),
    ]);
  }

  return {
    async restore() {
      alerts = new Map((await store.readOpenAlerts()).map((row) => [row.alert_id, fromAlertRow(row)]));
      records.clear();
      for (const row of await store.readLatestNotifications()) records.set(row.group_key, toRecord(row));
    },
    async evaluate(inputs, nowMs) {
      const conditions: AlertCondition[] = [
        ...evaluateRules(inputs.forecasts, rules, nowMs),
        ...evaluateThrottling(inputs.outcomes, health),
        ...evaluatePoolCapacity(inputs.capacity, health, nowMs),
        ...evaluateKeyHealth(inputs.outcomes, inputs.keys, health, nowMs),
        ...evaluateNoData(inputs.keys, health, nowMs),
      ];
      const step = advanceAlerts(alerts, conditions, policy, nowMs);
      alerts = step.alerts;
      await store.writeAlertEvents(step.transitions.map((a) => toAlertRow(a, nowMs)));
      const silences = (await store.readSilences()).map(silenceFromRow);
      const decided = decideNotifications({
        alerts: [...alerts.values()],
        route: routing.route,
        receivers: routing.receivers,
        inhibitRules: routing.inhibitRules,
        silences,
        records,
        failures,
        busy,
        nowMs,
      });
      marks = decided.marks;
      for (const intent of decided.intents) {
        busy.add(intent.key);
        queue.enqueue(intent.key, async () => {
          try {
            await deliver(intent);
          } finally {
            busy.delete(intent.key);
          }
        });
      }
    },
    active() {
      const told = new Map<string, string>();
      for (const record of records.values())
        if (record.status === 'firing') for (const a of record.alerts) told.set(a.alertId, a.severity);
      return [...alerts.values()].map((alert) => {
        const mark = marks.get(alert.alertId);
        return {
          ...alert,
          labels: mark?.labels ?? alertLabels(alert),
          silencedBy: mark?.silencedBy ?? [],
          inhibitedBy: mark?.inhibitedBy ?? [],
          delivered: told.get(alert.alertId) === alert.severity,
        };
      });
    },
    channels() {
      return [...routing.notifiers.values()].map((n) => `${n.id}: ${n.description}`);
    },
    drain: (timeoutMillis) => queue.drain(timeoutMillis),
  };
}
