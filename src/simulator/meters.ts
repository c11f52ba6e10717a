import { windowBounds, type QuotaWindow } from '../forecast/index.ts';
import type { LimitDimension, LimitSpec } from './scenario.ts';

const MS_PER_MINUTE = 60_000;
// Bucket levels are fractional; a request that fits up to rounding error fits.
const EPSILON = 1e-9;

/**
 * One enforced limit of one quota entity. Time only moves forward: `advance` is called with the
 * simulation's (monotonic) clock before any other method, and nothing here reads a clock.
 */
export interface Meter {
  /** The quota entity (shared quota id, or a key id for its own limits). */
  readonly entityId: string;
  readonly dimension: LimitDimension;
  /** `minute`, `day`, `month`, or `1s` / `10s` for an Azure sub-window. */
  readonly window: string;
  /** Capacity of the bucket, allowance of the sub-window, or the calendar limit. */
  readonly limit: number;
  /**
   * True for calendar quotas and spend caps: once refused, nothing comes back before the reset
   * (`insufficient_quota`, per-day `RESOURCE_EXHAUSTED`); false for refilling buckets (a temporary
   * rate limit).
   */
  readonly exhausting: boolean;
  advance(nowMs: number): void;
  remaining(): number;
  /** How long until `amount` is admitted: 0 now, Infinity never. */
  waitMs(amount: number, nowMs: number): number;
  take(amount: number): void;
  /** When the bucket is full again, or the window starts again. */
  resetAtMs(nowMs: number): number;
  /** How many requests of `amount` each would be admitted one after the other right now. */
  countAdmissible(amount: number): number;
}

/** Continuously refilling token bucket: capacity `limit`, refilled at `limit` per minute. */
class BucketMeter implements Meter {
  readonly exhausting = false;
  readonly window = 'minute';
  readonly entityId: string;
  readonly dimension: LimitDimension;
  readonly limit: number;
  readonly #ratePerMs: number;
  #level: number;
  #lastMs: number;

  constructor(entityId: string, dimension: LimitDimension, limit: number, startMs: number) {
    this.entityId = entityId;
    this.dimension = dimension;
    this.limit = limit;
    this.#ratePerMs = limit / MS_PER_MINUTE;
    this.#level = limit;
    this.#lastMs = startMs;
  }

