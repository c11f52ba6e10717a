import type { Advice } from './index.ts';

/** Advice as gateways read it: `GET /v1/pools/:pool/advice`, the webhook body and the reference gateway's push. */
export interface AdviceJson {
  pool: string;
  version: number;
  generated_at: string;
  valid_until: string;
  keys: Array<{ key_id: string; weight: number; state: string; until?: string; reason: string }>;
  pool_state: Advice['pool_state'];
  dry_at?: string;
  short_by?: { quota_id: string; dimension: string; amount: number; share: number };
  spill?: Array<{ pool: string; share: number; reason: string }>;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The one rendering of advice on the wire, so polling gateways and pushed ones read the same document. */
export function renderAdviceJson(advice: Advice): AdviceJson {
  return {
    pool: advice.pool,
    version: advice.version,
    generated_at: iso(advice.generated_at),
    valid_until: iso(advice.valid_until),
    keys: advice.keys.map((k) => ({
      key_id: k.key_id,
      weight: k.weight,
      state: k.state,
      ...(k.until === undefined ? {} : { until: iso(k.until) }),
      reason: k.reason,
    })),
    pool_state: advice.pool_state,
    ...(advice.dry_at === undefined ? {} : { dry_at: iso(advice.dry_at) }),
    ...(advice.short_by === undefined ? {} : { short_by: { ...advice.short_by } }),
    ...(advice.spill === undefined ? {} : { spill: advice.spill.map((s) => ({ ...s })) }),
  };
}
