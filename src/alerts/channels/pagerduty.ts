import { createHash } from 'node:crypto';
import type { NotificationIntent } from '../pipeline.ts';
import { postJson } from './http-post.ts';
import type { Notifier } from './notifier.ts';

export interface PagerDutyOptions {
  id: string;
  routingKey: string;
  /** Events API base URL, default `https://events.pagerduty.com`. */
  url: string;
  timeoutMillis: number;
}

/** One incident per group: the same key triggers, updates and resolves it. */
export function pagerDutyDedupKey(groupKey: string): string {
  return `headroom-${createHash('sha256').update(groupKey).digest('hex').slice(0, 40)}`;
}

/** An Events API v2 event for the intent (summary at most 1024 characters, as PagerDuty requires). */
export function buildPagerDutyEvent(intent: NotificationIntent, routingKey: string): object {
  const dedupKey = intent.previous?.messageRef['dedup_key'] ?? pagerDutyDedupKey(intent.groupKey);
  if (intent.kind === 'resolved')
    return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
  const critical = intent.alerts.some((a) => a.severity === 'critical');
  const [first] = intent.alerts;
  const summary =
    intent.alerts.length === 1 && first !== undefined
      ? first.summary
      : `${intent.alerts.length} alerts: ${intent.alerts.map((a) => a.summary).join('; ')}`;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: summary.slice(0, 1024),
      severity: critical ? 'critical' : 'warning',
      source: 'headroom',
      component: intent.groupLabels['pool'] ?? '',
      group: intent.groupLabels['rule'] ?? '',
      class: intent.kind,
      custom_details: {
        alerts: intent.alerts.map((a) => ({
          summary: a.summary,
          severity: a.severity,
          advice: a.facts.advice,
        })),
      },
    },
  };
}

export function createPagerDutyNotifier(options: PagerDutyOptions): Notifier {
  const endpoint = `${options.url.replace(/\/+$/, '')}/v2/enqueue`;
  return {
    id: options.id,
    type: 'pagerduty',
    description: `pagerduty ${new URL(endpoint).origin}`,
    async send(intent) {
      const event = buildPagerDutyEvent(intent, options.routingKey) as { dedup_key: string };
      const result = await postJson(endpoint, JSON.stringify(event), {}, options.timeoutMillis);
      return result.kind === 'success' ? { kind: 'success', value: { dedup_key: event.dedup_key } } : result;
    },
  };
}
