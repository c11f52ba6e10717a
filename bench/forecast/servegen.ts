/**
 * Scenario (a): real per-client traffic of a commercial LLM API (ServeGen, Alibaba Bailian), each client
 * a key with a daily request quota.
 *
 * Arrivals: each ten-minute window carries `rate_rps × 600` requests (scaled, see `TARGET_DAILY_REQUESTS`,
 * and rounded at random), placed inside the window with inter-arrival gaps drawn from the window's
 * fitted distribution (Weibull or Gamma with the fitted shape `iat_param1`); the gaps are then
 * stretched to span the window, which keeps the fitted burstiness and exactly the recorded volume.
 * (The Gamma fits are (shape, scale) with mean 1 / rate; the Weibull scales do not match the rates,
 * by a median factor of 1.8, so only the shapes are used.) Seeded per client.
 *
 * Quotas: a key-day's limit is the 75th percentile (nearest rank) of the key's previous seven days'
 * totals, so a day runs out when it is busier than three days out of four of the week before it; about
 * 30 % of key-days do. Evaluated: days 3-13, with at least three active days among the previous seven,
 * a limit of at least `MIN_LIMIT` requests, and some traffic on the day itself.
 */
import { gammaln } from 'simple-statistics';
import type { UsagePoint } from '../../src/forecast/index.ts';
import { createRandom, median, quantile, sampleGamma, sampleWeibull, seedOf } from './random.ts';
import type { Random } from './random.ts';
import { DAY_MS, isSurge, REQUIRED_LEAD_MS, replayDailyCase } from './replay.ts';
import type { CaseOutcome, DailyCase } from './replay.ts';
import {
  IAT_WEIBULL,
  readServegenClients,
  SERVEGEN_DAYS,
  SERVEGEN_WINDOW_S,
  SERVEGEN_WINDOWS_PER_DAY,
} from './traces.ts';
import type { ServegenClient } from './traces.ts';

/** Local midnight of trace day 0, taken as UTC (a Monday). */
export const SERVEGEN_EPOCH_MS = Date.UTC(2024, 0, 1);
const BUCKET_MS = 5 * 60_000;
const BUCKETS_PER_DAY = DAY_MS / BUCKET_MS;
const SECONDS_PER_DAY = 86_400;
/**
 * Clients are scaled down to at most this many requests on an average active day (the README allows
 * scaling: absolute rates may be scaled). Keeps sampling fast; at this volume the counting noise is
 * far below the traffic's own variability, which is what the forecasts are up against.
 */
const TARGET_DAILY_REQUESTS = 20_000;
const HISTORY_DAYS = 7;
const FIRST_EVALUATED_DAY = 3;
const MIN_ACTIVE_PRIOR_DAYS = 3;
const MIN_LIMIT = 1000;
const LIMIT_QUANTILE = 0.75;
/** Silence this long before a surge makes it a switch-on. */
const IDLE_MS = 3_600_000;

interface ClientTraffic {
  perSecond: Uint32Array;
  perBucket: Float64Array;
  dayTotals: number[];
}

/** Unit-mean gap samplers: a Weibull or Gamma gap divided by its mean. */
export function sampleUnitGap(random: Random, dist: number, shape: number): number {
  if (dist === IAT_WEIBULL) return sampleWeibull(random, shape) / Math.exp(gammaln(1 + 1 / shape));
  return sampleGamma(random, shape) / shape;
}

function sampleClient(client: ServegenClient, scale: number, perSecond: Uint32Array): ClientTraffic {
  perSecond.fill(0);
  const random = createRandom(seedOf(`servegen:${client.id}`));
  const gaps: number[] = [];
  for (let w = 0; w < client.rateRps.length; w += 1) {
    const expected = (client.rateRps[w] ?? 0) * SERVEGEN_WINDOW_S * scale;
    if (!(expected > 0)) continue;
    const count = Math.floor(expected) + (random() < expected - Math.floor(expected) ? 1 : 0);
    if (count === 0) continue;
    const dist = client.iatDist[w] ?? 0;
    const shape = client.iatShape[w] ?? 1;
    // count + 1 gaps: before the first request, between requests, after the last one.
    gaps.length = 0;
    let span = 0;
    for (let j = 0; j <= count; j += 1) {
      const gap = sampleUnitGap(random, dist, shape);
      gaps.push(gap);
      span += gap;
    }
    const startS = w * SERVEGEN_WINDOW_S;
    let at = 0;
    for (let j = 0; j < count; j += 1) {
      at += gaps[j] ?? 0;
      const second = Math.min(
        startS + SERVEGEN_WINDOW_S - 1,
        startS + Math.floor((at / span) * SERVEGEN_WINDOW_S),
      );
      perSecond[second] = (perSecond[second] ?? 0) + 1;
    }
  }
  const perBucket = new Float64Array(SERVEGEN_DAYS * BUCKETS_PER_DAY);
  const secondsPerBucket = BUCKET_MS / 1000;
  for (let s = 0; s < perSecond.length; s += 1) {
    const value = perSecond[s] ?? 0;
    if (value > 0)
      perBucket[Math.floor(s / secondsPerBucket)] =
        (perBucket[Math.floor(s / secondsPerBucket)] ?? 0) + value;
  }
  const dayTotals: number[] = [];
  for (let d = 0; d < SERVEGEN_DAYS; d += 1) {
    let total = 0;
    for (let b = d * BUCKETS_PER_DAY; b < (d + 1) * BUCKETS_PER_DAY; b += 1) total += perBucket[b] ?? 0;
    dayTotals.push(total);
  }
  return { perSecond, perBucket, dayTotals };
}

