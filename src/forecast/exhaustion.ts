import { filledArray, kthLargest, resampleSeries, selectSeries } from './bucket-series.ts';
import type { BucketSeries } from './bucket-series.ts';
import {
  buildHourProfile,
  discountedProfileMassMs,
  fillBucketMasses,
  FLAT_PROFILE,
  profileMassByHour,
  profileMassMs,
  profileWeightAt,
  timeAtProfileMass,
} from './day-profile.ts';
import type { HourProfile } from './day-profile.ts';
import {
  assertForecastInput,
  exhaustedForecast,
  forecastBase,
  insufficientDataForecast,
} from './forecast-input.ts';
import { gammaTailByMoments } from './gamma.ts';
import { assertTimeZone, buildOffsetTimeline, MS_PER_DAY, MS_PER_HOUR } from './time-zone.ts';
import type { OffsetTimeline } from './time-zone.ts';
import type { Forecast, ForecastInput } from './types.ts';

/** Name of headroom's forecasting method, recorded with every forecast. */
export const EXHAUSTION_METHOD = 'headroom.profile_nb.v2';

/** A bucket further than this many standard deviations above the robust level is a burst. */
const BURST_Z = 6;
/** Share of the highest buckets left out when estimating the level a burst is measured against. */
const BURST_TRIM_FRACTION = 0.05;
const MIN_BUCKETS_FOR_BURST_GUARD = 10;
/**
 * Previous windows (or days) that inform the prior level, newest first. They are weighted by age with
 * the half-life (in blocks) among `PRIOR_HALF_LIVES` that best predicted each block from the ones
 * before it (`fitBlockHalfLife`); `PRIOR_BLOCK_HALF_LIFE` when there are too few blocks to tell.
 */
const MAX_PRIOR_BLOCKS = 14;
const PRIOR_BLOCK_HALF_LIFE = 2;
const PRIOR_HALF_LIVES = [0.5, 1, 2, 4, 8];
/** One-step predictions needed before the half-life is fitted rather than assumed. */
const MIN_HALF_LIFE_PREDICTIONS = 4;
/**
 * Window-to-window variability of the usage level (coefficient of variation). Estimated from the
 * previous windows when there are three or more, otherwise `DEFAULT_LEVEL_CV`. The floor keeps a
 * steady history from overruling what the window shows: a conjugate prior is not robust to conflict,
 * so it must not claim more than the ~25 % day-to-day swings real API traffic has. Levels drift like a
 * random walk, so the floor shrinks with the square root of the window length below a day (a minute's
 * level is much like the last few minutes'), down to `MIN_LEVEL_CV_SHORT`.
 */
const DEFAULT_LEVEL_CV = 1;
const MIN_LEVEL_CV = 0.25;
const MIN_LEVEL_CV_SHORT = 0.05;
const MAX_LEVEL_CV = 3;
/** Previous blocks the drift within a window is measured on before the measurement is trusted alone. */
const MIN_DRIFT_BLOCKS = 3;
/** Jeffreys prior for a Poisson rate, used when there is no history at all. */
const JEFFREYS_SHAPE = 0.5;
/**
 * The level follows the window with a half-life of a quarter of it. A second, short look (1/48 of the
 * window, at least three buckets: 30 minutes of a day) catches a surge that is still going on: when
 * the recent usage is more than `SURGE_Z_FROM` standard deviations above what the level predicts, the
 * forecast moves toward the short look, fully at `SURGE_Z_FULL`. Only upward: a lull is not trusted
 * to last (robust to idle periods), a surge is not ignored until it is too late.
 */
const LONG_HALF_LIFE_WINDOWS = 1 / 4;
const SHORT_HALF_LIFE_WINDOWS = 1 / 48;
const SURGE_Z_FROM = 3;
const SURGE_Z_FULL = 5;
/** ETAs are found to within a second (or a millionth of the horizon, for month-long windows). */
const ETA_RESOLUTION_MS = 1000;

/**
 * Sums for the dispersion of buckets around μ = level × exposure, over whole buckets only (a bucket
 * still filling is left out). The estimator is Σ (x - μ)² / Σ μ, the variance-to-mean ratio weighted
 * by volume: unlike Pearson's Σ (x - μ)² / μ, hours the profile all but rules out (nights) neither add
 * noise nor dilute it.
 */
interface DispersionSums {
  /** Σ x², Σ x·e, Σ e², Σ e over whole buckets with usage. */
  squares: number;
  cross: number;
  exposureSquares: number;
  exposure: number;
  /** Exposure and count of the whole buckets without usage. */
  emptyExposure: number;
  emptyBuckets: number;
}

function emptySums(): DispersionSums {
  return { squares: 0, cross: 0, exposureSquares: 0, exposure: 0, emptyExposure: 0, emptyBuckets: 0 };
}

