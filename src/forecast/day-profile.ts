import { filledArray } from './bucket-series.ts';
import { MS_PER_DAY, MS_PER_HOUR, timelinePieceAt } from './time-zone.ts';
import type { OffsetTimeline } from './time-zone.ts';

const HOURS_PER_DAY = 24;
/** A day's worth of profile mass: the profile has mean 1, so a day weighs as much as its length. */
const DAY_MASS_MS = MS_PER_DAY;
/**
 * Strength of the flat prior on each hour's weight, in effective events (usage / dispersion): each
 * weight is the posterior mean of a Gamma(1, 1) prior updated with that hour's usage. Shrinkage thus
 * follows the evidence: an hour that was silent through thousands of expected events gets a weight
 * near 0 (so a quiet night today says nothing about the level), while sparse usage keeps a smooth,
 * nearly flat shape.
 */
const FLAT_PRIOR_EVENTS = 1;
/** History needed before the hour-of-day shape is learnt; the profile stays flat with less. */
const MIN_PROFILE_HISTORY_MS = 2 * MS_PER_DAY;
/** Keeps every weight positive so that the profile's antiderivative is strictly increasing. */
const MIN_HOUR_WEIGHT = 1e-4;

/**
 * Relative usage rate per local hour of the day (`weights[h]`, mean 1 over the 24 hours, all
 * positive), in one time zone. Integrals of the profile over time are in "profile ms": an interval
 * where the profile is 1 weighs its length.
 */
export interface HourProfile {
  weights: number[];
  /** `cumulative[h]` = sum of `weights[0..h-1]`; `cumulative[24]` = 24. */
  cumulative: number[];
  /**
   * Effective events behind each weight (the shape of its gamma posterior): the relative variance
   * of `weights[h]` is `1 / evidence[h]`. Infinite for the flat profile, which is assumed, not learnt.
   */
  evidence: number[];
  flat: boolean;
}

function makeProfile(weights: number[], evidence: number[], flat: boolean): HourProfile {
  const cumulative = filledArray(HOURS_PER_DAY + 1, 0);
  for (let hour = 0; hour < HOURS_PER_DAY; hour += 1) {
    cumulative[hour + 1] = (cumulative[hour] ?? 0) + (weights[hour] ?? 0);
  }
  return { weights, cumulative, evidence, flat };
}

export const FLAT_PROFILE: HourProfile = makeProfile(
  filledArray(HOURS_PER_DAY, 1),
  filledArray(HOURS_PER_DAY, Number.POSITIVE_INFINITY),
  true,
);

function hourOfLocalMs(localMs: number): number {
  const withinDayMs = localMs - Math.floor(localMs / MS_PER_DAY) * MS_PER_DAY;
  return Math.min(HOURS_PER_DAY - 1, Math.floor(withinDayMs / MS_PER_HOUR));
}

/** Profile mass from local epoch 0 to local time `localMs` (the profile's antiderivative). */
function massToLocal(profile: HourProfile, localMs: number): number {
  if (profile.flat) return localMs;
  const days = Math.floor(localMs / MS_PER_DAY);
  const withinDayMs = localMs - days * MS_PER_DAY;
  const hour = Math.min(HOURS_PER_DAY - 1, Math.floor(withinDayMs / MS_PER_HOUR));
  return (
    days * DAY_MASS_MS +
    (profile.cumulative[hour] ?? 0) * MS_PER_HOUR +
    (profile.weights[hour] ?? 0) * (withinDayMs - hour * MS_PER_HOUR)
  );
}

/** Inverse of `massToLocal`: the local time at which the antiderivative reaches `mass`. */
function localAtMass(profile: HourProfile, mass: number): number {
  if (profile.flat) return mass;
  const days = Math.floor(mass / DAY_MASS_MS);
  const withinDayHours = (mass - days * DAY_MASS_MS) / MS_PER_HOUR;
  let hour = 0;
  while (hour < HOURS_PER_DAY - 1 && (profile.cumulative[hour + 1] ?? 0) <= withinDayHours) hour += 1;
  const rest = (withinDayHours - (profile.cumulative[hour] ?? 0)) * MS_PER_HOUR;
  return days * MS_PER_DAY + hour * MS_PER_HOUR + rest / (profile.weights[hour] ?? 1);
}

