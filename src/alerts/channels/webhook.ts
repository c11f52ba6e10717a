import type { NotificationIntent, SentAlert } from '../pipeline.ts';
import { signWebhookBody, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER } from '../../delivery/index.ts';
import { postJson } from './http-post.ts';
import { alertPageUrl } from './slack.ts';
import type { Notifier } from './notifier.ts';

export interface WebhookOptions {
  id: string;
  url: string;
  /** HMAC-SHA256 key; without it the body is sent unsigned. */
  secret?: string;
  timeoutMillis: number;
  /** `HEADROOM_PUBLIC_URL`: `generatorURL` of each alert is its page, `externalURL` headroom's. */
  publicUrl?: string;
}

/** Alertmanager writes the zero time for an alert that has not ended. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

function alertJson(
  a: SentAlert,
  status: 'firing' | 'resolved',
  endsAtMs: number | null,
  publicUrl: string | undefined,
): object {
  return {
    status,
    labels: a.labels,
    annotations: { summary: a.summary, description: a.facts.advice },
    startsAt: new Date(a.startsAtMs).toISOString(),
    endsAt: endsAtMs === null ? ZERO_TIME : new Date(endsAtMs).toISOString(),
    generatorURL: alertPageUrl(a, publicUrl) ?? '',
    fingerprint: a.alertId,
  };
}

function common(alerts: readonly SentAlert[]): Record<string, string> {
  const [first, ...rest] = alerts;
  if (first === undefined) return {};
  return Object.fromEntries(
    Object.entries(first.labels).filter(([k, v]) => rest.every((a) => a.labels[k] === v)),
  );
}

/** The body Alertmanager's webhook receivers expect (version 4), so existing receivers work unchanged. */
export function buildWebhookPayload(intent: NotificationIntent, publicUrl?: string): object {
  const resolved = intent.kind === 'resolved';
  const alerts = [
    ...(resolved ? [] : intent.alerts.map((a) => alertJson(a, 'firing', null, publicUrl))),
    ...intent.changes.resolved.map((a) => alertJson(a, 'resolved', intent.decidedAtMs, publicUrl)),
  ];
  return {
    version: '4',
    groupKey: intent.groupKey,
    truncatedAlerts: 0,
    status: resolved ? 'resolved' : 'firing',
    receiver: intent.receiver,
    groupLabels: intent.groupLabels,
    commonLabels: common(resolved ? intent.changes.resolved : intent.alerts),
    commonAnnotations: {},
    externalURL: publicUrl ?? '',
    alerts,
  };
}

// One signature for every webhook headroom sends: alerts and advice are verified alike.
export { signWebhookBody, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER };

export function createWebhookNotifier(options: WebhookOptions): Notifier {
  return {
    id: options.id,
    type: 'webhook',
    description: `webhook ${new URL(options.url).origin}${options.secret === undefined ? '' : ' (signed)'}`,
    async send(intent) {
      const body = JSON.stringify(buildWebhookPayload(intent, options.publicUrl));
      const headers: Record<string, string> = {};
      if (options.secret !== undefined) {
        const timestamp = String(Math.floor(Date.now() / 1000));
        headers[WEBHOOK_TIMESTAMP_HEADER] = timestamp;
        headers[WEBHOOK_SIGNATURE_HEADER] = signWebhookBody(options.secret, timestamp, body);
      }
      const result = await postJson(options.url, body, headers, options.timeoutMillis);
      return result.kind === 'success' ? { kind: 'success', value: {} } : result;
    },
  };
}
