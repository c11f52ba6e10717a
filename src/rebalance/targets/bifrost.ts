import type { PushTargetConfig } from '../../config/index.ts';
import { ErrorCode, HeadroomError, type IoResult } from '../../errors/index.ts';
import { asRecord } from '../../telemetry/index.ts';
import { requestJson } from '../../delivery/index.ts';
import { bearer } from './http.ts';
import { pushEachKey, type PushTarget } from './types.ts';

type BifrostConfig = Extract<PushTargetConfig, { type: 'bifrost' }>;

/**
 * Bifrost: `PUT /api/providers/{provider}/keys/{key_id}` with `weight` and `enabled`. Bifrost's
 * update replaces the key with the body (keeping stored secrets where the body carries the masked
 * preview), so each key is read first with `GET` on the same path and written back whole with only
 * those two fields changed. A key headroom takes out keeps its weight and is disabled.
 */
export function createBifrostTarget(config: BifrostConfig): PushTarget {
  const base = `${config.url.replace(/\/+$/, '')}/api/providers/${encodeURIComponent(config.provider)}/keys`;
  const headers = bearer(config.token);
  const updateKey = async (
    gatewayId: string,
    weight: number,
    signal: AbortSignal,
  ): Promise<IoResult<unknown>> => {
    const url = `${base}/${encodeURIComponent(gatewayId)}`;
    const current = await requestJson(url, { method: 'GET', headers }, config.timeout_ms, { signal });
    if (current.kind !== 'success') return current;
    let stored: Readonly<Record<string, unknown>> | undefined;
    try {
      stored = asRecord(JSON.parse(current.value.text));
    } catch {
      stored = undefined;
    }
    if (stored === undefined) {
      return {
        kind: 'failure',
        error: new HeadroomError(ErrorCode.deliveryRejected, `GET ${url}: expected a key object as JSON`),
      };
    }
    const enabled = weight > 0;
    const body = { ...stored, enabled, ...(enabled ? { weight } : {}) };
    return requestJson(url, { method: 'PUT', headers, body: JSON.stringify(body) }, config.timeout_ms, {
      signal,
    });
  };
  return {
    pool: config.pool,
    name: config.name,
    type: 'bifrost',
    push: (advice, signal) =>
      pushEachKey(
        advice,
        config.keys,
        ({ gatewayId, key }) => updateKey(gatewayId, key.weight, signal),
        ({ gatewayId, key }) =>
          key.weight > 0 ? `${gatewayId} weight ${key.weight}` : `${gatewayId} disabled`,
      ),
  };
}