/** The profile's weight at the instant `utcMs`. */
export function profileWeightAt(profile: HourProfile, timeline: OffsetTimeline, utcMs: number): number {
  if (profile.flat) return 1;
  const offsetMs = timeline.offsetsMs[timelinePieceAt(timeline, utcMs)] ?? 0;
  return profile.weights[hourOfLocalMs(utcMs + offsetMs)] ?? 1;
}

/**
 * Profile mass of each bucket `[tsMs[i], min(tsMs[i] + bucketMs, endMs))` in buckets (1 for a whole
 * bucket at weight 1), written to `out`. `tsMs` must be ascending. Buckets of up to an hour take the
 * weight of the local hour of their midpoint (exact for buckets aligned to local hours), longer ones
 * are integrated.
 */
export function fillBucketMasses(
  tsMs: number[],
  out: number[],
  endMs: number,
  bucketMs: number,
  profile: HourProfile,
  timeline: OffsetTimeline,
): void {
  const starts = timeline.startsMs;
  let piece = tsMs.length > 0 ? timelinePieceAt(timeline, tsMs[0] ?? 0) : 0;
  for (let i = 0; i < tsMs.length; i += 1) {
    const startMs = tsMs[i] ?? 0;
    const lengthMs = Math.max(0, Math.min(bucketMs, endMs - startMs));
    if (profile.flat) {
      out[i] = lengthMs / bucketMs;
    } else if (bucketMs <= MS_PER_HOUR) {
      const midMs = startMs + lengthMs / 2;
      while (piece + 1 < starts.length && (starts[piece + 1] ?? Number.POSITIVE_INFINITY) <= midMs)
        piece += 1;
      const weight = profile.weights[hourOfLocalMs(midMs + (timeline.offsetsMs[piece] ?? 0))] ?? 1;
      out[i] = (weight * lengthMs) / bucketMs;
    } else {
      out[i] = profileMassMs(profile, timeline, startMs, startMs + lengthMs) / bucketMs;
    }
  }
}

/** ∫ profile over `[fromMs, toMs)` split by local hour of the day: 24 masses in profile ms. */
export function profileMassByHour(
  profile: HourProfile,
  timeline: OffsetTimeline,
  fromMs: number,
  toMs: number,
): number[] {
  const masses = filledArray(HOURS_PER_DAY, 0);
  const starts = timeline.startsMs;
  for (let piece = timelinePieceAt(timeline, fromMs); piece < starts.length; piece += 1) {
    const pieceStart = Math.max(fromMs, starts[piece] ?? fromMs);
    if (pieceStart >= toMs) break;
    const pieceEnd = Math.min(toMs, starts[piece + 1] ?? Number.POSITIVE_INFINITY);
    const offsetMs = timeline.offsetsMs[piece] ?? 0;
    const wholeDays = Math.floor((pieceEnd - pieceStart) / MS_PER_DAY);
    for (let hour = 0; hour < HOURS_PER_DAY; hour += 1) {
      masses[hour] = (masses[hour] ?? 0) + wholeDays * MS_PER_HOUR * (profile.weights[hour] ?? 1);
    }
    let a = pieceStart + wholeDays * MS_PER_DAY + offsetMs;
    const end = pieceEnd + offsetMs;
    while (a < end) {
      const b = Math.min(end, Math.floor(a / MS_PER_HOUR) * MS_PER_HOUR + MS_PER_HOUR);
      const hour = hourOfLocalMs(a);
      masses[hour] = (masses[hour] ?? 0) + (b - a) * (profile.weights[hour] ?? 1);
      a = b;
    }
  }
  return masses;
}

/** ∫ profile over `[fromMs, toMs)`, in profile ms. */
export function profileMassMs(
  profile: HourProfile,
  timeline: OffsetTimeline,
  fromMs: number,
  toMs: number,
): number {
  if (toMs <= fromMs) return 0;
  if (profile.flat) return toMs - fromMs;
  const starts = timeline.startsMs;
  let mass = 0;
  for (let piece = timelinePieceAt(timeline, fromMs); piece < starts.length; piece += 1) {
    const pieceStart = Math.max(fromMs, starts[piece] ?? fromMs);
    if (pieceStart >= toMs) break;
    const pieceEnd = Math.min(toMs, starts[piece + 1] ?? Number.POSITIVE_INFINITY);
    const offsetMs = timeline.offsetsMs[piece] ?? 0;
    mass += massToLocal(profile, pieceEnd + offsetMs) - massToLocal(profile, pieceStart + offsetMs);
  }
  return mass;
}

