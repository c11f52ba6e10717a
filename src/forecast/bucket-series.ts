import type { UsageColumns, UsageSeries } from './types.ts';

/**
 * An array of `length` copies of `value`. Plain arrays rather than typed arrays: the forecast
 * allocates a dozen short arrays per call, and typed-array allocation costs more than the maths.
 */
export function filledArray(length: number, value: number): number[] {
  return new Array<number>(length).fill(value);
}

/** Usage buckets as parallel arrays, ascending by start time: the hot loops' working form. */
export interface BucketSeries {
  tsMs: number[];
  values: number[];
  /** Profile mass of each bucket, in buckets (1 for a whole bucket where the profile is 1). */
  exposures: number[];
}

/**
 * The buckets starting in `[fromMs, toMs)` with a finite value, ascending by time. Negative values
 * (corrections) count as zero. Sorted input (the contract) is copied in one pass; unsorted input is
 * sorted rather than trusted.
 */
export function selectSeries(series: UsageSeries | undefined, fromMs: number, toMs: number): BucketSeries {
  if (series === undefined) return { tsMs: [], values: [], exposures: [] };
  if (isColumns(series)) {
    const { tsMs, values } = series;
    const picked = new Picked(tsMs.length);
    for (let i = 0; i < tsMs.length; i += 1)
      picked.add(tsMs[i] ?? Number.NaN, values[i] ?? Number.NaN, fromMs, toMs);
    return picked.series();
  }
  const picked = new Picked(series.length);
  for (const point of series) picked.add(point.tsMs, point.value, fromMs, toMs);
  return picked.series();
}

function isColumns(series: UsageSeries): series is UsageColumns {
  return !Array.isArray(series);
}

/** Buckets picked in one pass, into arrays preallocated and truncated (faster than growing by push). */
class Picked {
  readonly tsMs: number[];
  readonly values: number[];
  count = 0;
  sorted = true;
  lastTsMs = Number.NEGATIVE_INFINITY;

  constructor(capacity: number) {
    this.tsMs = new Array<number>(capacity);
    this.values = new Array<number>(capacity);
  }

  add(startMs: number, value: number, fromMs: number, toMs: number): void {
    if (!(startMs >= fromMs && startMs < toMs) || !Number.isFinite(value)) return;
    if (startMs < this.lastTsMs) this.sorted = false;
    this.lastTsMs = startMs;
    this.tsMs[this.count] = startMs;
    this.values[this.count] = value > 0 ? value : 0;
    this.count += 1;
  }

  series(): BucketSeries {
    const { tsMs, values, count } = this;
    tsMs.length = count;
    values.length = count;
    const series: BucketSeries = { tsMs, values, exposures: new Array<number>(count).fill(0) };
    if (!this.sorted) {
      const order = tsMs.map((_, i) => i).sort((x, y) => (tsMs[x] ?? 0) - (tsMs[y] ?? 0));
      series.tsMs = order.map((i) => tsMs[i] ?? 0);
      series.values = order.map((i) => values[i] ?? 0);
    }
    return series;
  }
}

/**
 * Sums an ascending series into cells of `cellMs` (a multiple of the bucket width) aligned on
 * multiples of `cellMs` since the epoch, like the buckets themselves. Cells without usage are left
 * out, as empty buckets are.
 */
export function resampleSeries(series: BucketSeries, cellMs: number): BucketSeries {
  const tsMs: number[] = [];
  const values: number[] = [];
  let cellStartMs = Number.NaN;
  let cellUsage = 0;
  for (let i = 0; i < series.tsMs.length; i += 1) {
    const startMs = Math.floor((series.tsMs[i] ?? 0) / cellMs) * cellMs;
    if (startMs !== cellStartMs) {
      if (!Number.isNaN(cellStartMs)) {
        tsMs.push(cellStartMs);
        values.push(cellUsage);
      }
      cellStartMs = startMs;
      cellUsage = 0;
    }
    cellUsage += series.values[i] ?? 0;
  }
  if (!Number.isNaN(cellStartMs)) {
    tsMs.push(cellStartMs);
    values.push(cellUsage);
  }
  return { tsMs, values, exposures: new Array<number>(tsMs.length).fill(0) };
}

/**
 * The `k`-th largest entry (k >= 1) of `values`, in expected linear time. Reorders `values`, which
 * must be a scratch copy.
 */
export function kthLargest(values: number[], k: number): number {
  let low = 0;
  let high = values.length - 1;
  const target = k - 1;
  while (high > low) {
    const pivot = values[(low + high) >>> 1] ?? 0;
    let i = low;
    let j = high;
    while (i <= j) {
      while ((values[i] ?? 0) > pivot) i += 1;
      while ((values[j] ?? 0) < pivot) j -= 1;
      if (i <= j) {
        const swap = values[i] ?? 0;
        values[i] = values[j] ?? 0;
        values[j] = swap;
        i += 1;
        j -= 1;
      }
    }
    if (target <= j) high = j;
    else if (target >= i) low = i;
    else break;
  }
  return values[target] ?? 0;
}
