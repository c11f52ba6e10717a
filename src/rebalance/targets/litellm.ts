import type { PushTargetConfig } from '../../config/index.ts';
import { requestJson } from '../../delivery/index.ts';
import { bearer } from './http.ts';
import { pushEachKey, type PushTarget } from './types.ts';

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
    push: (advice, signal) =>
      pushEachKey(
        advice,
        config.keys,
        ({ gatewayId, key }) =>
          requestJson(
            `${base}/model/${encodeURIComponent(gatewayId)}/update`,
            {
              method: 'PATCH',
              headers: bearer(config.token),
              body: JSON.stringify({ litellm_params: { weight: key.weight } }),
            },
            config.timeout_ms,
            { signal },
          ),
        ({ gatewayId, key }) => `${gatewayId} weight ${key.weight}`,
      ),
  };
}
