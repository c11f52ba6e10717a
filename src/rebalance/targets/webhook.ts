import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PushTargetConfig } from '../../config/index.ts';
import { renderAdviceJson } from '../advice-json.ts';
import { requestGateway } from './http.ts';
import { renameAdviceKeys, type PushTarget } from './types.ts';

type WebhookConfig = Extract<PushTargetConfig, { type: 'webhook' }>;

export const WEBHOOK_SIGNATURE_HEADER = 'x-headroom-signature';
/** How old a signed request a receiver should still accept; older ones are replays. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed with the body. */
export function signWebhookBody(secret: string, body: string, timestampSeconds: number): string {
  const digest = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}

/**
 * What a receiver does with {@link WEBHOOK_SIGNATURE_HEADER}: recompute the HMAC over the raw body,
 * compare in constant time, and refuse a timestamp more than `toleranceSeconds` away from its clock.
 */
export function verifyWebhookSignature(
  secret: string,
  body: string,
  header: string | undefined,
  nowSeconds: number,
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
): boolean {
  if (header === undefined) return false;
  const parts = new Map(
    header.split(',').map((part) => {
      const eq = part.indexOf('=');
      return [part.slice(0, eq).trim(), part.slice(eq + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = signWebhookBody(secret, body, t).split('v1=')[1] ?? '';
  return (
    given.length === expected.length &&
    timingSafeEqual(Buffer.from(given, 'utf8'), Buffer.from(expected, 'utf8'))
  );
}

/** A signed webhook: the advice document POSTed as JSON with {@link WEBHOOK_SIGNATURE_HEADER}. */
export function createWebhookTarget(config: WebhookConfig, now: () => number = Date.now): PushTarget {
  return {
    pool: config.pool,
    name: config.name,
    type: 'webhook',
    async push(advice, signal) {
      const body = JSON.stringify(renderAdviceJson(renameAdviceKeys(advice, config.keys)));
      // Signed per attempt: a retry carries a fresh timestamp, so it is not refused as a replay.
      const signature = signWebhookBody(config.secret, body, Math.floor(now() / 1000));
      const result = await requestGateway(
        config.url,
        {
          method: 'POST',
          headers: { [WEBHOOK_SIGNATURE_HEADER]: signature, 'x-headroom-event': 'advice' },
          body,
        },
        config.timeout_ms,
        signal,
      );
      if (result.kind !== 'success') return result;
      return { kind: 'success', value: { summary: `advice version ${advice.version}` } };
    },
  };
}
