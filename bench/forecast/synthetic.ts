/**
 * Scenario (c): synthetic keys with known structure, seeded. Daily request quotas in UTC, traffic drawn
 * per minute (negative binomial, variance twice the mean), 5-minute buckets, seven days of history
 * before each evaluated day. The limit follows the same rule as for the real traces (75th percentile
 * of the previous seven days' totals) unless a case says otherwise.
 *
 * - steady: flat rate, each day's level off the usual by a lognormal factor (sd 0.25).
 * - diurnal: the same with a strong hour-of-day shape (peak 14:00, trough 02:00).
 * - trend: diurnal, growing 8 % a day: each day tends to beat the week before it.
 * - burst: diurnal plus, on 40 % of days, a 20-minute burst at a random time worth 30-100 % of a
 *   usual day's volume.
 * - idle_then_active: idle until a random hour (06:00-16:00), then busy until midnight.
 * - near_reset: most traffic in the last hours of the day (batch jobs), so days run out close to reset.
 * - partition: three keys with different daily shapes drawing from one partition quota; the forecast
 *   sees their sum, as the analytics cycle does for partitions.
 */
import type { UsagePoint } from '../../src/forecast/index.ts';
import { createRandom, quantile, sampleOverdispersed, sampleStandardNormal, seedOf } from './random.ts';
import type { Random } from './random.ts';
import { DAY_MS, isUnforeseeable, MINUTE_MS, replayDailyCase } from './replay.ts';
import type { CaseOutcome, DailyCase } from './replay.ts';

const EPOCH_MS = Date.UTC(2024, 2, 4);
const BUCKET_MS = 5 * MINUTE_MS;
const MINUTES_PER_DAY = 1440;
const BUCKETS_PER_DAY = DAY_MS / BUCKET_MS;
const HISTORY_DAYS = 7;
const LIMIT_QUANTILE = 0.75;
/** Requests on a usual day. */
const DAILY_VOLUME = 20_000;
const MINUTE_DISPERSION = 2;

/** One key's expected requests per minute of one day (length 1440), given the day and a generator. */
type DayShape = (day: number, random: Random) => Float64Array;

function lognormal(random: Random, sd: number): number {
  return Math.exp(sd * sampleStandardNormal(random) - (sd * sd) / 2);
}

/** Shape with mean 1 over the day: 1 + amplitude · cos(2π (minute - peak) / day). */
function diurnal(peakHour: number, amplitude: number): Float64Array {
  const shape = new Float64Array(MINUTES_PER_DAY);
  for (let m = 0; m < MINUTES_PER_DAY; m += 1) {
    shape[m] = 1 + amplitude * Math.cos((2 * Math.PI * (m - peakHour * 60)) / MINUTES_PER_DAY);
  }
  return shape;
}

function scaled(shape: Float64Array, dailyVolume: number): Float64Array {
  let sum = 0;
  for (const value of shape) sum += value;
  return shape.map((value) => (value * dailyVolume) / sum);
}

const FLAT = new Float64Array(MINUTES_PER_DAY).fill(1);
const DIURNAL = diurnal(14, 0.9);

const steady: DayShape = (_day, random) => scaled(FLAT, DAILY_VOLUME * lognormal(random, 0.25));
const diurnalDay: DayShape = (_day, random) => scaled(DIURNAL, DAILY_VOLUME * lognormal(random, 0.25));
const trend: DayShape = (day, random) =>
  scaled(DIURNAL, DAILY_VOLUME * 1.08 ** day * lognormal(random, 0.15));
const burst: DayShape = (_day, random) => {
  const rates = scaled(DIURNAL, DAILY_VOLUME * lognormal(random, 0.15));
  if (random() < 0.4) {
    const start = Math.floor(random() * (MINUTES_PER_DAY - 20));
    const volume = DAILY_VOLUME * (0.3 + 0.7 * random());
    for (let m = start; m < start + 20; m += 1) rates[m] = (rates[m] ?? 0) + volume / 20;
  }
  return rates;
};
const idleThenActive: DayShape = (_day, random) => {
  const onset = Math.floor((6 + 10 * random()) * 60);
  const shape = new Float64Array(MINUTES_PER_DAY);
  for (let m = onset; m < MINUTES_PER_DAY; m += 1) shape[m] = 1;
  return scaled(shape, DAILY_VOLUME * lognormal(random, 0.25));
};
const NEAR_RESET = (() => {
  const shape = new Float64Array(MINUTES_PER_DAY).fill(0.1);
  for (let m = 18 * 60; m < MINUTES_PER_DAY; m += 1) shape[m] = 2.5;
  return shape;
})();
const nearReset: DayShape = (_day, random) => scaled(NEAR_RESET, DAILY_VOLUME * lognormal(random, 0.25));
const PARTITION_SHAPES = [diurnal(10, 0.8), diurnal(15, 0.9), diurnal(20, 0.7)];
const partition: DayShape = (_day, random) => {
  const total = new Float64Array(MINUTES_PER_DAY);
  PARTITION_SHAPES.forEach((shape, k) => {
    const rates = scaled(shape, (DAILY_VOLUME / (k + 1)) * lognormal(random, 0.3));
    for (let m = 0; m < MINUTES_PER_DAY; m += 1) total[m] = (total[m] ?? 0) + (rates[m] ?? 0);
  });
  return total;
};

