import { describe, expect, it } from 'vitest';
import { computeAdvice, type KeyHeadroom } from '../../src/rebalance/index.ts';

const NOW = 1_763_740_800_000;
const settings = { damping: 0.5, validForMs: 90_000 };

function key(keyId: string, rate: number | undefined, extra: Partial<KeyHeadroom> = {}): KeyHeadroom {
  return { keyId, sustainableRatePerSecond: rate, reason: 'test', ...extra };
}

describe('rebalance advice', () => {
  it('weights keys by sustainable rate, summing to one', () => {
    const advice = computeAdvice('p', [key('a', 3), key('b', 1)], undefined, NOW, settings);
    expect(advice.keys).toEqual([
      { key_id: 'a', weight: 0.75, state: 'active', reason: 'test' },
      { key_id: 'b', weight: 0.25, state: 'active', reason: 'test' },
    ]);
    expect(advice.version).toBe(1);
    expect(advice.valid_until).toBe(NOW + 90_000);
  });

  it('gives exhausted and cooling keys zero weight until their reset, at once', () => {
    const previous = computeAdvice('p', [key('a', 1), key('b', 1), key('c', 1)], undefined, NOW, settings);
    const advice = computeAdvice(
      'p',
      [
        key('a', 1),
        key('b', 1, { exhaustedUntilMs: NOW + 60_000 }),
        key('c', 1, { coolingDownUntilMs: NOW + 5_000 }),
      ],
      previous,
      NOW + 1_000,
      settings,
    );
    expect(advice.keys).toMatchObject([
      { key_id: 'a', weight: 1, state: 'active' },
      { key_id: 'b', weight: 0, state: 'exhausted', until: NOW + 60_000 },
      { key_id: 'c', weight: 0, state: 'cooling_down', until: NOW + 5_000 },
    ]);
    expect(advice.version).toBe(2);
  });

  it('damps moves between usable keys and keeps the version when nothing moved', () => {
    const first = computeAdvice('p', [key('a', 1), key('b', 1)], undefined, NOW, settings);
    const moved = computeAdvice('p', [key('a', 3), key('b', 1)], first, NOW + 30_000, settings);
    // Halfway from 0.5 to the target 0.75.
    expect(moved.keys[0]?.weight).toBeCloseTo(0.625, 6);
    const settled = computeAdvice('p', [key('a', 3), key('b', 1)], moved, NOW + 60_000, settings);
    expect(settled.keys[0]?.weight).toBeCloseTo(0.6875, 6);
    const steady = computeAdvice('p', [key('a', 1), key('b', 1)], first, NOW + 30_000, settings);
    expect(steady.version).toBe(first.version);
    expect(steady.generated_at).toBe(NOW + 30_000);
  });

  it('gives keys with no known quota the median weight', () => {
    const advice = computeAdvice(
      'p',
      [key('a', 2), key('b', 4), key('c', undefined)],
      undefined,
      NOW,
      settings,
    );
    expect(advice.keys.find((k) => k.key_id === 'c')).toMatchObject({ state: 'unknown', weight: 4 / 10 });
  });
});
