/** What a quota counts. */
export type QuotaDimension = 'requests' | 'tokens' | 'input_tokens' | 'output_tokens' | 'cost_usd';

/**
 * When a quota's usage counter starts again.
 *
 * - `rolling`: a sliding window of `seconds` (RPM / TPM: 60).
 * - `calendar`: a local day or month in `timeZone` (IANA name, e.g. `America/Los_Angeles`), starting at
 *   `anchorHour` (0-23, default 0) and, for months, on `anchorDay` (1-31, default 1; clamped to the last
 *   day of shorter months, so 31 means "last day" in February).
 * - `provider`: a token bucket whose `remaining` and `reset_at` come from the latest response headers.
 */
export type QuotaWindow =
  | { kind: 'rolling'; seconds: number }
  | {
      kind: 'calendar';
      unit: 'day' | 'month';
      timeZone: string;
      /** Month windows only: day of the month the cycle starts on, 1-31. Default 1. */
      anchorDay?: number;
      /** Local hour (0-23) the window starts at. Default 0. */
      anchorHour?: number;
    }
  | { kind: 'provider' };

/** The current window of a quota: usage counted since `startMs` is forgiven at `resetAtMs`. */
export interface WindowBounds {
  startMs: number;
  resetAtMs: number;
}

/** What the provider reported for a `provider` window (from `keypool.ratelimit.<dim>.reset_at_ms`). */
export interface ReportedWindow {
  /** Absolute epoch ms at which the provider's bucket is full again. */
  resetAtMs: number;
  /** Length of the provider's window when known (e.g. 60 for a per-minute bucket). */
  windowSeconds?: number;
}

/** Usage added during the bucket `[tsMs, tsMs + bucketMs)`, e.g. one row of a per-minute rollup. */
export interface UsagePoint {
  tsMs: number;
  value: number;
}

/**
 * The same buckets as parallel columns (`values[i]` was used during `[tsMs[i], tsMs[i] + bucketMs)`),
 * e.g. a cached series passed without building a point per bucket. The arrays are only read.
 */
export interface UsageColumns {
  tsMs: ArrayLike<number>;
  values: ArrayLike<number>;
}

/** Buckets as points or as columns, sorted by time. */
export type UsageSeries = readonly UsagePoint[] | UsageColumns;

/**
 * One quota of one subject at one moment. The cost of a forecast grows with the number of points:
 * hourly history buckets over 7-14 days are plenty for the hour-of-day shape.
 *
 * Sliding windows (RPM / TPM, and provider token buckets, which refill continuously) have no reset
 * that forgives what was used: capacity comes back as old usage ages out. Ask whether the next full
 * window alone reaches the limit: `windowStartMs = nowMs`, `resetAtMs = nowMs + window`, `used = 0`,
 * `current = []`, and the recent buckets as `history` (at least ten windows' worth). Passing the
 * last window's usage as `used` against the next window's horizon counts it twice, and a key running
 * steadily at 60 % of its RPM would look certain to run out.
 */
export interface ForecastInput {
  /** Evaluation time, epoch ms. Nothing in the forecasting core reads the clock. */
  nowMs: number;
  /** Start of the current quota window, epoch ms. */
  windowStartMs: number;
  /** When the current window's usage is forgiven, epoch ms. */
  resetAtMs: number;
  limit: number;
  /** Usage so far in the current window: ground truth (e.g. `limit - remaining` from provider headers). */
  used: number;
  /**
   * Buckets of the current window up to now, sorted by `tsMs`. Buckets starting before the window
   * (before the reset) or at or after `nowMs` are ignored: a reset is a sawtooth, not a trend. Missing
   * buckets count as zero. (`current` and `history` may be one and the same series.)
   */
  current: UsageSeries;
  /**
   * Older buckets (e.g. the previous 7-14 days), sorted by `tsMs`, used for the hour-of-day shape and
   * for the usual level; buckets from the window start on are ignored. Missing buckets between the
   * first one and the window start count as zero.
   */
  history?: UsageSeries;
  /** Width of every bucket in `current` and `history`, ms (e.g. 60_000 or 600_000). */
  bucketMs: number;
  /** IANA time zone of the hour-of-day profile. Default `UTC`. */
  timeZone?: string;
  /**
   * Times (epoch ms, from now to the reset) at which to report quantiles of the cumulative usage: the
   * forecast fan a chart draws. Unset: no fan, which keeps a cycle over many quotas cheap.
   */
  fanAtMs?: readonly number[];
}

/** Quantiles of the usage counted in the window by `atMs`, capped at the limit. */
export interface FanPoint {
  atMs: number;
  p10: number;
  p50: number;
  p90: number;
}

export type ForecastStatus = 'ok' | 'insufficient_data' | 'exhausted';

export interface Forecast {
  /** Which method produced the forecast, e.g. `headroom.profile_nb.v2`, `predict_linear`. */
  method: string;
  status: ForecastStatus;
  used: number;
  limit: number;
  remaining: number;
  resetAtMs: number;
  /**
   * Quantiles of the exhaustion time (absolute epoch ms). `etaP10Ms` is the early case. A quantile is
   * null when the quota is, at that quantile, not exhausted before reset: `etaPqMs` is set exactly when
   * `pExhaust >= q`.
   */
  etaP10Ms: number | null;
  etaP50Ms: number | null;
  etaP90Ms: number | null;
  /** Probability of running out before reset, 0..1. 0 with `insufficient_data`, 1 when `exhausted`. */
  pExhaust: number;
  /** Fitted expected usage rate now, per ms. */
  ratePerMs?: number;
  /** Present when `fanAtMs` was asked for and the forecast is `ok`. */
  fan?: FanPoint[];
  /** Expected usage from now until the reset (the profile's mass times the level), in the quota's units. */
  expectedUsageUntilReset?: number;
}

/** One key of a pool, as seen by the capacity forecast. */
export interface PoolKeyCapacity {
  /** What the key can still serve in its current window. */
  remaining: number;
  /** When the key's window resets, epoch ms. */
  resetAtMs: number;
  /** False when the key is exhausted, cooling down or disabled: it serves nothing before its reset. */
  usable: boolean;
  /**
   * What the key holds after its reset. When unknown, the reset is treated as relief of unknown size,
   * so the forecast claims nothing beyond it.
   */
  limit?: number;
}

export interface PoolCapacityForecast {
  /** True when demand outruns the pool before its keys reset, even with ideal balancing. */
  runsDry: boolean;
  /** When the pool first runs dry, epoch ms; null when it does not. */
  etaMs: number | null;
  /** Sum of what the usable keys can still serve before the earliest reset. */
  capacityBeforeEarliestReset: number;
  /** Demand up to the last reset that no routing can serve (infinite when no reset is ahead). */
  shortfall: number;
  /** Demand from now up to the last reset (infinite when no reset is ahead). */
  demandUntilHorizon: number;
}
