import { createRandom, zoneOffsetMs, type Random } from '../forecast/index.ts';
import type { ConsumerSpec } from './scenario.ts';

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

/** A stable 32-bit hash, so each consumer draws its own seeded sequence whatever the order. */
export function hashText(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * Another application drawing on a quota entity outside any gateway: Poisson arrivals at
 * `requests_per_minute`, shaped by `hourly_factors` over the local day (drawn by thinning), between
 * `from_seconds` and `until_seconds` after the start.
 */
export class BackgroundConsumer {
  readonly spec: ConsumerSpec;
  readonly #random: Random;
  readonly #maxRatePerMs: number;
  readonly #untilMs: number;
  #nextMs: number;

  constructor(spec: ConsumerSpec, startMs: number, seed: number) {
    this.spec = spec;
    this.#random = createRandom((seed ^ hashText(spec.id)) >>> 0);
    const peak = spec.hourly_factors === undefined ? 1 : Math.max(...spec.hourly_factors);
    this.#maxRatePerMs = (spec.requests_per_minute * peak) / 60_000;
    this.#untilMs =
      spec.until_seconds === undefined ? Number.POSITIVE_INFINITY : startMs + spec.until_seconds * 1000;
    this.#nextMs = this.#draw(startMs + spec.from_seconds * 1000);
  }

  /** Epoch ms of the next arrival; Infinity when there is none. */
  get nextArrivalMs(): number {
    return this.#nextMs;
  }

  /** Takes the next arrival and draws the one after it. */
  popArrival(): number {
    const arrivalMs = this.#nextMs;
    this.#nextMs = this.#draw(arrivalMs);
    return arrivalMs;
  }

  #draw(afterMs: number): number {
    if (this.#maxRatePerMs <= 0) return Number.POSITIVE_INFINITY;
    let candidateMs = afterMs;
    for (;;) {
      candidateMs += -Math.log(1 - this.#random()) / this.#maxRatePerMs;
      if (candidateMs >= this.#untilMs) return Number.POSITIVE_INFINITY;
      const factors = this.spec.hourly_factors;
      if (factors === undefined) return candidateMs;
      const peak = (this.#maxRatePerMs * 60_000) / this.spec.requests_per_minute;
      if (this.#random() * peak < (factors[this.#localHour(candidateMs)] ?? 0)) return candidateMs;
    }
  }

  #localHour(utcMs: number): number {
    const localMs = utcMs + zoneOffsetMs(this.spec.time_zone, utcMs);
    return Math.floor((((localMs % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY) / MS_PER_HOUR);
  }
}
