import { LogLevel, WebClient, type KnownBlock } from '@slack/web-api';
import type { IoResult } from '../../errors/index.ts';
import type { NotificationIntent, SentAlert } from '../pipeline.ts';
import { pageUrlFor } from '../../view/index.ts';
import type { MessageRef, Notifier } from './notifier.ts';

/** Slack's Block Kit limits (api.slack.com/reference/block-kit). */
export const SLACK_LIMITS = Object.freeze({ blocks: 50, headerChars: 150, sectionChars: 3000 });

function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const seconds = Math.floor(ms / 1000);
  // Slack renders <!date> in the reader's own time zone; the fallback text is UTC.
  return `<!date^${seconds}^{date_short_pretty} {time}|${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC>`;
}

function amount(value: number, dimension: string | undefined): string {
  return dimension === 'cost_usd' ? `$${value.toFixed(2)}` : Math.round(value).toLocaleString('en-US');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The page of an alert's key, partition or pool under `HEADROOM_PUBLIC_URL`, if one is set. */
export function alertPageUrl(a: SentAlert, publicUrl: string | undefined): string | undefined {
  return pageUrlFor(
    { pool: a.labels['pool'] ?? '', kind: a.labels['subject_kind'] ?? '', id: a.labels['subject'] ?? '' },
    publicUrl,
  );
}

/** One alert as mrkdwn: what, used / limit, when it runs out and resets, what to do, its page. */
function alertText(a: SentAlert, resolved: boolean, publicUrl: string | undefined): string {
  const f = a.facts;
  const icon = resolved
    ? ':white_check_mark:'
    : a.severity === 'critical'
      ? ':red_circle:'
      : ':large_orange_circle:';
  const lines = [`${icon} *${a.summary}*`];
  const facts: string[] = [];
  if (f.used !== undefined && f.limit !== undefined)
    facts.push(
      `*Used / limit* ${amount(f.used, f.dimension)} / ${amount(f.limit, f.dimension)}${f.limit > 0 ? ` (${((f.used / f.limit) * 100).toFixed(1)} %)` : ''}`,
    );
  if (f.etaP50Ms !== undefined && f.etaP50Ms !== null)
    facts.push(
      `*Runs out* ${time(f.etaP50Ms)}${f.etaP10Ms !== undefined && f.etaP10Ms !== null ? ` (p10 ${time(f.etaP10Ms)})` : ''}`,
    );
  if (f.resetAtMs !== undefined) facts.push(`*Resets* ${time(f.resetAtMs)}`);
  if (f.pExhaust !== undefined) facts.push(`p(exhaust) ${f.pExhaust.toFixed(2)}`);
  if (facts.length > 0) lines.push(facts.join(' · '));
  lines.push(
    `\`${a.labels['subject'] ?? ''}\` · ${a.rule} rule${a.labels['quota'] ? ` · ${a.labels['quota']}` : ''}`,
  );
  if (!resolved) lines.push(`*What to do:* ${f.advice}`);
  const url = alertPageUrl(a, publicUrl);
  if (url !== undefined) lines.push(`<${url}|Open in headroom>`);
  return clip(lines.join('\n'), SLACK_LIMITS.sectionChars);
}

function titleOf(intent: NotificationIntent, resolved: boolean): string {
  const pool = intent.groupLabels['pool'];
  const rule = intent.groupLabels['rule'];
  const scope = [rule, pool === undefined ? undefined : `pool ${pool}`]
    .filter((x) => x !== undefined)
    .join(' · ');
  const [only] = intent.alerts;
  if (resolved) return `Resolved: ${scope !== '' ? scope : intent.groupKey}`;
  const critical = intent.alerts.some((a) => a.severity === 'critical');
  const lead = critical ? 'Critical' : 'Warning';
  if (intent.alerts.length === 1 && only !== undefined) return `${lead}: ${only.summary}`;
  return `${lead}: ${intent.alerts.length} alerts · ${scope}`;
}

/**
 * The group's parent message: a header, one section per alert, a context line. Within Slack's
 * limits (at most 50 blocks; a header of 150 characters; sections of 3000), with fresh `block_id`s
 * at every edit (`seq`), since Slack clients keep state per block_id.
 */
export function buildGroupBlocks(
  intent: NotificationIntent,
  resolved: boolean,
  publicUrl?: string,
): KnownBlock[] {
  const id = (name: string): string => `${name}-${intent.seq}`;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      block_id: id('header'),
      text: {
        type: 'plain_text',
        text: clip(
          `${resolved ? '✅' : intent.alerts.some((a) => a.severity === 'critical') ? '🔴' : '🟠'} ${titleOf(intent, resolved)}`,
          SLACK_LIMITS.headerChars,
        ),
      },
    },
  ];
  // Header, context and the "and N more" line leave the rest for alerts.
  const room = SLACK_LIMITS.blocks - 3;
  const shown = intent.alerts.slice(0, room);
  shown.forEach((a, i) =>
    blocks.push({
      type: 'section',
      block_id: id(`alert-${i}`),
      text: { type: 'mrkdwn', text: alertText(a, resolved, publicUrl) },
    }),
  );
  if (intent.alerts.length > shown.length)
    blocks.push({
      type: 'section',
      block_id: id('more'),
      text: {
        type: 'mrkdwn',
        text: `…and ${intent.alerts.length - shown.length} more alerts in this group (see /v1/alerts).`,
      },
    });
  blocks.push({
    type: 'context',
    block_id: id('context'),
    elements: [
      {
        type: 'mrkdwn',
        text: clip(
          `${resolved ? 'resolved' : 'firing'} · group ${Object.entries(intent.groupLabels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')} · update ${intent.seq} · ${time(intent.decidedAtMs)}`,
          SLACK_LIMITS.sectionChars,
        ),
      },
    ],
  });
  return blocks;
}