  advance(nowMs: number): void {
    if (nowMs <= this.#lastMs) return;
    this.#level = Math.min(this.limit, this.#level + (nowMs - this.#lastMs) * this.#ratePerMs);
    this.#lastMs = nowMs;
  }

  remaining(): number {
    return this.#level;
  }

  waitMs(amount: number): number {
    if (amount <= this.#level + EPSILON) return 0;
    // A request larger than the whole bucket never fits (OpenAI's "Request too large").
    if (amount > this.limit) return Number.POSITIVE_INFINITY;
    return (amount - this.#level) / this.#ratePerMs;
  }

  take(amount: number): void {
    this.#level -= amount;
  }

  resetAtMs(nowMs: number): number {
    return nowMs + Math.max(0, this.limit - this.#level) / this.#ratePerMs;
  }

  countAdmissible(amount: number): number {
    return amount <= 0 ? Number.POSITIVE_INFINITY : Math.floor((this.#level + EPSILON) / amount);
  }
}

/**
 * Azure OpenAI evaluates its per-minute quotas over short fixed windows (1 or 10 s): more than the
 * minute's pro-rata share inside one of them is refused even when the minute has room (Microsoft
 * Learn, "Azure OpenAI quotas and limits": rate limits are evaluated over small periods of time).
 * An empty sub-window admits one request of any size, so a request larger than the share is paced,
 * not refused for ever.
 */
class SubWindowMeter implements Meter {
  readonly exhausting = false;
  readonly entityId: string;
  readonly dimension: LimitDimension;
  readonly window: string;
  readonly limit: number;
  readonly #windowMs: number;
  #windowStartMs = Number.NEGATIVE_INFINITY;
  #used = 0;

  constructor(entityId: string, dimension: LimitDimension, perMinute: number, seconds: number) {
    this.entityId = entityId;
    this.dimension = dimension;
    this.window = `${seconds}s`;
    this.#windowMs = seconds * 1000;
    this.limit = Math.max(1, Math.floor((perMinute * seconds) / 60));
  }

  advance(nowMs: number): void {
    const startMs = Math.floor(nowMs / this.#windowMs) * this.#windowMs;
    if (startMs > this.#windowStartMs) {
      this.#windowStartMs = startMs;
      this.#used = 0;
    }
  }

  remaining(): number {
    return Math.max(0, this.limit - this.#used);
  }

  waitMs(amount: number, nowMs: number): number {
    if (this.#used === 0 || this.#used + amount <= this.limit) return 0;
    return this.#windowStartMs + this.#windowMs - nowMs;
  }

  take(amount: number): void {
    this.#used += amount;
  }

  resetAtMs(): number {
    return this.#windowStartMs + this.#windowMs;
  }

  countAdmissible(amount: number): number {
    if (amount <= 0) return Number.POSITIVE_INFINITY;
    if (this.#used === 0 && amount > this.limit) return 1;
    return Math.floor(this.remaining() / amount);
  }
}

/**
 * A counter over a local calendar day or month (Gemini's requests per day reset at midnight
 * Pacific; monthly spend caps). The window maths is the forecasting core's, DST included. A spend
 * cap admits calls while spend is below the cap, so the last call may overshoot it, as OpenAI's
 * hard limits do ("enforcement is not instantaneous").
 */
class CalendarMeter implements Meter {
  readonly exhausting = true;
  readonly entityId: string;
  readonly dimension: LimitDimension;
  readonly window: 'day' | 'month';
  readonly limit: number;
  readonly #window: QuotaWindow;
  #startMs = Number.POSITIVE_INFINITY;
  #resetAtMs = Number.NEGATIVE_INFINITY;
  #used = 0;

  constructor(entityId: string, spec: LimitSpec & { window: 'day' | 'month' }) {
    this.entityId = entityId;
    this.dimension = spec.dimension;
    this.window = spec.window;
    this.limit = spec.limit;
    this.#window = {
      kind: 'calendar',
      unit: spec.window,
      timeZone: spec.time_zone,
      ...(spec.anchor_day === undefined ? {} : { anchorDay: spec.anchor_day }),
      ...(spec.anchor_hour === undefined ? {} : { anchorHour: spec.anchor_hour }),
    };
  }

  advance(nowMs: number): void {
    if (nowMs >= this.#resetAtMs || nowMs < this.#startMs) {
      const bounds = windowBounds(this.#window, nowMs);
      this.#startMs = bounds.startMs;
      this.#resetAtMs = bounds.resetAtMs;
      this.#used = 0;
    }
  }

  remaining(): number {
    return Math.max(0, this.limit - this.#used);
  }

  waitMs(amount: number, nowMs: number): number {
    const fits = this.dimension === 'cost_usd' ? this.#used < this.limit : this.#used + amount <= this.limit;
    return fits ? 0 : this.#resetAtMs - nowMs;
  }

  take(amount: number): void {
    this.#used += amount;
  }

  resetAtMs(): number {
    return this.#resetAtMs;
  }

  countAdmissible(amount: number): number {
    const remaining = this.remaining();
    if (amount <= 0) return remaining > 0 ? Number.POSITIVE_INFINITY : 0;
    return this.dimension === 'cost_usd' ? Math.ceil(remaining / amount) : Math.floor(remaining / amount);
  }
}

/** The meters one declared limit enforces: a bucket, plus a sub-window when asked for. */
export function createMeters(entityId: string, spec: LimitSpec, startMs: number): Meter[] {
  if (spec.window === 'minute') {
    const meters: Meter[] = [new BucketMeter(entityId, spec.dimension, spec.limit, startMs)];
    if (spec.sub_window_seconds !== undefined) {
      meters.push(new SubWindowMeter(entityId, spec.dimension, spec.limit, spec.sub_window_seconds));
    }
    return meters;
  }
  return [new CalendarMeter(entityId, { ...spec, window: spec.window })];
}
