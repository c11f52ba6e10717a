import type { KeySeries, Store, UsageBucketRow } from '../store/index.ts';

const HOUR_MS = 3_600_000;
/** Recent buckets are re-read this far back every cycle, so that late spans are counted. */
const LATE_MARGIN_MS = 20 * 60_000;
/** Fine buckets are kept this long (a day window, plus DST and margin); older usage is kept per hour. */
const FINE_SPAN_MS = 26 * HOUR_MS;

type Dimension = 'requests' | 'input_tokens' | 'output_tokens' | 'cost_usd';
const DIMENSIONS: readonly Dimension[] = ['requests', 'input_tokens', 'output_tokens', 'cost_usd'];

/** One key's usage: hourly sums before `fineFromMs`, buckets of the cycle's width after. */
export interface CachedSeries {
  pool: string;
  key_id: string;
  partition: string;
  provider: string;
  hours: Columns;
  fine: Columns;
}

export interface Columns {
  t: number[];
  requests: number[];
  input_tokens: number[];
  output_tokens: number[];
  cost_usd: number[];
}

function emptyColumns(): Columns {
  return { t: [], requests: [], input_tokens: [], output_tokens: [], cost_usd: [] };
}

function columnsOf(series: KeySeries): Columns {
  return {
    t: series.t,
    requests: series.requests,
    input_tokens: series.input_tokens,
    output_tokens: series.output_tokens,
    cost_usd: series.cost_usd,
  };
}

/** Usage of one key before the cache's coverage, for windows that started earlier (e.g. a month). */
interface Prefix {
  /** Usage in [windowStartMs, untilMs). */
  untilMs: number;
  byKey: Map<string, UsageBucketRow>;
}

function keyOf(pool: string, keyId: string): string {
  return `${pool}\u0000${keyId}`;
}

/**
 * Keeps every key's usage series in memory between cycles, so that a cycle reads only the last
 * minutes from ClickHouse instead of days of rollups for every key. The first cycle (and a restart)
 * loads the history once: hourly sums (all the forecasting core uses of history for day and month
 * windows) and fine buckets for the last day.
 */
export class SeriesCache {
  readonly #bucketMs: number;
  #keys = new Map<string, CachedSeries>();
  #loadedUntilMs: number | undefined;
  /** Hourly history starts here; nothing earlier is kept. */
  #coveredFromMs = 0;
  /** Fine buckets start here; `hours` holds everything before. */
  #fineFromMs = 0;
  #prefixes = new Map<number, Prefix>();

  constructor(bucketMs: number) {
    this.#bucketMs = bucketMs;
  }

  get coveredFromMs(): number {
    return this.#coveredFromMs;
  }

  get fineFromMs(): number {
    return this.#fineFromMs;
  }

  keys(): IterableIterator<CachedSeries> {
    return this.#keys.values();
  }

  get(pool: string, keyId: string): CachedSeries | undefined {
    return this.#keys.get(keyOf(pool, keyId));
  }