function addBucket(sums: DispersionSums, value: number, exposure: number): void {
  sums.squares += value * value;
  sums.cross += value * exposure;
  sums.exposureSquares += exposure * exposure;
  sums.exposure += exposure;
}

/** Σ (x - μ)² at `level`; empty buckets are taken as equally exposed. */
function squaredDeviation(sums: DispersionSums, level: number): number {
  const empty = sums.emptyBuckets > 0 ? (sums.emptyExposure * sums.emptyExposure) / sums.emptyBuckets : 0;
  return Math.max(0, sums.squares - 2 * level * sums.cross + level * level * (sums.exposureSquares + empty));
}

function expectedUsage(sums: DispersionSums, level: number): number {
  return level * (sums.exposure + sums.emptyExposure);
}

/**
 * Caps burst buckets so that one spike does not read as a new level. The level and the spread a burst
 * is judged against come from the buckets without the top 5 %; a bucket above level + 6 sd is cut down
 * to that bound, unless it belongs to a run of high buckets that reaches the present (`presentMs`): a
 * surge still in progress may be the new normal, and is treated as a burst only once it has ended.
 *
 * `totalExposure` and `bucketCount` cover the whole span up to `endMs`, including buckets absent from
 * the series (zero usage). Returns the capped values.
 */
function capBursts(
  series: BucketSeries,
  totalExposure: number,
  bucketCount: number,
  bucketMs: number,
  endMs: number,
  presentMs: number,
): number[] {
  const { tsMs, values, exposures } = series;
  const n = values.length;
  const trimCount = Math.max(1, Math.floor(BURST_TRIM_FRACTION * bucketCount));
  // Too short a span, or fewer non-empty buckets than the trim: usage is a handful of rare events and
  // no burst can be told apart.
  if (bucketCount < MIN_BUCKETS_FOR_BURST_GUARD || trimCount >= n) return values.slice();
  const normalised = new Array<number>(n);
  let pointExposure = 0;
  for (let i = 0; i < n; i += 1) {
    const bucketExposure = exposures[i] ?? 0;
    normalised[i] = (values[i] ?? 0) / Math.max(bucketExposure, 1e-9);
    pointExposure += bucketExposure;
  }
  const threshold = kthLargest(normalised.slice(), trimCount);
  let tiesToTrim = trimCount;
  for (let i = 0; i < n; i += 1) if ((normalised[i] ?? 0) > threshold) tiesToTrim -= 1;
  // Kept buckets: all but the `trimCount` highest (ties at the threshold trimmed in time order).
  const sums = emptySums();
  sums.emptyExposure = Math.max(0, totalExposure - pointExposure);
  sums.emptyBuckets = Math.max(0, Math.floor(bucketCount) - n);
  let keptUsage = 0;
  let keptExposure = sums.emptyExposure;
  for (let i = 0; i < n; i += 1) {
    const y = normalised[i] ?? 0;
    if (y > threshold || (y === threshold && tiesToTrim-- > 0)) continue;
    const value = values[i] ?? 0;
    const bucketExposure = exposures[i] ?? 0;
    keptUsage += value;
    keptExposure += bucketExposure;
    if ((tsMs[i] ?? 0) + bucketMs <= endMs) addBucket(sums, value, bucketExposure);
  }
  const level = keptExposure > 0 ? keptUsage / keptExposure : 0;
  const expected = expectedUsage(sums, level);
  const keptBuckets = Math.floor(bucketCount) - trimCount;
  const dispersion =
    expected > 0 && keptBuckets > 1
      ? ((squaredDeviation(sums, level) / expected) * keptBuckets) / (keptBuckets - 1)
      : 0;
  const capped = values.slice();
  if (!(level > 0)) return capped;
  // Each bucket's cap: its expected usage plus BURST_Z standard deviations of the kept buckets' spread.
  const capOf = (i: number): number => {
    const mean = level * (exposures[i] ?? 0);
    return mean + BURST_Z * Math.sqrt(dispersion * mean);
  };
  let keptFrom = n;
  if ((tsMs[n - 1] ?? 0) + 2 * bucketMs >= presentMs) {
    while (keptFrom > 0 && (values[keptFrom - 1] ?? 0) > capOf(keptFrom - 1)) {
      keptFrom -= 1;
      const previousTsMs = tsMs[keptFrom - 1];
      if (previousTsMs === undefined || (tsMs[keptFrom] ?? 0) - previousTsMs > bucketMs) break;
    }
  }
  for (let i = 0; i < keptFrom; i += 1) capped[i] = Math.min(values[i] ?? 0, capOf(i));
  return capped;
}

/**
 * What the history says, in units of its cells (see `historyCellMs`): `level` is usage per cell at
 * profile weight 1, `exposure` and block exposures are profile mass in cells.
 */
