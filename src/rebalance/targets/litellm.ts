import type { PushTargetConfig } from '../../config/index.ts';
import { bearer, eachUntilFailure, requestGateway } from './http.ts';
import { mappedKeys, type PushTarget } from './types.ts';

type LitellmConfig = Extract<PushTargetConfig, { type: 'litellm' }>;

/**
 * LiteLLM proxy: `PATCH /model/{model_id}/update` with `litellm_params.weight` for every mapped
 * deployment (the router's simple-shuffle picks deployments in proportion to it; 0 takes one out).
 * LiteLLM applies the update only to models stored in its database (`store_model_in_db`), not to
 * those from its config file.
 */
export function createLitellmTarget(config: LitellmConfig): PushTarget {
  const base = config.url.replace(/\/+$/, '');
  return {
    pool: config.pool,
    name: config.name,
    type: 'litellm',
    async push(advice, signal) {
      const mapped = mappedKeys(advice, config.keys);
      const result = await eachUntilFailure(mapped, ({ gatewayId, key }) =>
        requestGateway(
          `${base}/model/${encodeURIComponent(gatewayId)}/update`,
          {
            method: 'PATCH',
            headers: bearer(config.token),
            body: JSON.stringify({ litellm_params: { weight: key.weight } }),
          },
          config.timeout_ms,
          signal,
        ),
      );
      if (result.kind !== 'success') return result;
      return {
        kind: 'success',
        value: { summary: mapped.map((m) => `${m.gatewayId} weight ${m.key.weight}`).join(', ') },
      };
    },
  };
}
