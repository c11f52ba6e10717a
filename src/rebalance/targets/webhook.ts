import type { PushTargetConfig } from '../../config/index.ts';
import {
  requestJson,
  signWebhookBody,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from '../../delivery/index.ts';
import { renderAdviceJson } from '../advice-json.ts';
import { renameAdviceKeys, type PushTarget } from './types.ts';

type WebhookConfig = Extract<PushTargetConfig, { type: 'webhook' }>;

/**
 * A signed webhook: the advice document POSTed as JSON, signed as every headroom webhook is (the
 * timestamp and `sha256=` HMAC of `<timestamp>.<body>`, see delivery), with `X-Headroom-Event: advice`.
 */
export function createWebhookTarget(config: WebhookConfig, now: () => number = Date.now): PushTarget {
  return {
    pool: config.pool,
    name: config.name,
    type: 'webhook',
    async push(advice, signal) {
      const body = JSON.stringify(renderAdviceJson(renameAdviceKeys(advice, config.keys)));
      // Signed per attempt: a retry carries a fresh timestamp, so it is not refused as a replay.
      const timestamp = String(Math.floor(now() / 1000));
      const result = await requestJson(
        config.url,
        {
          method: 'POST',
          headers: {
            [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
            [WEBHOOK_SIGNATURE_HEADER]: signWebhookBody(config.secret, timestamp, body),
            'x-headroom-event': 'advice',
          },
          body,
        },
        config.timeout_ms,
        { signal },
      );
      if (result.kind !== 'success') return result;
      return { kind: 'success', value: { summary: `advice version ${advice.version}` } };
    },
  };
}