interface HistorySummary {
  profile: HourProfile;
  /** Recency-weighted usage per cell at profile weight 1 over the previous blocks. */
  level: number;
  /** Usage and profile mass (in cells) of each previous block, newest first. */
  blocks: Array<{ usage: number; exposure: number }>;
  /** Profile mass of the blocks, in cells. */
  exposure: number;
  /** Σ (x - μ)², Σ μ of the buckets around their group's level, the bucket count, parameters fitted. */
  squaredDeviation: number;
  expectedUsage: number;
  buckets: number;
  parameters: number;
  /**
   * Relative variance of the rest of a window's usage around the projection of its level so far,
   * beyond counting noise, measured on the previous blocks split at the same elapsed time (see
   * `splitDriftVariance`); 0 when nothing of the window has elapsed or the window is longer than a
   * block (a day).
   */
  driftVariance: number;
}

function summariseHistory(
  series: BucketSeries,
  spanStartMs: number,
  spanEndMs: number,
  windowMs: number,
  bucketMs: number,
  presentMs: number,
  elapsedMs: number,
  timeline: OffsetTimeline,
): HistorySummary {
  // First pass with a flat expectation: only gross bursts are cut, so they do not shape the profile.
  fillBucketMasses(series.tsMs, series.exposures, spanEndMs, bucketMs, FLAT_PROFILE, timeline);
  const spanBuckets = (spanEndMs - spanStartMs) / bucketMs;
  const values = capBursts(series, spanBuckets, Math.ceil(spanBuckets), bucketMs, spanEndMs, presentMs);
  const profile = buildHourProfile(series.tsMs, values, spanStartMs, spanEndMs, bucketMs, timeline);
  if (!profile.flat) fillBucketMasses(series.tsMs, series.exposures, spanEndMs, bucketMs, profile, timeline);

  // Blocks of one window length (clamped to a bucket .. a day) back from the window start: for daily
  // quotas these are the previous days. The newest ones give the prior level and its variability.
  // Blocks and groups end on the bucket grid, so that no bucket straddles two of them.
  const gridEndMs = Math.ceil(spanEndMs / bucketMs) * bucketMs;
  const blockMs = Math.min(MS_PER_DAY, Math.max(windowMs, bucketMs));
  let blockCount = Math.min(MAX_PRIOR_BLOCKS, Math.ceil((gridEndMs - spanStartMs) / blockMs));
  const oldestStartMs = Math.max(spanStartMs, gridEndMs - blockCount * blockMs);
  if (blockCount > 1 && gridEndMs - (blockCount - 1) * blockMs - oldestStartMs < blockMs / 2) blockCount -= 1;
  const blocks: Array<{ usage: number; exposure: number }> = [];
  for (let k = 0; k < blockCount; k += 1) {
    const endMs = Math.min(spanEndMs, gridEndMs - k * blockMs);
    const startMs = Math.max(spanStartMs, gridEndMs - (k + 1) * blockMs);
    blocks.push({ usage: 0, exposure: profileMassMs(profile, timeline, startMs, endMs) / bucketMs });
  }
  // The dispersion is measured around a level per group of at least ten buckets (a block, for long
  // windows), over the whole history: a group of one bucket would fit its usage exactly.
  const groupMs = Math.max(blockMs, 10 * bucketMs);
  const groupCount = Math.ceil((gridEndMs - spanStartMs) / groupMs);
  const groups: Array<{ usage: number; pointExposure: number; wholePoints: number; sums: DispersionSums }> =
    [];
  for (let g = 0; g < groupCount; g += 1) {
    groups.push({ usage: 0, pointExposure: 0, wholePoints: 0, sums: emptySums() });
  }
  for (let i = 0; i < series.tsMs.length; i += 1) {
    const startMs = series.tsMs[i] ?? 0;
    const value = values[i] ?? 0;
    const block = blocks[Math.ceil((gridEndMs - startMs) / blockMs) - 1];
    if (block !== undefined) block.usage += value;
    const group = groups[Math.ceil((gridEndMs - startMs) / groupMs) - 1];
    if (group === undefined) continue;
    const bucketExposure = series.exposures[i] ?? 0;
    group.usage += value;
    group.pointExposure += bucketExposure;
    if (startMs + bucketMs <= spanEndMs) {
      addBucket(group.sums, value, bucketExposure);
      group.wholePoints += 1;
    }
  }
  let weightedUsage = 0;
  let weightedExposure = 0;
  let exposure = 0;
  const halfLife = fitBlockHalfLife(blocks);
  blocks.forEach((block, k) => {
    const weight = 2 ** (-k / halfLife);
    weightedUsage += weight * block.usage;
    weightedExposure += weight * block.exposure;
    exposure += block.exposure;
  });
  let deviation = 0;
  let expected = 0;
  let buckets = 0;
  groups.forEach((group, g) => {
    const endMs = Math.min(spanEndMs, gridEndMs - g * groupMs);
    const startMs = Math.max(spanStartMs, gridEndMs - (g + 1) * groupMs);
    const groupExposure = profileMassMs(profile, timeline, startMs, endMs) / bucketMs;
    const wholeBuckets = Math.floor((endMs - startMs) / bucketMs);
    buckets += wholeBuckets;
    group.sums.emptyExposure = Math.max(0, groupExposure - group.pointExposure);
    group.sums.emptyBuckets = Math.max(0, wholeBuckets - group.wholePoints);
    const level = groupExposure > 0 ? group.usage / groupExposure : 0;
    deviation += squaredDeviation(group.sums, level);
    expected += expectedUsage(group.sums, level);
  });
  const parameters = groups.length + (profile.flat ? 0 : 23);
  const cellDispersion =
    expected > 0 && buckets - parameters >= 2 ? (deviation * buckets) / (buckets - parameters) / expected : 0;
  return {
    profile,
    level: weightedExposure > 0 ? weightedUsage / weightedExposure : 0,
    blocks,
    exposure,
    squaredDeviation: deviation,
    expectedUsage: expected,
    buckets,
    parameters,
    driftVariance: splitDriftVariance(
      series.tsMs,
      values,
      blockCount,
      blockMs,
      gridEndMs,
      spanStartMs,
      spanEndMs,
      bucketMs,
      elapsedMs,
      cellDispersion,
      profile,
      timeline,
    ),
  };
}