/** Limit of day `day` from the previous days' totals, or null when the day is not evaluated. */
function limitFor(dayTotals: readonly number[], day: number): number | null {
  if (day < FIRST_EVALUATED_DAY) return null;
  const previous = dayTotals.slice(Math.max(0, day - HISTORY_DAYS), day);
  if (previous.filter((total) => total > 0).length < MIN_ACTIVE_PRIOR_DAYS) return null;
  const limit = Math.ceil(quantile(previous, LIMIT_QUANTILE));
  if (!(limit >= MIN_LIMIT) || !((dayTotals[day] ?? 0) > 0)) return null;
  return limit;
}

/** Scale of a client's rates (<= 1) and whether any of its days can be evaluated at that scale. */
function planClient(client: ServegenClient): { scale: number; evaluable: boolean } {
  const estimated: number[] = [];
  for (let d = 0; d < SERVEGEN_DAYS; d += 1) {
    let total = 0;
    for (let w = d * SERVEGEN_WINDOWS_PER_DAY; w < (d + 1) * SERVEGEN_WINDOWS_PER_DAY; w += 1) {
      total += (client.rateRps[w] ?? 0) * SERVEGEN_WINDOW_S;
    }
    estimated.push(total);
  }
  const active = estimated.filter((total) => total > 0);
  const meanActive = active.reduce((sum, total) => sum + total, 0) / Math.max(1, active.length);
  const scale = meanActive > TARGET_DAILY_REQUESTS ? TARGET_DAILY_REQUESTS / meanActive : 1;
  // With 5 % slack: sampled totals differ from the estimate by the rounding of each window only.
  const scaled = estimated.map((total) => total * scale * 1.05);
  const evaluable = scaled.some((_, day) => limitFor(scaled, day) !== null);
  return { scale, evaluable };
}

function exhaustionMs(perSecond: Uint32Array, day: number, limit: number): number | null {
  let used = 0;
  for (let s = day * SECONDS_PER_DAY; s < (day + 1) * SECONDS_PER_DAY; s += 1) {
    const count = perSecond[s] ?? 0;
    if (used + count >= limit) {
      const fraction = (limit - used - 0.5) / count;
      return SERVEGEN_EPOCH_MS + (s + fraction) * 1000;
    }
    used += count;
  }
  return null;
}

/** Times of day at which the predictability of the rest of the day is measured. */
const SPLIT_HOURS = [6, 12, 18];

/**
 * |log((actual + 1) / (projected + 1))| of the rest of `day` after `splitHour`, projected two ways:
 * `pace`, the day's usage so far scaled by the previous week's hour-of-day shape (what so far foretold),
 * and `week`, the previous week's mean usage over those hours (what history foretold). Null when the
 * previous week shows no usage before the split (no shape to scale by).
 */
function restOfDayErrors(
  perBucket: Float64Array,
  day: number,
  splitHour: number,
): { pace: number; week: number } | null {
  const split = (splitHour * BUCKETS_PER_DAY) / 24;
  const weekDays = Math.min(HISTORY_DAYS, day);
  let weekBefore = 0;
  let weekAfter = 0;
  for (let d = day - weekDays; d < day; d += 1) {
    for (let b = 0; b < BUCKETS_PER_DAY; b += 1) {
      const value = perBucket[d * BUCKETS_PER_DAY + b] ?? 0;
      if (b < split) weekBefore += value;
      else weekAfter += value;
    }
  }
  if (!(weekBefore > 0)) return null;
  let before = 0;
  let after = 0;
  for (let b = 0; b < BUCKETS_PER_DAY; b += 1) {
    const value = perBucket[day * BUCKETS_PER_DAY + b] ?? 0;
    if (b < split) before += value;
    else after += value;
  }
  const error = (projected: number): number => Math.abs(Math.log((after + 1) / (projected + 1)));
  return { pace: error((before * weekAfter) / weekBefore), week: error(weekAfter / weekDays) };
}

