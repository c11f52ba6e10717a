import { loadConfig, parseHeadroomFile } from '../../src/config/index.ts';
import { createPushTarget, type Advice, type PushTarget } from '../../src/rebalance/index.ts';

/** A push target of pool `azure` built from its YAML the way `headroom serve` builds it. */
export function pushTargetFrom(yaml: string, env: Record<string, string> = {}): PushTarget {
  const file = parseHeadroomFile(`pools: [{ name: azure, push: [${yaml}] }]`, 'headroom.yaml');
  const [config] = loadConfig({ env, overrides: { file } }).pushTargets;
  if (config === undefined) throw new Error('the YAML declares no push target');
  return createPushTarget(config);
}

/** Advice for pool `azure`: key-a and key-b in use with these weights, key-c exhausted until `untilMs`. */
export function threeKeyAdvice(options: {
  nowMs: number;
  version: number;
  weights: [number, number];
  untilMs: number;
  reasons?: [string, string, string];
}): Advice {
  const [a, b, c] = options.reasons ?? ['r', 'r', 'r'];
  return {
    pool: 'azure',
    version: options.version,
    generated_at: options.nowMs,
    valid_until: options.nowMs + 90_000,
    pool_state: 'ok',
    keys: [
      { key_id: 'key-a', weight: options.weights[0], state: 'active', reason: a },
      { key_id: 'key-b', weight: options.weights[1], state: 'active', reason: b },
      { key_id: 'key-c', weight: 0, state: 'exhausted', until: options.untilMs, reason: c },
    ],
  };
}