export const SYNTHETIC_CASES: ReadonlyArray<{ name: string; shape: DayShape }> = [
  { name: 'steady', shape: steady },
  { name: 'diurnal', shape: diurnalDay },
  { name: 'trend', shape: trend },
  { name: 'burst', shape: burst },
  { name: 'idle_then_active', shape: idleThenActive },
  { name: 'near_reset', shape: nearReset },
  { name: 'partition', shape: partition },
];

/** Replays `keys` keys of every case over `evaluatedDays` days each; `replay` is a hook for experiments. */
export function runSynthetic(
  keys: number,
  evaluatedDays: number,
  replay: (item: DailyCase) => CaseOutcome = replayDailyCase,
): CaseOutcome[] {
  const outcomes: CaseOutcome[] = [];
  const days = HISTORY_DAYS + evaluatedDays;
  for (const { name, shape } of SYNTHETIC_CASES) {
    for (let key = 0; key < keys; key += 1) {
      const random = createRandom(seedOf(`synthetic:${name}:${key}`));
      const perMinute = new Float64Array(days * MINUTES_PER_DAY);
      for (let day = 0; day < days; day += 1) {
        const rates = shape(day, random);
        for (let m = 0; m < MINUTES_PER_DAY; m += 1) {
          perMinute[day * MINUTES_PER_DAY + m] = sampleOverdispersed(
            random,
            rates[m] ?? 0,
            MINUTE_DISPERSION,
          );
        }
      }
      outcomes.push(...replayKey(`${name}/${key}`, name, perMinute, days, replay));
    }
  }
  return outcomes;
}

function replayKey(
  subject: string,
  scenario: string,
  perMinute: Float64Array,
  days: number,
  replay: (item: DailyCase) => CaseOutcome,
): CaseOutcome[] {
  const minutesPerBucket = BUCKET_MS / MINUTE_MS;
  const perBucket = new Float64Array(days * BUCKETS_PER_DAY);
  const dayTotals = new Array<number>(days).fill(0);
  perMinute.forEach((value, m) => {
    perBucket[Math.floor(m / minutesPerBucket)] = (perBucket[Math.floor(m / minutesPerBucket)] ?? 0) + value;
    dayTotals[Math.floor(m / MINUTES_PER_DAY)] = (dayTotals[Math.floor(m / MINUTES_PER_DAY)] ?? 0) + value;
  });
  const usageBetween = (fromMs: number, toMs: number): number => {
    let sum = 0;
    const from = Math.max(0, Math.ceil((fromMs - EPOCH_MS) / MINUTE_MS));
    const to = Math.min(perMinute.length, Math.ceil((toMs - EPOCH_MS) / MINUTE_MS));
    for (let m = from; m < to; m += 1) sum += perMinute[m] ?? 0;
    return sum;
  };
  const outcomes: CaseOutcome[] = [];
  for (let day = HISTORY_DAYS; day < days; day += 1) {
    const limit = Math.ceil(quantile(dayTotals.slice(day - HISTORY_DAYS, day), LIMIT_QUANTILE));
    const windowStartMs = EPOCH_MS + day * DAY_MS;
    const history: UsagePoint[] = [];
    for (let b = (day - HISTORY_DAYS) * BUCKETS_PER_DAY; b < day * BUCKETS_PER_DAY; b += 1) {
      const value = perBucket[b] ?? 0;
      if (value > 0) history.push({ tsMs: EPOCH_MS + b * BUCKET_MS, value });
    }
    // Requests of a minute are spread evenly over it; the limit-th one marks the exhaustion.
    let exhaustMs: number | null = null;
    let used = 0;
    for (let m = day * MINUTES_PER_DAY; m < (day + 1) * MINUTES_PER_DAY; m += 1) {
      const count = perMinute[m] ?? 0;
      if (used + count >= limit) {
        exhaustMs = EPOCH_MS + (m + (limit - used - 0.5) / count) * MINUTE_MS;
        break;
      }
      used += count;
    }
    outcomes.push(
      replay({
        scenario,
        subject,
        windowStartMs,
        resetAtMs: windowStartMs + DAY_MS,
        limit,
        bucketMs: BUCKET_MS,
        history,
        buckets: perBucket.subarray(day * BUCKETS_PER_DAY, (day + 1) * BUCKETS_PER_DAY),
        exhaustMs,
        unforeseeable: exhaustMs !== null && isUnforeseeable(windowStartMs, exhaustMs, usageBetween),
      }),
    );
  }
  return outcomes;
}