/** The instant after `fromMs` at which the profile mass since `fromMs` reaches `massMs`. */
export function timeAtProfileMass(
  profile: HourProfile,
  timeline: OffsetTimeline,
  fromMs: number,
  massMs: number,
): number {
  if (massMs <= 0) return fromMs;
  if (profile.flat) return fromMs + massMs;
  const starts = timeline.startsMs;
  let left = massMs;
  for (let piece = timelinePieceAt(timeline, fromMs); piece < starts.length; piece += 1) {
    const pieceStart = Math.max(fromMs, starts[piece] ?? fromMs);
    const pieceEnd = starts[piece + 1] ?? Number.POSITIVE_INFINITY;
    const offsetMs = timeline.offsetsMs[piece] ?? 0;
    const startMass = massToLocal(profile, pieceStart + offsetMs);
    const pieceMass = massToLocal(profile, pieceEnd + offsetMs) - startMass;
    if (pieceEnd === Number.POSITIVE_INFINITY || pieceMass >= left) {
      return Math.max(fromMs, localAtMass(profile, startMass + left) - offsetMs);
    }
    left -= pieceMass;
  }
  return fromMs + massMs;
}

/**
 * ∫ profile(t) · 2^(-(refMs - t) / halfLifeMs) dt over `[fromMs, toMs)`: profile mass discounted by
 * age at `refMs`. Walks constant-weight pieces (local hours between offset changes) and skips the part
 * older than 60 half-lives, whose weight is below 1e-18.
 */
export function discountedProfileMassMs(
  profile: HourProfile,
  timeline: OffsetTimeline,
  fromMs: number,
  toMs: number,
  refMs: number,
  halfLifeMs: number,
): number {
  const decayPerMs = Math.LN2 / halfLifeMs;
  const startMs = Math.max(fromMs, refMs - 60 * halfLifeMs);
  if (toMs <= startMs) return 0;
  const integrate = (a: number, b: number, weight: number): number =>
    (weight * (Math.exp(-decayPerMs * (refMs - b)) - Math.exp(-decayPerMs * (refMs - a)))) / decayPerMs;
  if (profile.flat) return integrate(startMs, toMs, 1);
  const starts = timeline.startsMs;
  let mass = 0;
  for (let piece = timelinePieceAt(timeline, startMs); piece < starts.length; piece += 1) {
    const pieceStart = Math.max(startMs, starts[piece] ?? startMs);
    if (pieceStart >= toMs) break;
    const pieceEnd = Math.min(toMs, starts[piece + 1] ?? Number.POSITIVE_INFINITY);
    const offsetMs = timeline.offsetsMs[piece] ?? 0;
    let a = pieceStart;
    while (a < pieceEnd) {
      const local = a + offsetMs;
      const nextHourMs = Math.floor(local / MS_PER_HOUR) * MS_PER_HOUR + MS_PER_HOUR - offsetMs;
      const b = Math.min(pieceEnd, nextHourMs);
      mass += integrate(a, b, profile.weights[hourOfLocalMs(local)] ?? 1);
      a = b;
    }
  }
  return mass;
}

/**
 * Hour-of-day shape of past usage. `tsMs` / `values` are usage buckets (ascending) starting in
 * `[spanStartMs, spanEndMs)`; every hour of that span without a point counts as observed zero usage.
 * How much the shape is shrunk toward flat (see `FLAT_PRIOR_EVENTS`) depends on the dispersion of the
 * buckets within each hour of the day (usage per effective event). The shape is normalised to mean 1.
 * With less than two days of history, hour of day cannot be told from trend or noise, so the profile
 * is flat.
 */