/**
 * The half-life (in blocks) of the prior's recency weighting that would have predicted the previous
 * blocks best: each block's level is predicted from the older ones (at least two), weighted by age, and
 * the candidate with the least squared error (weighted by the block's profile mass) wins. A level that
 * shifts (load moving from one plateau to another) gets a short memory, a stable but noisy one a long
 * memory. The default stays unless another candidate beats it by more than 1 %, so near-ties do not
 * flap from one cycle to the next.
 */
function fitBlockHalfLife(blocks: ReadonlyArray<{ usage: number; exposure: number }>): number {
  const observed = blocks.filter((block) => block.exposure > 0);
  if (observed.length - 2 < MIN_HALF_LIFE_PREDICTIONS) return PRIOR_BLOCK_HALF_LIFE;
  const errors = PRIOR_HALF_LIVES.map((halfLife) => {
    let error = 0;
    // Targets newest first; each is predicted from at least two older blocks.
    for (let target = 0; target + 2 < observed.length; target += 1) {
      let usage = 0;
      let exposure = 0;
      for (let k = target + 1; k < observed.length; k += 1) {
        const weight = 2 ** (-(k - target - 1) / halfLife);
        usage += weight * (observed[k]?.usage ?? 0);
        exposure += weight * (observed[k]?.exposure ?? 0);
      }
      const block = observed[target];
      if (block === undefined || !(exposure > 0)) continue;
      error += block.exposure * (block.usage / block.exposure - usage / exposure) ** 2;
    }
    return error;
  });
  const best = Math.min(...errors);
  const defaultIndex = PRIOR_HALF_LIVES.indexOf(PRIOR_BLOCK_HALF_LIFE);
  if ((errors[defaultIndex] ?? Infinity) <= best * 1.01) return PRIOR_BLOCK_HALF_LIFE;
  return PRIOR_HALF_LIVES[errors.indexOf(best)] ?? PRIOR_BLOCK_HALF_LIFE;
}

/**
 * How far the rest of a window strays from its level so far: each previous block (a whole one) is
 * split at the elapsed time of the current window; the usage before the split, per unit of profile
 * mass, projected on the mass after it, is compared with what came after. The squared errors, net of
 * the counting noise of both parts (`dispersion` × usage), over the squared projections, estimate the
 * relative variance of that projection. Traffic that switches on and off, or drifts within the day,
 * shows a large value; a steady key a value near 0. With fewer than `MIN_DRIFT_BLOCKS` blocks, the
 * missing ones count at `MIN_LEVEL_CV`, so that a couple of lucky blocks do not claim certainty.
 */
