/**
 * Gateways headroom pushes advice to: one small module per gateway, all behind one map. Adding a
 * gateway means a module implementing {@link PushTarget}, an entry here and its schema in config.
 */
import type { PushTargetConfig, PushTargetType } from '../../config/index.ts';
import { createBifrostTarget } from './bifrost.ts';
import { createGatewayTarget } from './gateway.ts';
import { createHaproxyTarget } from './haproxy.ts';
import { createLitellmTarget } from './litellm.ts';
import type { PushTarget } from './types.ts';
import { createWebhookTarget } from './webhook.ts';

type Factories = {
  [T in PushTargetType]: (config: Extract<PushTargetConfig, { type: T }>) => PushTarget;
};

export const PUSH_TARGET_FACTORIES: Readonly<Factories> = Object.freeze({
  haproxy: createHaproxyTarget,
  litellm: createLitellmTarget,
  bifrost: createBifrostTarget,
  gateway: createGatewayTarget,
  webhook: (config) => createWebhookTarget(config),
});

export function createPushTarget(config: PushTargetConfig): PushTarget {
  const factory = PUSH_TARGET_FACTORIES[config.type] as (c: PushTargetConfig) => PushTarget;
  return factory(config);
}

export type { PushApplied, PushTarget } from './types.ts';
export {
  haproxyCommands,
  scaleHaproxyWeights,
  sendRuntimeCommand,
  queryRuntimeApi,
  HAPROXY_MAX_WEIGHT,
} from './haproxy.ts';
