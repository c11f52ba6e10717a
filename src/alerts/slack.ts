import { WebClient, type KnownBlock } from '@slack/web-api';
import type { IoResult } from '../errors/index.ts';
import type { Alert } from './types.ts';

/** One alert channel (Slack today; the interface is what a new channel implements). */
export interface AlertChannel {
  readonly name: string;
  /** Posts the parent message of a firing alert; resolves with the message timestamp. */
  post(alert: Alert): Promise<IoResult<{ messageTs: string }>>;
  /** Adds a thread reply under the parent message (e.g. escalation). */
  reply(alert: Alert, text: string): Promise<IoResult<void>>;
  /** Rewrites the parent message as resolved and says so in the thread. */
  resolve(alert: Alert): Promise<IoResult<void>>;
}

function time(ms: number | null): string {
  if (ms === null) return '—';
  const seconds = Math.floor(ms / 1000);
  // Slack renders <!date> in the reader's own time zone; the fallback text is UTC.
  return `<!date^${seconds}^{date_short_pretty} {time}|${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC>`;
}

function amount(value: number, dimension: string): string {
  return dimension === 'cost_usd' ? `$${value.toFixed(2)}` : Math.round(value).toLocaleString('en-US');
}

/** Block Kit for an alert: subject, quota, used / limit, ETA, reset and what to do. */
const SUBJECT_TITLES: Readonly<Record<string, string>> = {
  key: 'Key',
  partition: 'Partition',
  pool: 'Pool quota',
};

export function buildAlertBlocks(alert: Alert, resolved: boolean): KnownBlock[] {
  const f = alert.facts;
  const icon = resolved
    ? ':white_check_mark:'
    : alert.severity === 'critical'
      ? ':red_circle:'
      : ':large_orange_circle:';
  const title = resolved
    ? `Resolved: ${alert.subjectKind} ${alert.subjectId} · ${alert.quotaId}`
    : `${alert.severity === 'critical' ? 'Critical' : 'Warning'}: ${alert.summary}`;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: `${resolved ? '✅' : alert.severity === 'critical' ? '🔴' : '🟠'} ${title}`.slice(0, 150),
      },
    },
    {
      type: 'section',
      fields: [
        { type: 'mrkdwn', text: `*Pool*\n${alert.pool}` },
        {
          type: 'mrkdwn',
          text: `*${SUBJECT_TITLES[alert.subjectKind] ?? 'Key'}*\n\`${alert.subjectId}\``,
        },
        { type: 'mrkdwn', text: `*Quota*\n${alert.quotaId}` },
        {
          type: 'mrkdwn',
          text: `*Used / limit*\n${amount(f.used, f.dimension)} / ${amount(f.limit, f.dimension)} (${f.limit > 0 ? ((f.used / f.limit) * 100).toFixed(1) : '—'} %)`,
        },
        {
          type: 'mrkdwn',
          text: `*Runs out (p50)*\n${time(f.etaP50Ms)}${f.etaP10Ms !== null ? ` (p10 ${time(f.etaP10Ms)})` : ''}`,
        },
        { type: 'mrkdwn', text: `*Resets*\n${time(f.resetAtMs)}` },
      ],
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${icon} ${alert.rule} rule · p(exhaust before reset) ${f.pExhaust.toFixed(2)} · forecast ${f.status}`,
        },
      ],
    },
  ];
  if (!resolved)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*What to do:* ${f.advice}` } });
  return blocks;
}

function classify(error: unknown): IoResult<never> {
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: string }).code ?? '';
  // Transport failures and rate limits (after the client's own retries) are worth another cycle;
  // Slack API errors such as channel_not_found or invalid_auth are not.
  if (code === 'slack_webapi_platform_error') return { kind: 'failure', error: err };
  return { kind: 'retryable', error: err };
}

export interface SlackOptions {
  token: string;
  apiUrl?: string;
  /** Retries inside one call, honouring Retry-After on 429. */
  retries?: number;
  timeoutMillis?: number;
}

export function createSlackChannel(options: SlackOptions): AlertChannel {
  const client = new WebClient(options.token, {
    ...(options.apiUrl === undefined
      ? {}
      : { slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/` }),
    retryConfig: {
      retries: options.retries ?? 3,
      factor: 2,
      minTimeout: 200,
      maxTimeout: 5_000,
      randomize: true,
    },
    timeout: options.timeoutMillis ?? 10_000,
    rejectRateLimitedCalls: false,
  });
  return {
    name: 'slack',
    async post(alert) {
      try {
        const response = await client.chat.postMessage({
          channel: alert.channel,
          text: `${alert.severity === 'critical' ? 'Critical' : 'Warning'}: ${alert.summary}`,
          blocks: buildAlertBlocks(alert, false),
        });
        return { kind: 'success', value: { messageTs: response.ts ?? '' } };
      } catch (error) {
        return classify(error);
      }
    },
    async reply(alert, text) {
      try {
        await client.chat.postMessage({ channel: alert.channel, thread_ts: alert.messageTs, text });
        return { kind: 'success', value: undefined };
      } catch (error) {
        return classify(error);
      }
    },
    async resolve(alert) {
      try {
        await client.chat.update({
          channel: alert.channel,
          ts: alert.messageTs,
          text: `Resolved: ${alert.summary}`,
          blocks: buildAlertBlocks(alert, true),
        });
        await client.chat.postMessage({
          channel: alert.channel,
          thread_ts: alert.messageTs,
          text: `:white_check_mark: Resolved: the condition has cleared (${alert.quotaId} for ${alert.subjectKind} ${alert.subjectId}).`,
        });
        return { kind: 'success', value: undefined };
      } catch (error) {
        return classify(error);
      }
    },
  };
}