function splitDriftVariance(
  tsMs: number[],
  values: number[],
  blockCount: number,
  blockMs: number,
  gridEndMs: number,
  spanStartMs: number,
  spanEndMs: number,
  cellMs: number,
  elapsedMs: number,
  dispersion: number,
  profile: HourProfile,
  timeline: OffsetTimeline,
): number {
  if (!(elapsedMs > 0) || elapsedMs >= blockMs) return 0;
  const before = filledArray(blockCount, 0);
  const after = filledArray(blockCount, 0);
  for (let i = 0; i < tsMs.length; i += 1) {
    const startMs = tsMs[i] ?? 0;
    const k = Math.ceil((gridEndMs - startMs) / blockMs) - 1;
    if (k < 0 || k >= blockCount) continue;
    const splitMs = gridEndMs - (k + 1) * blockMs + elapsedMs;
    const value = values[i] ?? 0;
    // A cell straddling the split is shared in proportion to its time on either side.
    const beforeShare = Math.min(1, Math.max(0, (splitMs - startMs) / cellMs));
    before[k] = (before[k] ?? 0) + value * beforeShare;
    after[k] = (after[k] ?? 0) + value * (1 - beforeShare);
  }
  let excess = 0;
  let scale = 0;
  let samples = 0;
  for (let k = 0; k < blockCount; k += 1) {
    const startMs = gridEndMs - (k + 1) * blockMs;
    const endMs = Math.min(spanEndMs, startMs + blockMs);
    if (startMs < spanStartMs || endMs - startMs < blockMs) continue;
    const usageBefore = before[k] ?? 0;
    if (!(usageBefore > 0)) continue;
    const massBefore = profileMassMs(profile, timeline, startMs, startMs + elapsedMs);
    const massAfter = profileMassMs(profile, timeline, startMs + elapsedMs, endMs);
    if (!(massBefore > 0) || !(massAfter > 0)) continue;
    const ratio = massAfter / massBefore;
    const projected = usageBefore * ratio;
    const noise = dispersion * (projected + usageBefore * ratio * ratio);
    excess += ((after[k] ?? 0) - projected) ** 2 - noise;
    scale += projected * projected;
    samples += 1;
  }
  if (samples === 0) return 0;
  // Blocks short of MIN_DRIFT_BLOCKS are filled in with the default variability.
  const pseudoScale = (Math.max(0, MIN_DRIFT_BLOCKS - samples) * scale) / samples;
  const drift = (Math.max(0, excess) + pseudoScale * MIN_LEVEL_CV ** 2) / (scale + pseudoScale);
  return Math.min(MAX_LEVEL_CV ** 2, drift);
}

/**
 * Width of the cells the history is summed into before it is analysed: up to an hour, and at most a
 * 24th of the window, in whole buckets. The hour-of-day shape, the previous windows' levels and the
 * dispersion need no finer grain for windows of hours or days, and a week of 5-minute buckets then
 * costs 168 cells instead of 2,016 buckets. (Sums over an hour also carry the burstiness within the
 * hour, which is what a forecast over hours must account for.) The current window keeps its buckets:
 * bursts and surges are told apart there.
 */
function historyCellMs(windowMs: number, bucketMs: number): number {
  return bucketMs * Math.max(1, Math.floor(Math.min(MS_PER_HOUR, windowMs / 24) / bucketMs));
}

/** Squared coefficient of variation of the level between blocks, net of the within-block noise. */
function levelVariation(blocks: HistorySummary['blocks'], dispersion: number, windowMs: number): number {
  const observed = blocks.filter((block) => block.exposure > 0);
  if (observed.length < 3) return DEFAULT_LEVEL_CV ** 2;
  let usage = 0;
  let exposure = 0;
  for (const block of observed) {
    usage += block.usage;
    exposure += block.exposure;
  }
  const mean = usage / exposure;
  if (!(mean > 0)) return DEFAULT_LEVEL_CV ** 2;
  let spread = 0;
  for (const block of observed) spread += block.exposure * (block.usage / block.exposure - mean) ** 2;
  const variance = ((spread / exposure) * observed.length) / (observed.length - 1);
  const noise = (dispersion * mean) / (exposure / observed.length);
  const cv2 = (variance - noise) / (mean * mean);
  const minCv = Math.min(
    MIN_LEVEL_CV,
    Math.max(MIN_LEVEL_CV_SHORT, MIN_LEVEL_CV * Math.sqrt(windowMs / MS_PER_DAY)),
  );
  return Math.min(MAX_LEVEL_CV ** 2, Math.max(minCv ** 2, cv2));
}

/** Usage and exposure of the window discounted by age at `nowMs` with the given half-life. */
function discountedWindow(
  current: BucketSeries,
  values: number[],
  fitStartMs: number,
  nowMs: number,
  bucketMs: number,
  halfLifeMs: number,
  profile: HourProfile,
  timeline: OffsetTimeline,
): { usage: number; exposure: number } {
  const decayPerMs = Math.LN2 / halfLifeMs;
  let usage = 0;
  for (let i = 0; i < values.length; i += 1) {
    const startMs = current.tsMs[i] ?? 0;
    const midMs = (startMs + Math.min(startMs + bucketMs, nowMs)) / 2;
    usage += (values[i] ?? 0) * Math.exp(-decayPerMs * (nowMs - midMs));
  }
  const exposure =
    discountedProfileMassMs(profile, timeline, fitStartMs, nowMs, nowMs, halfLifeMs) / bucketMs;
  return { usage, exposure };
}

/**
 * Relative variance of the forecast mean due to the learnt profile. The level is measured on the
 * profile mass already seen (the prior's full days, in proportion `priorShare`, and the window so
 * far) and projected on the mass still to come; an error in an hour's weight cancels where both
 * contain that hour equally. With independent hour errors of relative variance `1 / evidence[h]`:
 * Σ_h (future share_h - past share_h)² / evidence_h.
 */
