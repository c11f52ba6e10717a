import { describe, expect, it } from 'vitest';
import { computeCycle } from '../../src/analytics/cycle.ts';
import { poolSupplies } from '../../src/analytics/pool-supply.ts';
import type { CachedSeries } from '../../src/analytics/series-cache.ts';
import { parseHeadroomFile } from '../../src/config/index.ts';
import {
  attachSpill,
  computeAdvice,
  computePoolSupply,
  computeSpill,
  renderAdviceJson,
  type Advice,
} from '../../src/rebalance/index.ts';

const NOW = Date.UTC(2026, 10, 21, 12);

describe('spill to fallback pools', () => {
  it('spills the deficit, each fallback taking no more than its spare headroom, in order', () => {
    const primary = { pool: 'openai', supplyPerSecond: 6, demandPerSecond: 10 };
    const spill = computeSpill(primary, [
      { pool: 'anthropic', supplyPerSecond: 3, demandPerSecond: 2 },
      { pool: 'busy', supplyPerSecond: 1, demandPerSecond: 5 },
      { pool: 'unsized', supplyPerSecond: undefined, demandPerSecond: 0 },
      { pool: 'gemini', supplyPerSecond: 20, demandPerSecond: 1 },
    ]);
    expect(spill.map((s) => [s.pool, s.share])).toEqual([
      ['anthropic', 0.1],
      ['gemini', 0.3],
    ]);
    expect(spill[0]?.reason).toMatch(
      /openai sustains 6\.00 of 10\.00 req\/s .* anthropic has 1\.00 req\/s to spare/,
    );
    expect(
      computeSpill({ ...primary, supplyPerSecond: 10 }, [
        { pool: 'gemini', supplyPerSecond: 20, demandPerSecond: 0 },
      ]),
    ).toEqual([]);
    expect(
      computeSpill({ ...primary, supplyPerSecond: undefined }, [
        { pool: 'gemini', supplyPerSecond: 20, demandPerSecond: 0 },
      ]),
    ).toEqual([]);
  });

  it('sizes a pool by its usable keys, and not at all when a usable key has no known quota', () => {
    const keys = [
      { keyId: 'a', sustainableRatePerSecond: 2, reason: '' },
      { keyId: 'b', sustainableRatePerSecond: 5, reason: '', exhaustedUntilMs: NOW + 1 },
      { keyId: 'c', sustainableRatePerSecond: undefined, reason: '', coolingDownUntilMs: NOW + 1 },
    ];
    expect(computePoolSupply('p', keys, 3, NOW)).toEqual({
      pool: 'p',
      supplyPerSecond: 2,
      demandPerSecond: 3,
    });
    expect(computePoolSupply('p', keys, 3, NOW + 1).supplyPerSecond).toBeUndefined();
  });

  it('makes a change of spill a new advice version, and keeps the version for a change within the step', () => {
    const settings = { damping: 0.5, validForMs: 90_000 };
    const keys = [{ keyId: 'a', sustainableRatePerSecond: 1, reason: 'r' }];
    const first = attachSpill(computeAdvice('p', keys, undefined, NOW, settings), undefined, []);
    expect(first.spill).toBeUndefined();
    const spilling = attachSpill(computeAdvice('p', keys, first, NOW, settings), first, [
      { pool: 'f', share: 0.2, reason: 'r' },
    ]);
    expect(spilling.version).toBe(first.version + 1);
    expect(renderAdviceJson(spilling).spill).toEqual([{ pool: 'f', share: 0.2, reason: 'r' }]);
    const steady = attachSpill(computeAdvice('p', keys, spilling, NOW, settings), spilling, [
      { pool: 'f', share: 0.203, reason: 'r' },
    ]);
    expect(steady.version).toBe(spilling.version);
    expect(steady.spill?.[0]?.share).toBe(0.2);
    const over = attachSpill(computeAdvice('p', keys, steady, NOW, settings), steady, []);
    expect(over.version).toBe(steady.version + 1);
    expect(over.spill).toBeUndefined();
  });

  it('rejects a fallback pool that is not another pool of the file', () => {
    expect(() =>
      parseHeadroomFile('pools: [{ name: a, fallback_pools: [b] }, { name: c }]', 'f.yaml'),
    ).toThrow(
      'f.yaml is invalid: pools[0].fallback_pools[0]: "b" is invalid: expected another pool of this file: c',
    );
    expect(() => parseHeadroomFile('pools: [{ name: a, fallback_pools: [a] }]', 'f.yaml')).toThrow(
      /fallback_pools\[0\]: "a" is invalid: expected another pool of this file: \(there is none\)/,
    );
  });
});

/**
 * A day in 10-minute cycles through the real analytics cycle: the primary pool's keys cannot carry
 * its steady demand until their daily reset, a fallback pool has room. A gateway follows the advice
 * (spill share to the fallback, the rest over the primary's keys that have quota left).
 */
