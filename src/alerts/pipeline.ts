import { createHash } from 'node:crypto';
import { alertLabels, matchersHold, type AlertLabels, type Matcher } from './matchers.ts';
import type { Alert, AlertFacts, Severity } from './types.ts';

/**
 * A node of the routing tree, named and defaulted as in Alertmanager: a child inherits what it
 * does not set; an alert goes down the first matching child (and on to the next ones only when that
 * child has `continue`); where no child matches, the node itself takes it.
 */
export interface Route {
  receiver: string;
  matchers: readonly Matcher[];
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  continue: boolean;
  routes: readonly Route[];
}

/** Alertmanager's defaults. */
export const ROUTE_DEFAULTS = Object.freeze({
  groupBy: Object.freeze(['pool', 'rule']),
  groupWaitMs: 30_000,
  groupIntervalMs: 5 * 60_000,
  repeatIntervalMs: 4 * 3_600_000,
});

/** Alerts matching `source` (firing) mute alerts matching `target` that agree on every `equal` label. */
export interface InhibitRule {
  sourceMatchers: readonly Matcher[];
  targetMatchers: readonly Matcher[];
  equal: readonly string[];
}

const eq = (name: string, value: string): Matcher => ({ name, value, isRegex: false, isEqual: true });

/**
 * A pool that runs dry even with ideal balancing makes its keys' alerts noise: moving traffic
 * between them cannot help. A partition running out makes its keys' alerts on that quota noise.
 */
export const DEFAULT_INHIBIT_RULES: readonly InhibitRule[] = Object.freeze([
  {
    sourceMatchers: [eq('rule', 'pool_capacity')],
    targetMatchers: [eq('subject_kind', 'key')],
    equal: ['pool'],
  },
  {
    sourceMatchers: [eq('subject_kind', 'partition')],
    targetMatchers: [eq('subject_kind', 'key')],
    equal: ['pool', 'partition', 'quota'],
  },
]);

export interface Silence {
  id: string;
  matchers: readonly Matcher[];
  startsAtMs: number;
  endsAtMs: number;
  createdBy: string;
  comment: string;
  updatedAtMs: number;
}

export type SilenceState = 'pending' | 'active' | 'expired';

export function silenceState(silence: Silence, nowMs: number): SilenceState {
  if (nowMs < silence.startsAtMs) return 'pending';
  return nowMs < silence.endsAtMs ? 'active' : 'expired';
}

/** Ids of the active silences that match `labels`. */
export function silencedBy(labels: AlertLabels, silences: readonly Silence[], nowMs: number): string[] {
  return silences
    .filter((s) => silenceState(s, nowMs) === 'active' && matchersHold(s.matchers, labels))
    .map((s) => s.id);
}

/** An alert as a receiver was told of it: enough to render it again, and to resolve it. */
export interface SentAlert {
  alertId: string;
  rule: string;
  severity: Severity;
  summary: string;
  labels: AlertLabels;
  startsAtMs: number;
  facts: AlertFacts;
}

/** What the `notifications` table holds for one group: the latest delivery to its receiver. */
export interface NotificationRecord {
  /** The group and the integration it was sent through: `<group key>|<integration>`. */
  key: string;
  groupKey: string;
  receiver: string;
  /** One of the receiver's integrations, e.g. `ops/slack/0`. */
  integration: string;
  /** Counts deliveries of the group; the next one is `seq + 1`. */
  seq: number;
  status: 'firing' | 'resolved';
  contentHash: string;
  /** Where the receiver keeps it: Slack `{channel, ts}`, PagerDuty `{dedup_key}`. */
  messageRef: Readonly<Record<string, string>>;
  alerts: readonly SentAlert[];
  groupLabels: AlertLabels;
  /** When this episode's first notification was sent. */
  firstSentAtMs: number;
  lastSentAtMs: number;
}

export type IntentKind = 'firing' | 'update' | 'repeat' | 'resolved';

/** One notification to send: the decision of a cycle, carried out by a delivery job. */
export interface NotificationIntent {
  /** `<group key>|<integration>`: what the `notifications` table records per row. */
  key: string;
  groupKey: string;
  receiver: string;
  integration: string;
  seq: number;
  kind: IntentKind;
  groupLabels: AlertLabels;
  /** The alerts the receiver should show now (for `resolved`: those it showed, now resolved). */
  alerts: readonly SentAlert[];
  contentHash: string;
  /** The previous delivery of the group, when there is one (its message is edited in place). */
  previous: NotificationRecord | undefined;
  changes: {
    added: readonly SentAlert[];
    resolved: readonly SentAlert[];
    escalated: readonly SentAlert[];
    /** Same alert and severity, but a forecast moved (ETA by half an hour or more). */
    revised: readonly SentAlert[];
  };
  decidedAtMs: number;
}

