import type { PushTargetConfig } from '../../config/index.ts';
import { renderAdviceJson } from '../advice-json.ts';
import { requestJson } from '../../delivery/index.ts';
import { bearer } from './http.ts';
import { renameAdviceKeys, type PushTarget } from './types.ts';

type GatewayConfig = Extract<PushTargetConfig, { type: 'gateway' }>;

/**
 * headroom's reference gateway: `PUT /admin/pools/{pool}/weights` with the advice document itself
 * (the one `GET /v1/pools/:pool/advice` serves), bearer admin token.
 */
export function createGatewayTarget(config: GatewayConfig): PushTarget {
  const base = config.url.replace(/\/+$/, '');
  return {
    pool: config.pool,
    name: config.name,
    type: 'gateway',
    async push(advice, signal) {
      const document = renderAdviceJson(renameAdviceKeys(advice, config.keys));
      const result = await requestJson(
        `${base}/admin/pools/${encodeURIComponent(advice.pool)}/weights`,
        { method: 'PUT', headers: bearer(config.token), body: JSON.stringify(document) },
        config.timeout_ms,
        { signal },
      );
      if (result.kind !== 'success') return result;
      return { kind: 'success', value: { summary: `advice version ${advice.version}` } };
    },
  };
}