function profileShapeVariance(
  profile: HourProfile,
  timeline: OffsetTimeline,
  fitStartMs: number,
  nowMs: number,
  resetAtMs: number,
  priorShare: number,
): number {
  const future = profileMassByHour(profile, timeline, nowMs, resetAtMs);
  const past = profileMassByHour(profile, timeline, fitStartMs, nowMs);
  let futureMass = 0;
  let pastMass = 0;
  for (let hour = 0; hour < 24; hour += 1) {
    futureMass += future[hour] ?? 0;
    pastMass += past[hour] ?? 0;
  }
  if (!(futureMass > 0)) return 0;
  const windowShare = pastMass > 0 ? 1 - priorShare : 0;
  let variance = 0;
  for (let hour = 0; hour < 24; hour += 1) {
    const pastShare =
      (1 - windowShare) * ((profile.weights[hour] ?? 1) / 24) +
      (pastMass > 0 ? (windowShare * (past[hour] ?? 0)) / pastMass : 0);
    variance += ((future[hour] ?? 0) / futureMass - pastShare) ** 2 / (profile.evidence[hour] ?? Infinity);
  }
  return variance;
}

/**
 * Forecasts when a quota runs out before its reset: headroom's method.
 *
 * Model: usage in a bucket is overdispersed Poisson with mean `level × profile(t)`, where `profile` is
 * the hour-of-day shape learnt from `history` (mean 1; flat with less than two days of history) and
 * `level` is the window's intensity. `level` gets a gamma prior from the previous windows
 * (recency-weighted with a memory fitted to how well it predicted them, `fitBlockHalfLife`; the
 * window-to-window variability as its spread) and is updated with the current window only (a reset is
 * a sawtooth, not a trend), in units of effective events (usage / dispersion), recent buckets weighted
 * more, ended bursts capped (`capBursts`) and an ongoing surge followed (`SURGE_Z_FROM`). The
 * dispersion (variance-to-mean ratio of bucket usage) comes from both. Future usage until reset is
 * then a gamma-mixed Poisson (negative binomial) with mean `level × profile mass(now, reset)`, widened
 * by the uncertainty of the learnt profile and by how far the rest of past windows strayed from their
 * level so far (`splitDriftVariance`: traffic that switches on and off within the day is not
 * projected with the confidence of steady traffic); `pExhaust` is
 * its tail beyond `remaining` and the ETA quantiles are where that tail, over a growing horizon,
 * crosses 10 %, 50 % and 90 %. Everything is closed form, deterministic, no sampling; the cost is
 * linear in the number of points (history is first summed into cells of up to an hour).
 *
 * `insufficient_data` when neither the history (a day, or ten windows for short windows) nor the
 * elapsed window (ten buckets and 5 % of the window) is enough, or when `used` is positive but the
 * series show no usage at all (they do not describe this quota).
 */
