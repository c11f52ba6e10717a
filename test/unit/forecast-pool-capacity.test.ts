import { describe, expect, it } from 'vitest';

import { forecastPoolCapacity } from '../../src/forecast/index.ts';

describe('forecastPoolCapacity', () => {
  it('does not run dry when the pool covers demand until the keys reset', () => {
    const keys = [
      { remaining: 600, resetAtMs: 1000, usable: true, limit: 1000 },
      { remaining: 600, resetAtMs: 1000, usable: true, limit: 1000 },
    ];
    expect(forecastPoolCapacity(keys, 1, 0)).toEqual({
      runsDry: false,
      etaMs: null,
      capacityBeforeEarliestReset: 1200,
      shortfall: 0,
      demandUntilHorizon: 1000,
    });
  });

  it('runs dry when total remaining is spent before any reset, and says when', () => {
    const keys = [
      { remaining: 300, resetAtMs: 2000, usable: true, limit: 1000 },
      { remaining: 200, resetAtMs: 3000, usable: true, limit: 1000 },
    ];
    // 500 units at 0.5 per ms last 1000 ms; the first reset is at 2000.
    expect(forecastPoolCapacity(keys, 0.5, 0)).toEqual({
      runsDry: true,
      etaMs: 1000,
      capacityBeforeEarliestReset: 500,
      // Dry from 1000 ms until the refill at 2000 ms: 500 units of demand no routing can serve.
      shortfall: 500,
      demandUntilHorizon: 1500,
    });
  });

  it('counts that a key’s leftover is lost at its reset (ideal balancing spends it first)', () => {
    const keys = [
      { remaining: 100, resetAtMs: 50, usable: true, limit: 0 },
      { remaining: 100, resetAtMs: 1000, usable: true, limit: 100 },
    ];
    // 0-50 ms: 50 from the first key, whose other 50 expire at 50 ms; 50-150 ms: the second key.
    // Adding the remainders up (200 units, 200 ms) would be wrong.
    expect(forecastPoolCapacity(keys, 1, 0)).toMatchObject({ runsDry: true, etaMs: 150 });
  });

  it('brings keys back with their full limit at reset, including keys cooling down now', () => {
    const keys = [
      { remaining: 100, resetAtMs: 100, usable: true, limit: 1000 },
      { remaining: 0, resetAtMs: 200, usable: false, limit: 1000 },
    ];
    // 100 units last until the reset at 100 ms, then 1000 + 1000 cover demand to the last reset.
    expect(forecastPoolCapacity(keys, 1, 0)).toEqual({
      runsDry: false,
      etaMs: null,
      capacityBeforeEarliestReset: 100,
      shortfall: 0,
      demandUntilHorizon: 200,
    });
    // A gap between running out (50 ms) and the first reset (100 ms) is a dry spell.
    expect(forecastPoolCapacity(keys, 2, 0)).toMatchObject({ runsDry: true, etaMs: 50 });
  });

  it('ignores the remaining capacity of keys that cannot be used', () => {
    const keys = [{ remaining: 5000, resetAtMs: 10_000, usable: false, limit: 5000 }];
    expect(forecastPoolCapacity(keys, 1, 0)).toEqual({
      runsDry: true,
      etaMs: 0,
      capacityBeforeEarliestReset: 0,
      shortfall: 10_000,
      demandUntilHorizon: 10_000,
    });
  });

  it('claims nothing beyond a reset whose refill is unknown', () => {
    const keys = [
      { remaining: 100, resetAtMs: 500, usable: true },
      { remaining: 50, resetAtMs: 2000, usable: true },
    ];
    // Dry at 150 ms, well before the unknown refill at 500 ms.
    expect(forecastPoolCapacity(keys, 1, 0)).toMatchObject({ runsDry: true, etaMs: 150 });
    // Enough until 500 ms; after that the first key's refill is of unknown size.
    expect(forecastPoolCapacity(keys, 0.2, 0)).toMatchObject({ runsDry: false, etaMs: null });
  });

  it('with no reset ahead, runs dry when the capacity is spent', () => {
    const keys = [{ remaining: 100, resetAtMs: 0, usable: true }];
    expect(forecastPoolCapacity(keys, 0.5, 1000)).toEqual({
      runsDry: true,
      etaMs: 1200,
      capacityBeforeEarliestReset: 100,
      shortfall: Number.POSITIVE_INFINITY,
      demandUntilHorizon: Number.POSITIVE_INFINITY,
    });
    expect(forecastPoolCapacity(keys, 0, 1000)).toMatchObject({ runsDry: false, etaMs: null });
    expect(() => forecastPoolCapacity(keys, -1, 0)).toThrow(/demandRatePerMs/);
  });
});
