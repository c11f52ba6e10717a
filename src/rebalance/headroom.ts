import type { QuotaDimension } from '../forecast/index.ts';

/**
 * Windows up to this long are buckets that refill within minutes (RPM / TPM, provider token buckets):
 * what a key can sustain on them is their rate, limit per window, not what happens to be left now.
 */
export const RATE_WINDOW_MAX_MS = 10 * 60_000;

/** One quota as the headroom maths sees it: the forecast's state of the quota right now. */
export interface QuotaState {
  quotaId: string;
  dimension: QuotaDimension;
  /** Length of the quota's window, ms (60_000 for a per-minute bucket). */
  windowMs: number;
  limit: number;
  /** Left in the current window; provider-reported buckets count everyone's usage, not only ours. */
  remaining: number;
  resetAtMs: number;
  /** The forecast says the quota is spent (or the provider said so). */
  exhausted: boolean;
  /** Units of `dimension` one request uses (1 for requests); 0 while no usage has been seen. */
  unitsPerRequest: number;
}

/** A quota of a partition that several keys, other pools and outside consumers draw on. */
export interface SharedQuotaState extends QuotaState {
  /**
   * Usage forecast for everyone else drawing on the partition (other pools, keys headroom does not
   * route): their rate now, per ms, and their expected usage from now until the reset.
   */
  others: { ratePerMs: number; untilReset: number };
}

export interface KeyHeadroomInput {
  keyId: string;
  /** The key's own quotas (not shared with other keys). */
  quotas: readonly QuotaState[];
  /** The partition whose shared quotas the key draws on, when it shares one. */
  partition?: string;
  /** Latest throttling answers: cooling down (retry-after) or quota exhausted, until the given time. */
  coolingDownUntilMs?: number;
  quotaExhaustedUntilMs?: number;
  /** Latest `auth_error` answer (revoked or expired key). */
  authErrorAtMs?: number;
}

/**
 * A key that answered `auth_error` stays out this long, then gets traffic again: a key whose secret
 * was rotated in the gateway comes back by itself, one still revoked answers 401 and leaves again.
 */
export const AUTH_ERROR_HOLD_MS = 10 * 60_000;

export interface PartitionHeadroomInput {
  partition: string;
  quotas: readonly SharedQuotaState[];
}

/** What the maths concludes about one key of a pool; the input of the advice. */
export interface KeyHeadroom {
  keyId: string;
  /**
   * Requests per second the key can sustain until its binding quota resets. Undefined when no quota of
   * the key is known (the advice then gives it the median weight).
   */
  sustainableRatePerSecond: number | undefined;
  /** Exhausted (a quota at its limit, or quota_exhausted answers) until this time. */
  exhaustedUntilMs?: number;
  /** Cooling down (rate limited with a retry-after, or a per-minute bucket at zero) until this time. */
  coolingDownUntilMs?: number;
  /** Why, for humans: the quota that decides. */
  reason: string;
}

/** What one quota allows, per second, in requests; or why it allows nothing until a time. */
type Allowance =
  | { kind: 'rate'; perSecond: number; reason: string }
  | { kind: 'blocked'; state: 'exhausted' | 'cooling_down'; untilMs: number; reason: string }
  | { kind: 'unknown' };

/**
 * What a continuously refilling bucket (limit per window) holds at `nowMs`, from what it held when
 * last reported: providers report a bucket only when a call goes through it, and an idle bucket
 * refills.
 */
export function projectBucketRemaining(
  bucket: { limit: number; remaining: number; windowMs: number },
  observedAtMs: number,
  nowMs: number,
): number {
  if (!(bucket.windowMs > 0)) return bucket.remaining;
  const refill = (Math.max(0, nowMs - observedAtMs) * bucket.limit) / bucket.windowMs;
  return Math.min(bucket.limit, bucket.remaining + refill);
}

function isRateWindow(q: QuotaState): boolean {
  return q.windowMs > 0 && q.windowMs <= RATE_WINDOW_MAX_MS;
}

function format(n: number): string {
  return n >= 100 ? String(Math.round(n)) : String(Math.round(n * 100) / 100);
}