export function buildHourProfile(
  tsMs: number[],
  values: number[],
  spanStartMs: number,
  spanEndMs: number,
  bucketMs: number,
  timeline: OffsetTimeline,
): HourProfile {
  // Each hour needs at least two days of observations, or its weight's noise cannot be measured.
  if (spanEndMs - spanStartMs < MIN_PROFILE_HISTORY_MS || tsMs.length === 0) return FLAT_PROFILE;
  const usageByHour = filledArray(HOURS_PER_DAY, 0);
  const squaresByHour = filledArray(HOURS_PER_DAY, 0);
  const exposureByHour = filledArray(HOURS_PER_DAY, 0);
  let piece = 0;
  const starts = timeline.startsMs;
  for (let i = 0; i < tsMs.length; i += 1) {
    const startMs = tsMs[i] ?? 0;
    // Attribute a bucket to the local hour of its midpoint (matters for hour-long buckets in zones with
    // half-hour offsets).
    const midMs = startMs + Math.min(bucketMs, spanEndMs - startMs) / 2;
    while (piece + 1 < starts.length && (starts[piece + 1] ?? Number.POSITIVE_INFINITY) <= midMs) piece += 1;
    while (piece > 0 && (starts[piece] ?? Number.NEGATIVE_INFINITY) > midMs) piece -= 1;
    const hour = hourOfLocalMs(midMs + (timeline.offsetsMs[piece] ?? 0));
    const value = values[i] ?? 0;
    usageByHour[hour] = (usageByHour[hour] ?? 0) + value;
    squaresByHour[hour] = (squaresByHour[hour] ?? 0) + value * value;
  }
  for (let index = timelinePieceAt(timeline, spanStartMs); index < starts.length; index += 1) {
    const pieceStart = Math.max(spanStartMs, starts[index] ?? spanStartMs);
    if (pieceStart >= spanEndMs) break;
    const pieceEnd = Math.min(spanEndMs, starts[index + 1] ?? Number.POSITIVE_INFINITY);
    const offsetMs = timeline.offsetsMs[index] ?? 0;
    const wholeDays = Math.floor((pieceEnd - pieceStart) / MS_PER_DAY);
    for (let hour = 0; hour < HOURS_PER_DAY; hour += 1) {
      exposureByHour[hour] = (exposureByHour[hour] ?? 0) + wholeDays * MS_PER_HOUR;
    }
    let a = pieceStart + wholeDays * MS_PER_DAY + offsetMs;
    const end = pieceEnd + offsetMs;
    while (a < end) {
      const b = Math.min(end, Math.floor(a / MS_PER_HOUR) * MS_PER_HOUR + MS_PER_HOUR);
      const hour = hourOfLocalMs(a);
      exposureByHour[hour] = (exposureByHour[hour] ?? 0) + (b - a);
      a = b;
    }
  }
  let totalUsage = 0;
  let totalExposureMs = 0;
  // Dispersion within each hour of the day: Σ_h Σ_i (x_i - mean_h)² over its expectation
  // φ Σ_h usage_h (1 - 1 / n_h), n_h buckets in hour h (one degree of freedom per hour is spent on
  // its mean).
  let deviation = 0;
  let deviationUsage = 0;
  for (let hour = 0; hour < HOURS_PER_DAY; hour += 1) {
    const usage = usageByHour[hour] ?? 0;
    const bucketsInHour = (exposureByHour[hour] ?? 0) / bucketMs;
    totalUsage += usage;
    totalExposureMs += exposureByHour[hour] ?? 0;
    if (bucketsInHour > 1) {
      deviation += Math.max(0, (squaresByHour[hour] ?? 0) - (usage * usage) / bucketsInHour);
      deviationUsage += usage * (1 - 1 / bucketsInHour);
    }
  }
  if (!(totalUsage > 0) || !(totalExposureMs > 0)) return FLAT_PROFILE;
  const meanRatePerMs = totalUsage / totalExposureMs;
  // Without a measurable spread (all usage in hours seen once), one bucket's mean usage is one event.
  const dispersion = Math.max(
    deviationUsage > 0 ? deviation / deviationUsage : (totalUsage * bucketMs) / totalExposureMs,
    (1e-9 * totalUsage * bucketMs) / totalExposureMs,
  );
  const weights = filledArray(HOURS_PER_DAY, 0);
  const evidence = filledArray(HOURS_PER_DAY, 0);
  let sum = 0;
  for (let hour = 0; hour < HOURS_PER_DAY; hour += 1) {
    const events = (usageByHour[hour] ?? 0) / dispersion + FLAT_PRIOR_EVENTS;
    const expectedEvents = (meanRatePerMs * (exposureByHour[hour] ?? 0)) / dispersion + FLAT_PRIOR_EVENTS;
    weights[hour] = Math.max(MIN_HOUR_WEIGHT, events / expectedEvents);
    evidence[hour] = events;
    sum += weights[hour] ?? 0;
  }
  for (let hour = 0; hour < HOURS_PER_DAY; hour += 1) {
    weights[hour] = ((weights[hour] ?? 0) * HOURS_PER_DAY) / sum;
  }
  return makeProfile(weights, evidence, false);
}