export interface ServegenResult {
  outcomes: CaseOutcome[];
  clients: number;
  /**
   * Median |log error| of projecting the rest of an evaluated key-day (see `restOfDayErrors`), per
   * split hour; 0.1 is about ±10 %, 0.5 about -40 % / +65 %.
   */
  restOfDay: Array<{ hour: number; pace: number; week: number; samples: number }>;
  /** Why events were unforeseeable (an event may have several reasons). */
  unforeseeable: {
    /** Ran out less than 30 minutes after midnight. */
    early: number;
    /** The last 30 minutes ran at more than three times the rate of the hour before (`isSurge`). */
    surge: number;
    /** Of those, usage began less than 30 minutes before the exhaustion (after an idle hour or more). */
    switch_on: number;
  };
}

/**
 * Replays every evaluated key-day. `clientStride` > 1 keeps every n-th client (BENCH_QUICK); `replay`
 * is the replay of one case (a hook for experiments).
 */
export function runServegen(
  clientStride: number,
  replay: (item: DailyCase) => CaseOutcome = replayDailyCase,
): ServegenResult {
  const clients = readServegenClients()
    .sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }))
    .filter((_, index) => index % clientStride === 0);
  const perSecond = new Uint32Array(SERVEGEN_DAYS * SECONDS_PER_DAY);
  const outcomes: CaseOutcome[] = [];
  const unforeseeable = { early: 0, surge: 0, switch_on: 0 };
  const paceErrors: number[][] = SPLIT_HOURS.map(() => []);
  const weekErrors: number[][] = SPLIT_HOURS.map(() => []);
  let evaluatedClients = 0;
  for (const client of clients) {
    const { scale, evaluable } = planClient(client);
    if (!evaluable) continue;
    const traffic = sampleClient(client, scale, perSecond);
    const usageBetween = (fromMs: number, toMs: number): number => {
      const from = Math.max(0, Math.ceil((fromMs - SERVEGEN_EPOCH_MS) / 1000));
      const to = Math.min(perSecond.length, Math.ceil((toMs - SERVEGEN_EPOCH_MS) / 1000));
      let sum = 0;
      for (let s = from; s < to; s += 1) sum += perSecond[s] ?? 0;
      return sum;
    };
    let evaluatedDays = 0;
    for (let day = 0; day < SERVEGEN_DAYS; day += 1) {
      const limit = limitFor(traffic.dayTotals, day);
      if (limit === null) continue;
      evaluatedDays += 1;
      SPLIT_HOURS.forEach((hour, i) => {
        const errors = restOfDayErrors(traffic.perBucket, day, hour);
        if (errors === null) return;
        paceErrors[i]?.push(errors.pace);
        weekErrors[i]?.push(errors.week);
      });
      const windowStartMs = SERVEGEN_EPOCH_MS + day * DAY_MS;
      const history: UsagePoint[] = [];
      for (let b = Math.max(0, day - HISTORY_DAYS) * BUCKETS_PER_DAY; b < day * BUCKETS_PER_DAY; b += 1) {
        const value = traffic.perBucket[b] ?? 0;
        if (value > 0) history.push({ tsMs: SERVEGEN_EPOCH_MS + b * BUCKET_MS, value });
      }
      const exhaustMs = exhaustionMs(perSecond, day, limit);
      let early = false;
      let surge = false;
      if (exhaustMs !== null) {
        early = exhaustMs - windowStartMs < REQUIRED_LEAD_MS;
        surge = isSurge(exhaustMs, usageBetween);
        const onsetMs = exhaustMs - REQUIRED_LEAD_MS;
        if (early) unforeseeable.early += 1;
        if (surge) unforeseeable.surge += 1;
        if (surge && usageBetween(onsetMs - IDLE_MS, onsetMs) === 0) unforeseeable.switch_on += 1;
      }
      outcomes.push(
        replay({
          scenario: 'servegen',
          subject: client.id,
          windowStartMs,
          resetAtMs: windowStartMs + DAY_MS,
          limit,
          bucketMs: BUCKET_MS,
          history,
          buckets: traffic.perBucket.subarray(day * BUCKETS_PER_DAY, (day + 1) * BUCKETS_PER_DAY),
          exhaustMs,
          unforeseeable: early || surge,
        }),
      );
    }
    if (evaluatedDays > 0) evaluatedClients += 1;
  }
  const restOfDay = SPLIT_HOURS.map((hour, i) => ({
    hour,
    pace: Number(median(paceErrors[i] ?? []).toFixed(3)),
    week: Number(median(weekErrors[i] ?? []).toFixed(3)),
    samples: paceErrors[i]?.length ?? 0,
  }));
  return { outcomes, clients: evaluatedClients, unforeseeable, restOfDay };
}