/**
 * What `q` allows the pool per second. A rate bucket allows its refill rate, limit per window, less
 * what everyone else takes from it; a window that resets later allows what is left, less everyone
 * else's forecast usage until the reset, spread over the time to the reset.
 */
function allowanceOf(
  q: QuotaState,
  others: SharedQuotaState['others'] | undefined,
  nowMs: number,
): Allowance {
  const rate = isRateWindow(q);
  if (q.exhausted || q.remaining <= 0) {
    // A bucket that refills within minutes is a pause, not an exhaustion.
    return rate
      ? {
          kind: 'blocked',
          state: 'cooling_down',
          untilMs: q.resetAtMs,
          reason: `${q.quotaId} at zero until it refills`,
        }
      : {
          kind: 'blocked',
          state: 'exhausted',
          untilMs: q.resetAtMs,
          reason: `${q.quotaId} exhausted until reset`,
        };
  }
  if (!(q.unitsPerRequest > 0)) return { kind: 'unknown' };
  const secondsToReset = Math.max(1, (q.resetAtMs - nowMs) / 1000);
  if (rate) {
    const ownRatePerMs = Math.max(0, q.limit / q.windowMs - (others?.ratePerMs ?? 0));
    const perSecond = (ownRatePerMs * 1000) / q.unitsPerRequest;
    const otherText = others === undefined ? '' : ` after others' ${format(others.ratePerMs * q.windowMs)}`;
    return {
      kind: 'rate',
      perSecond,
      reason: `${q.quotaId}: ${format(q.limit)} per ${format(q.windowMs / 1000)} s${otherText}`,
    };
  }
  const left = Math.max(0, q.remaining - (others?.untilReset ?? 0));
  const otherText = others === undefined ? '' : ` after others' forecast ${format(others.untilReset)}`;
  return {
    kind: 'rate',
    perSecond: left / q.unitsPerRequest / secondsToReset,
    reason: `${q.quotaId}: ${format(left)} left${otherText} until ${new Date(q.resetAtMs).toISOString()}`,
  };
}

interface Tightest {
  perSecond: number | undefined;
  reason: string | undefined;
  blocked: { state: 'exhausted' | 'cooling_down'; untilMs: number; reason: string } | undefined;
}

/** The binding quota among `allowances`: the lowest rate, and the latest block. */
function tightest(allowances: readonly Allowance[]): Tightest {
  const result: Tightest = { perSecond: undefined, reason: undefined, blocked: undefined };
  for (const a of allowances) {
    if (a.kind === 'unknown') continue;
    if (a.kind === 'blocked') {
      const b = result.blocked;
      // Exhaustion outranks a pause; between two of a kind the later end decides.
      if (
        b === undefined ||
        (a.state === 'exhausted' && b.state === 'cooling_down') ||
        (a.state === b.state && a.untilMs > b.untilMs)
      )
        result.blocked = { state: a.state, untilMs: a.untilMs, reason: a.reason };
      continue;
    }
    if (result.perSecond === undefined || a.perSecond < result.perSecond) {
      result.perSecond = a.perSecond;
      result.reason = a.reason;
    }
  }
  return result;
}

/**
 * Splits `total` among keys capped at `caps` (undefined: no cap of its own) as evenly as the caps
 * allow: what a capped key cannot take goes to the others (water-filling), so a partition's rate is
 * neither lost to a key with a small quota of its own nor counted twice.
 */
export function splitShared(total: number, caps: ReadonlyArray<number | undefined>): number[] {
  const shares = caps.map(() => 0);
  let left = Math.max(0, total);
  let open = caps.map((_, i) => i);
  while (left > 1e-12 && open.length > 0) {
    const each = left / open.length;
    const still: number[] = [];
    for (const i of open) {
      const room = (caps[i] ?? Number.POSITIVE_INFINITY) - (shares[i] ?? 0);
      const take = Math.min(room, each);
      shares[i] = (shares[i] ?? 0) + take;
      left -= take;
      if (room > each) still.push(i);
    }
    if (still.length === open.length) break;
    open = still;
  }
  return shares;
}