describe('failover scenario: the primary pool runs dry before its reset', () => {
  const MINUTE = 60_000;
  const BUCKET = 10 * MINUTE;
  const DAY = Date.UTC(2026, 10, 21);

  function simulate(fallbackLimit: number, withFallback: boolean) {
    const file = parseHeadroomFile(
      `pools:
  - name: openai
    key_quotas: [{ dimension: requests, window: day, limit: 3000 }]
    keys: [{ id: o1 }, { id: o2 }]
    fallback_pools: ${withFallback ? '[anthropic]' : '[]'}
  - name: anthropic
    key_quotas: [{ dimension: requests, window: day, limit: ${fallbackLimit} }]
    keys: [{ id: a1 }]`,
      'scenario.yaml',
    );
    const limits: Record<string, number> = { o1: 3000, o2: 3000, a1: fallbackLimit };
    const used: Record<string, number> = { o1: 0, o2: 0, a1: 0 };
    const series = new Map<string, CachedSeries>(
      Object.keys(limits).map((key) => [
        key,
        {
          pool: key.startsWith('o') ? 'openai' : 'anthropic',
          key_id: key,
          partition: key,
          provider: key.startsWith('o') ? 'openai' : 'anthropic',
          hours: { t: [], requests: [], input_tokens: [], output_tokens: [], cost_usd: [] },
          fine: { t: [], requests: [], input_tokens: [], output_tokens: [], cost_usd: [] },
        },
      ]),
    );
    const PRIMARY_DEMAND = 60; // per 10 minutes: 8,640 a day against 6,000 of quota
    const FALLBACK_DEMAND = 20;
    let advice = new Map<string, Advice>();
    const steps: Array<{
      step: number;
      spill: number;
      primary429: number;
      fallback429: number;
      fallbackUsed: number;
    }> = [];
    for (let step = 0; step < 144; step++) {
      const nowMs = DAY + step * BUCKET;
      const spill = advice.get('openai')?.spill?.reduce((s, x) => s + x.share, 0) ?? 0;
      const traffic = {
        openai: Math.round(PRIMARY_DEMAND * (1 - spill)),
        anthropic: FALLBACK_DEMAND + Math.round(PRIMARY_DEMAND * spill),
      };
      const served: Record<string, number> = { o1: 0, o2: 0, a1: 0 };
      const refused = { openai: 0, anthropic: 0 };
      for (const [pool, count] of Object.entries(traffic) as Array<['openai' | 'anthropic', number]>) {
        const keys = pool === 'openai' ? ['o1', 'o2'] : ['a1'];
        for (let i = 0; i < count; i++) {
          const key =
            keys.find((k, j) => (i + j) % keys.length === 0 && (used[k] ?? 0) < (limits[k] ?? 0)) ??
            keys.find((k) => (used[k] ?? 0) < (limits[k] ?? 0));
          if (key === undefined) {
            refused[pool]++;
            continue;
          }
          used[key] = (used[key] ?? 0) + 1;
          served[key] = (served[key] ?? 0) + 1;
        }
      }
      for (const [key, s] of series) {
        s.fine.t.push(nowMs);
        s.fine.requests.push(served[key] ?? 0);
        s.fine.input_tokens.push(0);
        s.fine.output_tokens.push(0);
        s.fine.cost_usd.push(0);
      }
      steps.push({
        step,
        spill,
        primary429: refused.openai,
        fallback429: refused.anthropic,
        fallbackUsed: used['a1'] ?? 0,
      });
      const cycleAt = nowMs + BUCKET - 1;
      const result = computeCycle({
        file,
        nowMs: cycleAt,
        bucketMs: BUCKET,
        series: [...series.values()],
        fineFromMs: DAY - 2 * BUCKET,
        coveredFromMs: DAY - 2 * BUCKET,
        prefixes: new Map(),
        providerLimits: [],
        throttling: [],
      });
      const supplies = poolSupplies(result.subjects, result.headroom, cycleAt);
      const next = new Map<string, Advice>();
      for (const [pool, keys] of result.headroom) {
        const previous = advice.get(pool);
        const primary = supplies.get(pool);
        const fallbacks =
          file.pools.find((p) => p.name === pool)?.fallback_pools.flatMap((n) => supplies.get(n) ?? []) ?? [];
        next.set(
          pool,
          attachSpill(
            computeAdvice(pool, keys, previous, cycleAt, { damping: 0.5, validForMs: 3 * BUCKET }),
            previous,
            primary === undefined ? [] : computeSpill(primary, fallbacks),
          ),
        );
      }
      advice = next;
    }
    return steps;
  }

  it('moves the spill share to the fallback before the first pool-wide 429, never beyond what it can carry', () => {
    const without = simulate(6_000, false);
    const firstDry = without.find((s) => s.primary429 > 0)?.step;
    expect(firstDry).toBeDefined();
    const rateLimitedWithout = without.reduce((n, s) => n + s.primary429, 0);

    const roomy = simulate(6_000, true);
    const firstSpill = roomy.find((s) => s.spill > 0)?.step;
    expect(firstSpill).toBeDefined();
    expect(firstSpill as number).toBeLessThan(firstDry as number);
    const rateLimitedWith = roomy.reduce((n, s) => n + s.primary429 + s.fallback429, 0);
    expect(rateLimitedWith).toBeLessThan(rateLimitedWithout / 4);
    expect(roomy.every((s) => s.fallback429 === 0)).toBe(true);

    // A fallback with little room takes no more than it can carry: it never runs out itself.
    const tight = simulate(3_500, true);
    expect(tight.some((s) => s.spill > 0)).toBe(true);
    expect(tight.every((s) => s.fallback429 === 0)).toBe(true);
    expect(Math.max(...tight.map((s) => s.spill))).toBeLessThan(Math.max(...roomy.map((s) => s.spill)));
    console.log(
      `primary runs dry at cycle ${firstDry} without fallback (${rateLimitedWithout} 429s); spill from cycle ${firstSpill} ` +
        `(max share ${Math.max(...roomy.map((s) => s.spill)).toFixed(2)}), ${rateLimitedWith} 429s with it; ` +
        `tight fallback: max share ${Math.max(...tight.map((s) => s.spill)).toFixed(2)}, used ${tight.at(-1)?.fallbackUsed} of 3500, ` +
        `${tight.reduce((n, s) => n + s.primary429, 0)} primary 429s`,
    );
  });
});
