import { describe, expect, it } from 'vitest';
import {
  SpillRouter,
  createStrategy,
  parseAdvice,
  withSpill,
  type PoolAdvice,
} from '../../src/gateway/index.ts';

const T0 = 1_800_000_000_000;

function advice(spill: unknown, validUntilMs = T0 + 60_000, generatedAtMs = T0): PoolAdvice {
  const parsed = parseAdvice({
    version: 4,
    generated_at: generatedAtMs,
    valid_until: validUntilMs,
    keys: [{ key_id: 'a', weight: 1, state: 'active' }],
    spill,
  });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.advice;
}

function route(router: SpillRouter, nowMs: number, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const to = router.route(nowMs) ?? 'stay';
    out[to] = (out[to] ?? 0) + 1;
  }
  return out;
}

describe('spill: share tracking', () => {
  it('sends exactly the advised share, never ahead of it at any point', () => {
    const router = new SpillRouter('primary', ['primary', 'fallback']);
    expect(router.apply(advice([{ pool: 'fallback', share: 0.3, reason: 'runs dry' }]))).toEqual([]);
    let spilled = 0;
    for (let n = 1; n <= 1000; n++) {
      if (router.route(T0) === 'fallback') spilled++;
      expect(spilled).toBeLessThanOrEqual(Math.floor(0.3 * n + 1e-9));
      expect(spilled).toBeGreaterThanOrEqual(Math.floor(0.3 * n + 1e-9) - 1);
    }
    expect(spilled).toBe(300);
  });

  it('splits between two fallbacks by their shares', () => {
    const router = new SpillRouter('primary', ['primary', 'b', 'c']);
    router.apply(
      advice([
        { pool: 'b', share: 0.25 },
        { pool: 'c', share: 0.5 },
      ]),
    );
    // One request spills to one pool: when both credits come due together, one waits a request.
    const out = route(router, T0, 400);
    expect(out['b']).toBeGreaterThanOrEqual(99);
    expect(out['b']).toBeLessThanOrEqual(100);
    expect(out['c']).toBeGreaterThanOrEqual(199);
    expect(out['c']).toBeLessThanOrEqual(200);
  });

  it('ignores a fallback that is not configured (reported once per advice) and a spill to itself', () => {
    const router = new SpillRouter('primary', ['primary', 'fallback']);
    const ignored = router.apply(
      advice([
        { pool: 'elsewhere', share: 0.4 },
        { pool: 'primary', share: 0.2 },
        { pool: 'fallback', share: 0.1 },
      ]),
    );
    expect(ignored).toEqual(['elsewhere', 'primary']);
    expect(route(router, T0, 100)).toEqual({ fallback: 10, stay: 90 });
    expect(router.describe(T0)).toEqual([{ pool: 'fallback', share: 0.1 }]);
  });

  it('stops spilling when the advice expires or names no spill; a 304 keeps it valid for as long again', () => {
    const router = new SpillRouter('primary', ['primary', 'fallback']);
    router.apply(advice([{ pool: 'fallback', share: 0.5 }], T0 + 10_000));
    expect(route(router, T0 + 10_000, 10)).toEqual({ fallback: 5, stay: 5 });
    expect(route(router, T0 + 10_001, 10)).toEqual({ stay: 10 });
    expect(router.describe(T0 + 10_001)).toEqual([]);
    router.confirm(T0 + 20_000);
    expect(route(router, T0 + 29_000, 10)).toEqual({ fallback: 5, stay: 5 });
    router.apply(advice([], T0 + 60_000));
    expect(route(router, T0 + 30_000, 10)).toEqual({ stay: 10 });
    router.apply(advice(undefined, T0 + 60_000));
    expect(route(router, T0 + 30_000, 10)).toEqual({ stay: 10 });
  });

  it('parseAdvice refuses a bad spill naming the field', () => {
    const bad = (spill: unknown): string => {
      const parsed = parseAdvice({ valid_until: T0, keys: [], spill });
      return parsed.ok ? 'ok' : parsed.error;
    };
    expect(bad('half')).toBe('spill="half" is invalid: expected an array of {pool, share}');
    expect(bad([{ pool: '', share: 0.1 }])).toBe('spill[0].pool="" is invalid: expected a non-empty string');
    expect(bad([{ pool: 'b', share: 1.5 }])).toBe(
      'spill[0].share=1.5 is invalid: expected a number from 0 to 1',
    );
    expect(
      bad([
        { pool: 'b', share: 0.6 },
        { pool: 'c', share: 0.6 },
      ]),
    ).toBe('spill[1].share=0.6 is invalid: expected shares that sum to at most 1');
  });

  it('withSpill feeds advice applied to the strategy into the spill, and reports ignored pools', () => {
    const router = new SpillRouter('primary', ['primary', 'fallback']);
    const heard: string[][] = [];
    const strategy = withSpill(
      createStrategy('headroom', [{ keyId: 'a', weight: 1, priority: 0 }], {}),
      router,
      (pools) => heard.push([...pools]),
    );
    strategy.applyAdvice?.(
      advice([
        { pool: 'fallback', share: 0.5 },
        { pool: 'gone', share: 0.1 },
      ]),
      T0,
    );
    expect(heard).toEqual([['gone']]);
    expect(strategy.describe(T0).source).toBe('advice v4');
    expect(route(router, T0, 4)).toEqual({ fallback: 2, stay: 2 });
  });
});