/**
 * Each key's headroom in one pool: the sustainable request rate until its binding quota resets, or
 * zero until a time when it is exhausted or cooling down. Keys sharing a partition split the partition's
 * rate for this pool (what is left after everyone else's forecast usage) as evenly as their own quotas
 * allow. Pure: time is `nowMs`.
 */
export function computeKeyHeadroom(
  keys: readonly KeyHeadroomInput[],
  partitions: readonly PartitionHeadroomInput[],
  nowMs: number,
): KeyHeadroom[] {
  const own = keys.map((k) => tightest(k.quotas.map((q) => allowanceOf(q, undefined, nowMs))));
  const result: KeyHeadroom[] = keys.map((k, i) => {
    const t = own[i] as Tightest;
    return {
      keyId: k.keyId,
      sustainableRatePerSecond: t.perSecond,
      reason: t.reason ?? 'no quota known: median weight',
    };
  });
  const blocked = own.map((t) => t.blocked);

  for (const partition of partitions) {
    const members = keys.flatMap((k, i) => (k.partition === partition.partition ? [i] : []));
    if (members.length === 0) continue;
    const shared = tightest(partition.quotas.map((q) => allowanceOf(q, q.others, nowMs)));
    const label = `partition ${partition.partition}`;
    if (shared.blocked !== undefined) {
      for (const i of members) {
        const b = blocked[i];
        if (b === undefined || (shared.blocked.state === 'exhausted' && b.state === 'cooling_down'))
          blocked[i] = { ...shared.blocked, reason: `${label} ${shared.blocked.reason}` };
      }
      continue;
    }
    if (shared.perSecond === undefined) continue;
    const usable = members.filter((i) => blocked[i] === undefined);
    const shares = splitShared(
      shared.perSecond,
      usable.map((i) => result[i]?.sustainableRatePerSecond),
    );
    usable.forEach((i, j) => {
      const entry = result[i] as KeyHeadroom;
      const share = shares[j] ?? 0;
      if (entry.sustainableRatePerSecond === undefined || share < entry.sustainableRatePerSecond) {
        entry.sustainableRatePerSecond = share;
        entry.reason = `${label} ${shared.reason ?? ''}, shared by ${usable.length} key${usable.length === 1 ? '' : 's'}`;
      }
    });
  }

  keys.forEach((k, i) => {
    const entry = result[i] as KeyHeadroom;
    const b = blocked[i];
    if (b !== undefined && b.untilMs > nowMs) {
      if (b.state === 'exhausted') entry.exhaustedUntilMs = b.untilMs;
      else entry.coolingDownUntilMs = b.untilMs;
      entry.reason = b.reason;
    }
    const revokedUntilMs = k.authErrorAtMs === undefined ? undefined : k.authErrorAtMs + AUTH_ERROR_HOLD_MS;
    if (revokedUntilMs !== undefined && revokedUntilMs > nowMs) {
      entry.exhaustedUntilMs = Math.max(entry.exhaustedUntilMs ?? 0, revokedUntilMs);
      delete entry.coolingDownUntilMs;
      entry.reason = 'provider answered auth_error: key revoked or expired';
    } else if (
      k.quotaExhaustedUntilMs !== undefined &&
      k.quotaExhaustedUntilMs > nowMs &&
      entry.exhaustedUntilMs === undefined
    ) {
      entry.exhaustedUntilMs = k.quotaExhaustedUntilMs;
      delete entry.coolingDownUntilMs;
      entry.reason = 'provider answered quota_exhausted';
    } else if (
      k.coolingDownUntilMs !== undefined &&
      k.coolingDownUntilMs > nowMs &&
      entry.exhaustedUntilMs === undefined &&
      (entry.coolingDownUntilMs === undefined || k.coolingDownUntilMs > entry.coolingDownUntilMs)
    ) {
      entry.coolingDownUntilMs = k.coolingDownUntilMs;
      entry.reason = `rate limited: retry after ${new Date(k.coolingDownUntilMs).toISOString()}`;
    }
  });
  return result;
}
