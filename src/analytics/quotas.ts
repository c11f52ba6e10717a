import type { HeadroomFile, PoolSpec, QuotaSpec } from '../config/index.ts';
import type { QuotaDimension, QuotaWindow } from '../forecast/index.ts';
import type { ProviderLimitRow } from '../store/index.ts';

/** A key seen in spans, with its latest partition and provider. */
export interface KnownKey {
  pool: string;
  key_id: string;
  partition: string;
  provider: string;
}

/** One quota of one subject, with where its limit came from. */
export interface QuotaDef {
  id: string;
  dimension: QuotaDimension;
  window: QuotaWindow;
  limit: number;
  timeZone: string;
  source: 'config' | 'provider';
  /**
   * Provider-reported buckets: the latest headers are ground truth. `refilled`: the reported reset
   * has passed since, so the bucket is taken as full again, with its next reset one window later.
   */
  reported?: {
    remaining: number;
    resetAtMs: number;
    observedAtMs: number;
    windowSeconds: number;
    refilled: boolean;
  };
}

export type SubjectKind = 'key' | 'partition' | 'pool';

/** Something quotas apply to: a key, or a partition whose quotas several keys share. */
export interface Subject {
  pool: string;
  kind: SubjectKind;
  id: string;
  /** The keys whose usage counts against this subject. */
  keyIds: string[];
  partition: string;
  provider: string;
  quotas: QuotaDef[];
  slackChannel: string | undefined;
}

function parseWindow(spec: QuotaSpec): QuotaWindow {
  if (spec.window === 'day' || spec.window === 'month') {
    return {
      kind: 'calendar',
      unit: spec.window,
      timeZone: spec.time_zone,
      ...(spec.anchor_day === undefined ? {} : { anchorDay: spec.anchor_day }),
      ...(spec.anchor_hour === undefined ? {} : { anchorHour: spec.anchor_hour }),
    };
  }
  const amount = Number(spec.window.slice(0, -1));
  const unit = spec.window.slice(-1);
  return { kind: 'rolling', seconds: amount * (unit === 'h' ? 3600 : unit === 'm' ? 60 : 1) };
}

export function configuredQuota(spec: QuotaSpec): QuotaDef {
  return {
    id: spec.id ?? `${spec.dimension}_per_${spec.window}`,
    dimension: spec.dimension,
    window: parseWindow(spec),
    limit: spec.limit,
    timeZone: spec.time_zone,
    source: 'config',
  };
}

// Providers report when a bucket refills but not how long its window is. The shortest of a minute,
// an hour or a day that contains the reported reset is taken as the window, which is what the major
// providers use (per-minute RPM/TPM, Groq and Gemini per-day quotas).
function reportedWindowSeconds(resetInMs: number): number {
  if (resetInMs <= 60_000) return 60;
  if (resetInMs <= 3_600_000) return 3_600;
  return 86_400;
}

/**
 * A provider bucket as of `nowMs`. Once its reported reset has passed the provider has refilled it:
 * until new headers say otherwise it is full (remaining = limit) and resets one window after the
 * last reset that passed, so forecasts and advice keep seeing the key's limit.
 */
export function reportedBucket(
  bucket: { limit: number; remaining: number; resetAtMs: number },
  observedAtMs: number,
  nowMs: number,
): NonNullable<QuotaDef['reported']> {
  const windowSeconds = reportedWindowSeconds(bucket.resetAtMs - observedAtMs);
  if (bucket.resetAtMs > nowMs) {
    return {
      remaining: Math.min(bucket.remaining, bucket.limit),
      resetAtMs: bucket.resetAtMs,
      observedAtMs,
      windowSeconds,
      refilled: false,
    };
  }
  const windowMs = windowSeconds * 1000;
  const windowsPassed = Math.floor((nowMs - bucket.resetAtMs) / windowMs) + 1;
  return {
    remaining: bucket.limit,
    resetAtMs: bucket.resetAtMs + windowsPassed * windowMs,
    observedAtMs,
    windowSeconds,
    refilled: true,
  };
}

/**
 * Every subject to forecast: configured keys, partitions and pools, plus keys discovered in spans,
 * each with its configured quotas and the provider-reported buckets seen in headers (learned
 * automatically).
 */
export function buildSubjects(
  file: HeadroomFile,
  knownKeys: readonly KnownKey[],
  providerLimits: readonly ProviderLimitRow[],
  nowMs: number,
): Subject[] {
  const subjects = new Map<string, Subject>();
  const pools = new Map(file.pools.map((p) => [p.name, p]));

  const keySubject = (pool: string, keyId: string): Subject => {
    const id = `${pool}\u0000key\u0000${keyId}`;
    let subject = subjects.get(id);
    if (subject === undefined) {
      const spec = pools.get(pool);
      const configured = spec?.keys.find((k) => k.id === keyId);
      const quotaSpecs =
        configured !== undefined && configured.quotas.length > 0
          ? configured.quotas
          : (spec?.key_quotas ?? []);
      subject = {
        pool,
        kind: 'key',
        id: keyId,
        keyIds: [keyId],
        partition: configured?.partition ?? keyId,
        provider: configured?.provider ?? '',
        quotas: quotaSpecs.map(configuredQuota),
        slackChannel: spec?.slack_channel ?? file.alerts.slack_channel,
      };
      subjects.set(id, subject);
    }
    return subject;
  };

  for (const pool of file.pools) for (const key of pool.keys) keySubject(pool.name, key.id);
  for (const known of knownKeys) {
    const subject = keySubject(known.pool, known.key_id);
    // Configuration wins; spans fill what it leaves open.
    const configured = pools.get(known.pool)?.keys.find((k) => k.id === known.key_id);
    if (configured?.partition === undefined && known.partition !== '') subject.partition = known.partition;
    if (subject.provider === '') subject.provider = known.provider;
  }

  for (const limit of providerLimits) {
    if (limit.limit === null || limit.limit <= 0 || limit.remaining === null || limit.reset_at_ms === null)
      continue;
    const subject = keySubject(limit.pool, limit.key_id);
    subject.quotas.push({
      id: `provider_${limit.dimension}`,
      dimension: limit.dimension as QuotaDimension,
      window: { kind: 'provider' },
      limit: limit.limit,
      timeZone: 'UTC',
      source: 'provider',
      reported: reportedBucket(
        { limit: limit.limit, remaining: limit.remaining, resetAtMs: limit.reset_at_ms },
        limit.observed_at_ms,
        nowMs,
      ),
    });
  }

  // Partitions and pools: quotas shared by several keys, counting the usage of each of them.
  const keysOf = (pool: string, inPartition?: string): string[] =>
    [...subjects.values()]
      .filter(
        (s) =>
          s.pool === pool && s.kind === 'key' && (inPartition === undefined || s.partition === inPartition),
      )
      .map((s) => s.id);
  const addShared = (pool: PoolSpec, kind: SubjectKind, id: string, specs: readonly QuotaSpec[]): void => {
    if (specs.length === 0) return;
    subjects.set(`${pool.name}\u0000${kind}\u0000${id}`, {
      pool: pool.name,
      kind,
      id,
      keyIds: keysOf(pool.name, kind === 'partition' ? id : undefined),
      partition: kind === 'partition' ? id : '',
      provider: '',
      quotas: specs.map(configuredQuota),
      slackChannel: pool.slack_channel ?? file.alerts.slack_channel,
    });
  };
  for (const pool of file.pools) {
    for (const partition of pool.partitions) addShared(pool, 'partition', partition.id, partition.quotas);
    addShared(pool, 'pool', pool.name, pool.quotas);
  }
  return [...subjects.values()];
}