export function forecastExhaustion(input: ForecastInput): Forecast {
  assertForecastInput(input);
  const base = forecastBase(EXHAUSTION_METHOD, input);
  const { nowMs, windowStartMs, resetAtMs, limit, used, bucketMs } = input;
  if (used >= limit) return exhaustedForecast(base, nowMs);
  const timeZone = input.timeZone ?? 'UTC';
  assertTimeZone(timeZone, 'timeZone');
  const windowMs = resetAtMs - windowStartMs;
  // The fit starts at the first whole bucket of the window: a bucket straddling the reset mixes usage
  // from both sides.
  const fitStartMs = Math.min(nowMs, Math.ceil(windowStartMs / bucketMs) * bucketMs);
  const historySeries = selectSeries(input.history, Number.NEGATIVE_INFINITY, fitStartMs);
  const current = selectSeries(input.current, fitStartMs, nowMs);
  const cellMs = historyCellMs(windowMs, bucketMs);
  // History starts with its first cell; the part of that cell before the first bucket counts as idle.
  const firstHistoryMs = historySeries.tsMs[0];
  const spanStartMs =
    firstHistoryMs === undefined
      ? fitStartMs
      : Math.min(fitStartMs, Math.floor(firstHistoryMs / cellMs) * cellMs);

  const elapsedMs = nowMs - fitStartMs;
  const historyIsEnough =
    historySeries.tsMs.length > 0 &&
    fitStartMs - spanStartMs >= Math.min(MS_PER_DAY, 10 * Math.max(windowMs, bucketMs));
  const windowIsEnough = elapsedMs >= Math.max(10 * bucketMs, 0.05 * windowMs);
  if (!historyIsEnough && !windowIsEnough) return insufficientDataForecast(base);
  const seesUsage =
    current.values.some((value) => value > 0) || historySeries.values.some((value) => value > 0);
  if (used > 0 && !seesUsage) return insufficientDataForecast(base);

  const timeline = buildOffsetTimeline(timeZone, spanStartMs, Math.max(resetAtMs, nowMs));
  const history =
    historySeries.tsMs.length > 0
      ? summariseHistory(
          cellMs === bucketMs ? historySeries : resampleSeries(historySeries, cellMs),
          spanStartMs,
          fitStartMs,
          windowMs,
          cellMs,
          nowMs,
          elapsedMs,
          timeline,
        )
      : undefined;
  // The history's level and exposure are per cell; the window's per bucket.
  const bucketsPerCell = cellMs / bucketMs;
  const profile = history?.profile ?? FLAT_PROFILE;

  fillBucketMasses(current.tsMs, current.exposures, nowMs, bucketMs, profile, timeline);
  const currentExposure = profileMassMs(profile, timeline, fitStartMs, nowMs) / bucketMs;
  const currentBuckets = Math.ceil(elapsedMs / bucketMs);
  const capped = capBursts(current, currentExposure, currentBuckets, bucketMs, nowMs, nowMs);

  let currentUsage = 0;
  let pointExposure = 0;
  let wholePoints = 0;
  const sums = emptySums();
  for (let i = 0; i < capped.length; i += 1) {
    const value = capped[i] ?? 0;
    const bucketExposure = current.exposures[i] ?? 0;
    currentUsage += value;
    pointExposure += bucketExposure;
    if ((current.tsMs[i] ?? 0) + bucketMs <= nowMs) {
      addBucket(sums, value, bucketExposure);
      wholePoints += 1;
    }
  }
  const wholeBuckets = Math.floor(elapsedMs / bucketMs);
  // Empty buckets are whole ones, except possibly the one still filling (at most one bucket).
  sums.emptyExposure = Math.max(0, currentExposure - pointExposure);
  sums.emptyBuckets = Math.max(0, wholeBuckets - wholePoints);
  const currentLevel = currentExposure > 0 ? currentUsage / currentExposure : 0;

  // Dispersion: the window's and the history's deviations, each corrected for the levels (and the
  // profile) fitted to the same data, over their expected usage.
  let deviation = 0;
  let expected = 0;
  if (wholeBuckets >= 2) {
    deviation += (squaredDeviation(sums, currentLevel) * wholeBuckets) / (wholeBuckets - 1);
    expected += expectedUsage(sums, currentLevel);
  }
  if (history !== undefined && history.buckets - history.parameters >= 2) {
    deviation += (history.squaredDeviation * history.buckets) / (history.buckets - history.parameters);
    expected += history.expectedUsage;
  }
  const historyLevel = (history?.level ?? 0) / bucketsPerCell;
  const roughLevel = Math.max(currentLevel, historyLevel);
  // Without data to measure it, assume each bucket's usage came as one lump (the widest spread); keep
  // it positive, as perfectly regular usage would otherwise claim infinite certainty.
  let dispersion = expected > 0 ? deviation / expected : roughLevel;
  dispersion = Math.max(dispersion, 1e-6 * roughLevel);
  if (!(dispersion > 0) || !Number.isFinite(dispersion)) dispersion = 1;

  // Gamma posterior of θ = level / dispersion (effective events per bucket at profile weight 1).
  let priorShape = JEFFREYS_SHAPE;
  let priorRate = 0;
  if (history !== undefined && history.exposure > 0) {
    priorShape = 1 / levelVariation(history.blocks, dispersion, windowMs);
    // A silent history still only proves the level is below about half an event over its span.
    const priorLevel = Math.max(historyLevel, (0.5 * dispersion) / (history.exposure * bucketsPerCell));
    priorRate = (priorShape * dispersion) / priorLevel;
  }
  const long = discountedWindow(
    current,
    capped,
    fitStartMs,
    nowMs,
    bucketMs,
    Math.max(windowMs * LONG_HALF_LIFE_WINDOWS, 6 * bucketMs),
    profile,
    timeline,
  );
  const longShape = priorShape + long.usage / dispersion;
  const longRate = priorRate + long.exposure;
  if (!(longRate > 0)) return insufficientDataForecast(base);
  let level = (dispersion * longShape) / longRate;
  let levelVariance = (dispersion * dispersion * longShape) / (longRate * longRate);

  const short = discountedWindow(
    current,
    capped,
    fitStartMs,
    nowMs,
    bucketMs,
    Math.max(windowMs * SHORT_HALF_LIFE_WINDOWS, 3 * bucketMs),
    profile,
    timeline,
  );
  const shortExpected = level * short.exposure;
  const shortSpread = Math.sqrt(dispersion * shortExpected + short.exposure * short.exposure * levelVariance);
  const surgeZ = shortSpread > 0 ? (short.usage - shortExpected) / shortSpread : 0;
  const surgeWeight = Math.min(1, Math.max(0, (surgeZ - SURGE_Z_FROM) / (SURGE_Z_FULL - SURGE_Z_FROM)));
  if (surgeWeight > 0) {
    // The recent rate under a weak prior centred on the long-run level; the level becomes the mixture.
    const shortShape = 1 + short.usage / dispersion;
    const shortRate = dispersion / level + short.exposure;
    const shortLevel = (dispersion * shortShape) / shortRate;
    const shortVariance = (dispersion * dispersion * shortShape) / (shortRate * shortRate);
    const mixedLevel = (1 - surgeWeight) * level + surgeWeight * shortLevel;
    levelVariance =
      (1 - surgeWeight) * (levelVariance + level * level) +
      surgeWeight * (shortVariance + shortLevel * shortLevel) -
      mixedLevel * mixedLevel;
    level = mixedLevel;
  }
  const ratePerMs = (level * profileWeightAt(profile, timeline, nowMs)) / bucketMs;

  const shapeVariance = profile.flat
    ? 0
    : profileShapeVariance(profile, timeline, fitStartMs, nowMs, resetAtMs, priorShape / longShape);

  // The drift measured on past windows applies to what the level estimate learnt from this window.
  const driftVariance = (history?.driftVariance ?? 0) * (1 - priorShape / longShape);

  const remaining = limit - used;
  // Continuity correction: usage arrives in lumps of about `dispersion`.
  const threshold = remaining - 0.5 * Math.min(dispersion, remaining);
  const tailAt = (massBuckets: number): number => {
    const mean = massBuckets * level;
    return gammaTailByMoments(
      mean,
      dispersion * mean +
        massBuckets * massBuckets * levelVariance +
        mean * mean * (shapeVariance + driftVariance),
      threshold,
    );
  };
  const horizonBuckets = profileMassMs(profile, timeline, nowMs, resetAtMs) / bucketMs;
  const pExhaust = horizonBuckets > 0 ? tailAt(horizonBuckets) : 0;

  // Exhaustion by time t ⇔ usage in (now, t] >= remaining, so P(T <= t) is the same tail over the
  // shorter horizon; it grows with the horizon, and bisection finds where it crosses each quantile.
  const etaAt = (quantile: number, atLeastMs: number | null): number | null => {
    if (!(pExhaust >= quantile)) return null;
    let low = 0;
    let high = horizonBuckets;
    const resolutionBuckets = Math.max(ETA_RESOLUTION_MS / bucketMs, horizonBuckets * 1e-6);
    while (high - low > resolutionBuckets) {
      const mid = (low + high) / 2;
      if (tailAt(mid) >= quantile) high = mid;
      else low = mid;
    }
    const etaMs = Math.min(
      resetAtMs,
      Math.round(timeAtProfileMass(profile, timeline, nowMs, high * bucketMs)),
    );
    return atLeastMs === null ? etaMs : Math.max(atLeastMs, etaMs);
  };
  const etaP10Ms = etaAt(0.1, null);
  const etaP50Ms = etaAt(0.5, etaP10Ms);
  const etaP90Ms = etaAt(0.9, etaP50Ms);
  const expectedUsageUntilReset = horizonBuckets * level;
  const forecast: Forecast = {
    ...base,
    status: 'ok',
    etaP10Ms,
    etaP50Ms,
    etaP90Ms,
    pExhaust,
    ratePerMs,
    expectedUsageUntilReset,
  };
  if (input.fanAtMs === undefined) return forecast;

  // The fan is the same predictive distribution read the other way: the usage quantile at t. Scaling
  // the threshold onto the remaining quota makes the p90 line reach the limit exactly at etaP10.
  const scale = threshold > 0 ? remaining / threshold : 1;
  const usageQuantile = (massBuckets: number, quantile: number): number => {
    const mean = massBuckets * level;
    const variance =
      dispersion * mean +
      massBuckets * massBuckets * levelVariance +
      mean * mean * (shapeVariance + driftVariance);
    if (!(mean > 0)) return used;
    let low = 0;
    let high = mean + 20 * Math.sqrt(Math.max(variance, 0)) + 1;
    for (let i = 0; i < 50 && high - low > 1e-6 * high; i += 1) {
      const mid = (low + high) / 2;
      if (gammaTailByMoments(mean, variance, mid) > 1 - quantile) low = mid;
      else high = mid;
    }
    return Math.min(limit, used + ((low + high) / 2) * scale);
  };
  forecast.fan = input.fanAtMs.map((atMs) => {
    const t = Math.min(Math.max(atMs, nowMs), resetAtMs);
    const massBuckets = profileMassMs(profile, timeline, nowMs, t) / bucketMs;
    return {
      atMs: t,
      p10: usageQuantile(massBuckets, 0.1),
      p50: usageQuantile(massBuckets, 0.5),
      p90: usageQuantile(massBuckets, 0.9),
    };
  });
  return forecast;
}