  /** Brings the cache up to `nowMs`, keeping `historyMs` of history. */
  async refresh(store: Store, nowMs: number, historyMs: number): Promise<void> {
    const bucketMs = this.#bucketMs;
    const untilMs = nowMs + 60_000; // the minute in progress is in the rollup already
    const coveredFromMs = Math.floor((nowMs - historyMs) / HOUR_MS) * HOUR_MS;
    const fineFromMs = Math.floor((nowMs - FINE_SPAN_MS) / HOUR_MS) * HOUR_MS;
    if (this.#loadedUntilMs === undefined || this.#loadedUntilMs < fineFromMs) {
      this.#keys = new Map();
      this.#prefixes = new Map();
      this.#coveredFromMs = coveredFromMs;
      this.#fineFromMs = fineFromMs;
      for (const series of await store.readKeySeries(coveredFromMs, fineFromMs, 3_600)) {
        this.#entry(series).hours = columnsOf(series);
      }
      for (const series of await store.readKeySeries(fineFromMs, untilMs, bucketMs / 1000)) {
        this.#entry(series).fine = columnsOf(series);
      }
    } else {
      const fromMs = Math.floor((this.#loadedUntilMs - LATE_MARGIN_MS) / bucketMs) * bucketMs;
      const fresh = await store.readKeySeries(fromMs, untilMs, bucketMs / 1000);
      for (const cached of this.#keys.values()) truncate(cached.fine, fromMs);
      for (const series of fresh) {
        const entry = this.#entry(series);
        entry.partition = series.partition;
        entry.provider = series.provider;
        for (let i = 0; i < series.t.length; i++) {
          entry.fine.t.push(series.t[i] as number);
          for (const d of DIMENSIONS) entry.fine[d].push(series[d][i] as number);
        }
      }
      this.#roll(fineFromMs, coveredFromMs);
    }
    this.#loadedUntilMs = nowMs;
  }

  /**
   * Usage of every key in [windowStartMs, coveredFromMs): what the series do not hold of a window
   * that started before the cache's coverage. Read once per window, then carried along.
   */
  async prefix(store: Store, windowStartMs: number): Promise<ReadonlyMap<string, UsageBucketRow>> {
    let prefix = this.#prefixes.get(windowStartMs);
    if (prefix === undefined) {
      const rows = await store.readUsageTotals(windowStartMs, this.#coveredFromMs);
      prefix = {
        untilMs: this.#coveredFromMs,
        byKey: new Map(rows.map((r) => [keyOf(r.pool, r.key_id), r])),
      };
      this.#prefixes.set(windowStartMs, prefix);
    }
    return prefix.byKey;
  }

  /** Forgets prefixes of windows that are over. */
  keepPrefixes(windowStarts: ReadonlySet<number>): void {
    for (const start of this.#prefixes.keys()) if (!windowStarts.has(start)) this.#prefixes.delete(start);
  }

  #entry(series: KeySeries): CachedSeries {
    const id = keyOf(series.pool, series.key_id);
    let entry = this.#keys.get(id);
    if (entry === undefined) {
      entry = {
        pool: series.pool,
        key_id: series.key_id,
        partition: series.partition,
        provider: series.provider,
        hours: emptyColumns(),
        fine: emptyColumns(),
      };
      this.#keys.set(id, entry);
    }
    return entry;
  }

  /** Moves fine buckets older than `fineFromMs` into hourly sums and drops hours older than `coveredFromMs`. */
  #roll(fineFromMs: number, coveredFromMs: number): void {
    for (const [id, cached] of this.#keys) {
      let moved = 0;
      while (moved < cached.fine.t.length && (cached.fine.t[moved] as number) < fineFromMs) moved++;
      for (let i = 0; i < moved; i++) {
        const hour = Math.floor((cached.fine.t[i] as number) / HOUR_MS) * HOUR_MS;
        const last = cached.hours.t.length - 1;
        if (last < 0 || cached.hours.t[last] !== hour) {
          cached.hours.t.push(hour);
          for (const d of DIMENSIONS) cached.hours[d].push(0);
        }
        const at = cached.hours.t.length - 1;
        for (const d of DIMENSIONS)
          cached.hours[d][at] = (cached.hours[d][at] as number) + (cached.fine[d][i] as number);
      }
      if (moved > 0) dropFront(cached.fine, moved);
      let dropped = 0;
      while (dropped < cached.hours.t.length && (cached.hours.t[dropped] as number) < coveredFromMs) {
        // Usage leaving the cache still counts for windows that started before it.
        for (const prefix of this.#prefixes.values()) {
          const row = prefix.byKey.get(id) ?? {
            pool: cached.pool,
            key_id: cached.key_id,
            t: 0,
            requests: 0,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0,
          };
          for (const d of DIMENSIONS) row[d] += cached.hours[d][dropped] as number;
          prefix.byKey.set(id, row);
        }
        dropped++;
      }
      if (dropped > 0) dropFront(cached.hours, dropped);
      if (cached.hours.t.length === 0 && cached.fine.t.length === 0) this.#keys.delete(id);
    }
    for (const prefix of this.#prefixes.values()) prefix.untilMs = coveredFromMs;
    this.#fineFromMs = fineFromMs;
    this.#coveredFromMs = coveredFromMs;
  }
}

function truncate(columns: Columns, fromMs: number): void {
  let keep = columns.t.length;
  while (keep > 0 && (columns.t[keep - 1] as number) >= fromMs) keep--;
  columns.t.length = keep;
  for (const d of DIMENSIONS) columns[d].length = keep;
}

function dropFront(columns: Columns, count: number): void {
  columns.t.splice(0, count);
  for (const d of DIMENSIONS) columns[d].splice(0, count);
}