/** The thread reply that says what changed since the previous message of the group. */
export function describeChanges(intent: NotificationIntent): string {
  const c = intent.changes;
  const lines: string[] = [];
  for (const a of c.escalated) lines.push(`:red_circle: Escalated to critical: ${a.summary}`);
  for (const a of c.added) lines.push(`:large_orange_circle: New: ${a.summary}`);
  for (const a of c.revised) lines.push(`:arrows_counterclockwise: Revised: ${a.summary}`);
  for (const a of c.resolved) lines.push(`:white_check_mark: Resolved: ${a.summary}`);
  if (intent.kind === 'repeat')
    lines.push(
      `:repeat: Still firing: ${intent.alerts.length} alert${intent.alerts.length === 1 ? '' : 's'} in this group.`,
    );
  if (intent.kind === 'resolved')
    lines.unshift(':white_check_mark: Resolved: every alert of this group has cleared.');
  return clip(lines.join('\n'), 3900);
}

/** Slack errors that another attempt cannot fix: the operator must (token, channel, invitation). */
const PERMANENT = new Set([
  'channel_not_found',
  'not_in_channel',
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'is_archived',
  'missing_scope',
  'msg_too_long',
  'invalid_blocks',
  'message_not_found',
  'cant_update_message',
]);

function classify(method: string, error: unknown): IoResult<never> {
  const err = error instanceof Error ? error : new Error(String(error));
  const e = err as { code?: string; retryAfter?: number; data?: { error?: string }; statusCode?: number };
  if (e.code === 'slack_webapi_rate_limited_error')
    return {
      kind: 'retryable',
      error: new Error(`slack ${method}: ratelimited`, { cause: err }),
      retryAfterMillis: (e.retryAfter ?? 1) * 1000,
    };
  if (e.code === 'slack_webapi_platform_error') {
    const code = e.data?.error ?? 'unknown_error';
    const wrapped = Object.assign(new Error(`slack ${method}: ${code}`, { cause: err }), {
      slackError: code,
    });
    // ratelimited can also arrive as a 200 body; internal errors are Slack's and pass.
    if (code === 'ratelimited') return { kind: 'retryable', error: wrapped, retryAfterMillis: 1000 };
    if (PERMANENT.has(code)) return { kind: 'failure', error: wrapped };
    if (['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout'].includes(code))
      return { kind: 'retryable', error: wrapped };
    return { kind: 'failure', error: wrapped };
  }
  if (e.code === 'slack_webapi_http_error' && e.statusCode !== undefined && e.statusCode < 500)
    return { kind: 'failure', error: new Error(`slack ${method}: HTTP ${e.statusCode}`, { cause: err }) };
  return { kind: 'retryable', error: new Error(`slack ${method}: ${err.message}`, { cause: err }) };
}