/** Why an alert is or is not sent, for `/v1/alerts`. */
export interface AlertMarks {
  labels: AlertLabels;
  silencedBy: string[];
  inhibitedBy: string[];
  groups: string[];
}

export interface PipelineInput {
  alerts: readonly Alert[];
  route: Route;
  /** Receivers by name, with their integrations (a route naming another receiver is skipped). */
  receivers: ReadonlyMap<string, readonly string[]>;
  inhibitRules: readonly InhibitRule[];
  silences: readonly Silence[];
  /** By record key (`<group key>|<integration>`). */
  records: ReadonlyMap<string, NotificationRecord>;
  /** Record keys whose last delivery failed for good, with when: tried again after `group_interval`. */
  failures: ReadonlyMap<string, number>;
  /** Record keys with a delivery in flight: decided again once it is done. */
  busy: ReadonlySet<string>;
  nowMs: number;
}

function routeMatches(route: Route, labels: AlertLabels): Route[] {
  const found: Route[] = [];
  for (const child of route.routes) {
    if (!matchersHold(child.matchers, labels)) continue;
    found.push(...routeMatches(child, labels));
    if (!child.continue) break;
  }
  return found.length > 0 ? found : [route];
}

/** The routes an alert ends at (the root matches every alert). */
export function routeAlert(route: Route, labels: AlertLabels): Route[] {
  return routeMatches(route, labels);
}

function groupLabelsOf(route: Route, labels: AlertLabels): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of route.groupBy) out[name] = labels[name] ?? '';
  return out;
}

