import { z } from 'zod';

/**
 * The view model's shapes, once: the TypeScript types are inferred from them, the HTTP layer declares
 * them as response schemas, and route tests check responses against them.
 */

const instant = z.string().nullable();

export const QuotaViewSchema = z.object({
  quota_id: z.string(),
  dimension: z.string(),
  /** `day`, `month`, `<n>s` (rolling) or `provider`. */
  window: z.string(),
  source: z.string(),
  /** A provider bucket whose reported reset has passed: full again until new headers say otherwise. */
  refilled: z.boolean(),
  used: z.number(),
  limit: z.number(),
  remaining: z.number(),
  window_start: instant,
  reset_at: instant,
  eta_p10: instant,
  eta_p50: instant,
  eta_p90: instant,
  p_exhaust: z.number(),
  pace_eta: instant,
  status: z.string(),
  method: z.string(),
});

export const KeyViewSchema = z.object({
  pool: z.string(),
  key_id: z.string(),
  partition: z.string(),
  provider: z.string(),
  weight: z.number().nullable(),
  state: z.string().nullable(),
  quotas: z.array(QuotaViewSchema),
});

export const PartitionViewSchema = z.object({
  partition: z.string(),
  keys: z.array(z.string()),
  quotas: z.array(QuotaViewSchema),
});

export const CapacityViewSchema = z.object({
  quota_id: z.string(),
  dimension: z.string(),
  keys: z.number(),
  demand_per_second: z.number(),
  runs_dry: z.boolean(),
  runs_dry_at: instant,
  lead_time_seconds: z.number().nullable(),
  method: z.string(),
  capacity_before_earliest_reset: z.number(),
  shortfall: z.number().nullable(),
});

/** A gateway headroom pushes the pool's advice to, with its last finished push. */
export const PushViewSchema = z.object({
  target: z.string(),
  type: z.string(),
  in_flight: z.boolean(),
  last: z
    .object({
      at: instant,
      advice_version: z.number(),
      trigger: z.string(),
      outcome: z.string(),
      error: z.string().nullable(),
      attempts: z.number(),
      duration_ms: z.number(),
    })
    .nullable(),
});

export const PoolViewSchema = z.object({
  pool: z.string(),
  keys: z.number(),
  active_alerts: z.number(),
  advice_version: z.number().nullable(),
  push: z.array(PushViewSchema),
  pool_state: z.enum(['ok', 'runs_dry']),
  dry_at: instant,
  capacity: z.array(CapacityViewSchema),
  quotas: z.array(QuotaViewSchema),
  partitions: z.array(PartitionViewSchema),
});

export const PoolsViewSchema = z.object({ evaluated_at: instant, pools: z.array(PoolViewSchema) });

export const KeysViewSchema = z.object({ evaluated_at: instant, keys: z.array(KeyViewSchema) });

/** What an alert is about; an active alert and an event of the history both say it. */
const AlertSubjectSchema = z.object({
  alert_id: z.string(),
  rule: z.string(),
  severity: z.string(),
  state: z.string(),
  pool: z.string(),
  subject_kind: z.string(),
  subject_id: z.string(),
  quota_id: z.string(),
  summary: z.string(),
});

export const AlertViewSchema = AlertSubjectSchema.extend({
  labels: z.record(z.string(), z.string()),
  started_at: instant,
  fired_at: instant,
  silenced: z.boolean(),
  silenced_by: z.array(z.string()),
  inhibited: z.boolean(),
  inhibited_by: z.array(z.string()),
  delivered: z.boolean(),
  used: z.number().nullable(),
  limit: z.number().nullable(),
  eta_p50: instant,
  reset_at: instant,
});

export const AlertEventViewSchema = AlertSubjectSchema.extend({ at: instant });

export const AlertsViewSchema = z.object({
  active: z.array(AlertViewSchema),
  history: z.array(AlertEventViewSchema),
});

export const AdviceViewSchema = z.object({
  pool: z.string(),
  version: z.number(),
  generated_at: instant,
  valid_until: instant,
  keys: z.array(
    z.object({
      key_id: z.string(),
      weight: z.number(),
      state: z.string(),
      until: instant.optional(),
      reason: z.string(),
    }),
  ),
  /** Shares of the pool's traffic to send to fallback pools (`fallback_pools`) while it cannot carry it. */
  spill: z.array(z.object({ pool: z.string(), share: z.number(), reason: z.string() })).optional(),
  pool_state: z.enum(['ok', 'runs_dry']),
  dry_at: instant.optional(),
  short_by: z
    .object({ quota_id: z.string(), dimension: z.string(), amount: z.number(), share: z.number() })
    .optional(),
});

export type QuotaView = z.infer<typeof QuotaViewSchema>;
export type PushView = z.infer<typeof PushViewSchema>;
export type KeyView = z.infer<typeof KeyViewSchema>;
export type PartitionView = z.infer<typeof PartitionViewSchema>;
export type CapacityView = z.infer<typeof CapacityViewSchema>;
export type PoolView = z.infer<typeof PoolViewSchema>;
export type PoolsView = z.infer<typeof PoolsViewSchema>;
export type KeysView = z.infer<typeof KeysViewSchema>;
export type AlertView = z.infer<typeof AlertViewSchema>;
export type AlertEventView = z.infer<typeof AlertEventViewSchema>;
export type AlertsView = z.infer<typeof AlertsViewSchema>;
export type AdviceView = z.infer<typeof AdviceViewSchema>;