export interface SlackNotifierOptions {
  id: string;
  token: string;
  apiUrl?: string;
  /** The channel of a group: from the receiver, else the pool's, else the default. */
  channelFor: (groupLabels: Readonly<Record<string, string>>) => string;
  timeoutMillis: number;
  /** `HEADROOM_PUBLIC_URL`: each alert links to the page of its key, partition or pool. */
  publicUrl?: string;
}

/**
 * Slack as Alertmanager cannot: one parent message per group, edited in place as the group changes,
 * what changed (escalations, new alerts, forecast revisions, resolutions) as thread replies, and
 * resolved by `chat.update` plus a reply. No retries of its own: 429 and transport errors come back
 * `retryable` (with Retry-After) for the delivery wrapper.
 */
export function createSlackNotifier(options: SlackNotifierOptions): Notifier {
  const client = new WebClient(options.token, {
    ...(options.apiUrl === undefined
      ? {}
      : { slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/` }),
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: options.timeoutMillis,
    logLevel: LogLevel.ERROR,
  });

  async function call<T>(method: string, run: () => Promise<T>): Promise<IoResult<T>> {
    try {
      return { kind: 'success', value: await run() };
    } catch (error) {
      return classify(method, error);
    }
  }

  return {
    id: options.id,
    type: 'slack',
    description: `slack ${options.channelFor({})}`.trim(),
    async send(intent): Promise<IoResult<MessageRef>> {
      const previous = intent.previous;
      const ref = previous?.status === 'firing' ? previous.messageRef : undefined;
      const resolved = intent.kind === 'resolved';
      const text = titleOf(intent, resolved);
      if (ref === undefined || ref['ts'] === undefined || ref['channel'] === undefined) {
        if (resolved) return { kind: 'success', value: {} };
        const channel = options.channelFor(intent.groupLabels);
        const posted = await call('chat.postMessage', () =>
          client.chat.postMessage({
            channel,
            text,
            blocks: buildGroupBlocks(intent, false, options.publicUrl),
          }),
        );
        if (posted.kind !== 'success') return posted;
        return {
          kind: 'success',
          value: { channel: posted.value.channel ?? channel, ts: posted.value.ts ?? '' },
        };
      }
      const { channel, ts } = ref as { channel: string; ts: string };
      if (intent.kind !== 'repeat') {
        const updated = await call('chat.update', () =>
          client.chat.update({
            channel,
            ts,
            text,
            blocks: buildGroupBlocks(intent, resolved, options.publicUrl),
          }),
        );
        if (updated.kind !== 'success') return updated;
      }
      const reply = describeChanges(intent);
      if (reply !== '') {
        const replied = await call('chat.postMessage', () =>
          client.chat.postMessage({
            channel,
            thread_ts: ts,
            text: reply,
            // A repeat or an escalation is news for the channel, not only for the thread.
            reply_broadcast: intent.kind === 'repeat' || intent.changes.escalated.length > 0,
          }),
        );
        if (replied.kind !== 'success') return replied;
      }
      return { kind: 'success', value: { channel, ts } };
    },
  };
}