/** Like Alertmanager's: the route's matchers, then the group's labels. */
function groupKeyOf(route: Route, path: string, groupLabels: AlertLabels): string {
  const fmt = (pairs: Array<[string, string]>): string =>
    `{${pairs.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
  return `${route.receiver}:${path}:${fmt(Object.entries(groupLabels).sort(([a], [b]) => a.localeCompare(b)))}`;
}

const REVISION_MS = 30 * 60_000;

/** The part of an alert that, when it changes, is worth telling the receiver. */
function revisionOf(a: SentAlert): string {
  const eta = a.facts.etaP50Ms ?? a.facts.atMs ?? null;
  return `${a.alertId}|${a.severity}|${eta === null ? '' : Math.round(eta / REVISION_MS)}`;
}

export function contentHashOf(alerts: readonly SentAlert[]): string {
  const lines = alerts.map(revisionOf).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 32);
}

function toSent(alert: Alert, labels: AlertLabels): SentAlert {
  return {
    alertId: alert.alertId,
    rule: alert.rule,
    severity: alert.severity,
    summary: alert.summary,
    labels,
    startsAtMs: alert.firedAtMs ?? alert.startedAtMs,
    facts: alert.facts,
  };
}

interface Group {
  key: string;
  route: Route;
  labels: AlertLabels;
  /** Firing, neither silenced nor inhibited. */
  sendable: SentAlert[];
  firstFiredAtMs: number;
  /** Firing but muted: the group is not resolved while there are some. */
  muted: number;
}

function routeIndex(route: Route, target: Route, path = '0'): string | undefined {
  if (route === target) return path;
  for (const [i, child] of route.routes.entries()) {
    const found = routeIndex(child, target, `${path}.${i}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * The notification pipeline, pure, in Alertmanager's order: route every alert, group per route and
 * `group_by` labels, drop silenced and inhibited alerts, then per group decide what to send against
 * what the receiver was last told: a new group after `group_wait`, a changed one after
 * `group_interval`, an unchanged one again after `repeat_interval`, and a resolution once nothing
 * of it fires. Pending alerts are never sent.
 */
export function decideNotifications(input: PipelineInput): {
  intents: NotificationIntent[];
  marks: Map<string, AlertMarks>;
} {
  const { nowMs } = input;
  const firing = input.alerts.filter((a) => a.state === 'firing');
  const labelsOf = new Map(input.alerts.map((a) => [a.alertId, alertLabels(a)]));
  const sources = input.inhibitRules.map((rule) =>
    firing.filter((a) => matchersHold(rule.sourceMatchers, labelsOf.get(a.alertId) ?? {})),
  );

  const marks = new Map<string, AlertMarks>();
  const groups = new Map<string, Group>();
  const paths = new Map<Route, string>();
  for (const alert of input.alerts) {
    const labels = labelsOf.get(alert.alertId) ?? {};
    const inhibitedBy: string[] = [];
    input.inhibitRules.forEach((rule, i) => {
      if (!matchersHold(rule.targetMatchers, labels)) return;
      for (const source of sources[i] ?? []) {
        if (source.alertId === alert.alertId) continue;
        const sourceLabels = labelsOf.get(source.alertId) ?? {};
        if (rule.equal.every((name) => (sourceLabels[name] ?? '') === (labels[name] ?? '')))
          inhibitedBy.push(source.alertId);
      }
    });
    const mark: AlertMarks = {
      labels,
      silencedBy: silencedBy(labels, input.silences, nowMs),
      inhibitedBy,
      groups: [],
    };
    marks.set(alert.alertId, mark);
    if (alert.state !== 'firing') continue;
    for (const route of routeAlert(input.route, labels)) {
      if (!input.receivers.has(route.receiver)) continue;
      let path = paths.get(route);
      if (path === undefined) paths.set(route, (path = routeIndex(input.route, route) ?? '0'));
      const groupLabels = groupLabelsOf(route, labels);
      const key = groupKeyOf(route, path, groupLabels);
      mark.groups.push(key);
      let group = groups.get(key);
      if (group === undefined)
        groups.set(
          key,
          (group = { key, route, labels: groupLabels, sendable: [], firstFiredAtMs: Infinity, muted: 0 }),
        );
      if (mark.silencedBy.length > 0 || mark.inhibitedBy.length > 0) {
        group.muted++;
        continue;
      }
      group.sendable.push(toSent(alert, labels));
      group.firstFiredAtMs = Math.min(group.firstFiredAtMs, alert.firedAtMs ?? nowMs);
    }
  }

  const intents: NotificationIntent[] = [];
  const decide = (key: string, integration: string, group: Group | undefined): void => {
    if (input.busy.has(key)) return;
    const record = input.records.get(key);
    const live = record !== undefined && record.status === 'firing' ? record : undefined;
    const timing = group?.route ?? ROUTE_DEFAULTS;
    const failedAt = input.failures.get(key);
    if (failedAt !== undefined && nowMs - failedAt < timing.groupIntervalMs) return;
    const sendable = [...(group?.sendable ?? [])].sort((a, b) => a.alertId.localeCompare(b.alertId));
    const base = {
      key,
      groupKey: group?.key ?? record?.groupKey ?? '',
      receiver: group?.route.receiver ?? record?.receiver ?? '',
      integration,
      seq: (record?.seq ?? 0) + 1,
      groupLabels: group?.labels ?? record?.groupLabels ?? {},
      previous: record,
      decidedAtMs: nowMs,
    };
    if (sendable.length === 0) {
      if (live === undefined || (group?.muted ?? 0) > 0) return;
      if (!(input.receivers.get(live.receiver) ?? []).includes(live.integration)) return;
      intents.push({
        ...base,
        kind: 'resolved',
        alerts: live.alerts,
        contentHash: contentHashOf([]),
        changes: { added: [], resolved: live.alerts, escalated: [], revised: [] },
      });
      return;
    }
    const contentHash = contentHashOf(sendable);
    if (live === undefined) {
      if (nowMs - (group?.firstFiredAtMs ?? nowMs) < timing.groupWaitMs) return;
      intents.push({
        ...base,
        kind: 'firing',
        alerts: sendable,
        contentHash,
        changes: { added: sendable, resolved: [], escalated: [], revised: [] },
      });
      return;
    }
    const sinceLastMs = nowMs - live.lastSentAtMs;
    if (contentHash !== live.contentHash) {
      if (sinceLastMs < timing.groupIntervalMs) return;
      const before = new Map(live.alerts.map((a) => [a.alertId, a]));
      const now = new Set(sendable.map((a) => a.alertId));
      const escalated: SentAlert[] = [];
      const revised: SentAlert[] = [];
      const added: SentAlert[] = [];
      for (const a of sendable) {
        const old = before.get(a.alertId);
        if (old === undefined) added.push(a);
        else if (old.severity !== a.severity) {
          if (a.severity === 'critical') escalated.push(a);
          else revised.push(a);
        } else if (revisionOf(old) !== revisionOf(a)) revised.push(a);
      }
      intents.push({
        ...base,
        kind: 'update',
        alerts: sendable,
        contentHash,
        changes: { added, resolved: live.alerts.filter((a) => !now.has(a.alertId)), escalated, revised },
      });
      return;
    }
    if (sinceLastMs >= timing.repeatIntervalMs)
      intents.push({
        ...base,
        kind: 'repeat',
        alerts: sendable,
        contentHash,
        changes: { added: [], resolved: [], escalated: [], revised: [] },
      });
  };
  const seen = new Set<string>();
  for (const group of groups.values()) {
    for (const integration of input.receivers.get(group.route.receiver) ?? []) {
      const key = `${group.key}|${integration}`;
      seen.add(key);
      decide(key, integration, group);
    }
  }
  for (const [key, record] of input.records) if (!seen.has(key)) decide(key, record.integration, undefined);
  return { intents, marks };
}
