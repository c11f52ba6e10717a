import { describe, expect, it } from 'vitest';

import { areaUnderFront, halfOf, paretoFront, recallAt, scoreWarnings } from '../../bench/forecast/curves.ts';
import type { CurveCase, CurvePoint } from '../../bench/forecast/curves.ts';

const point = (far: number, recall: number, setting = `${far}/${recall}`): CurvePoint => ({
  setting,
  far,
  recall,
  recallForeseeable: recall,
  farClear: far,
});

describe('bench curves: Pareto front', () => {
  it('keeps only the settings no other one beats on both recall and false alarms, by rising false alarms', () => {
    const front = paretoFront([
      point(0.3, 0.8, 'b'),
      point(0.1, 0.5, 'a'),
      point(0.2, 0.4, 'dominated'),
      point(0.3, 0.7, 'same far, lower recall'),
      point(0.5, 0.8, 'no better recall'),
      point(0.6, 0.9, 'c'),
    ]);
    expect(front.map((p) => p.setting)).toEqual(['a', 'b', 'c']);
  });

  it('reads recall between front points linearly, from (0, 0), and flat after the last point', () => {
    const front = [point(0.1, 0.5), point(0.3, 0.9)];
    expect(recallAt(front, 0.05)).toBeCloseTo(0.25);
    expect(recallAt(front, 0.2)).toBeCloseTo(0.7);
    expect(recallAt(front, 0.45)).toBeCloseTo(0.9);
    expect(recallAt([], 0.1)).toBe(0);
  });

  it('gives the area under the front as a share of the range', () => {
    // Recall 1 from false-alarm rate 0: the whole range.
    expect(areaUnderFront([point(0, 1)], 0.5)).toBeCloseTo(1);
    // Triangle to (0.25, 1), then flat: (0.125 + 0.25) / 0.5.
    expect(areaUnderFront([point(0.25, 1)], 0.5)).toBeCloseTo(0.75);
  });
});

describe('bench curves: scoring and halves', () => {
  it('counts a hit only with the required lead and a false alarm on any warned quiet window', () => {
    const cases: CurveCase[] = [
      { subject: 'a', exhaustMs: 10_000, warnByMs: 5_000, unforeseeable: false, finalShare: 1.2 },
      { subject: 'b', exhaustMs: 10_000, warnByMs: 5_000, unforeseeable: true, finalShare: 1.1 },
      { subject: 'c', exhaustMs: null, warnByMs: null, unforeseeable: false, finalShare: 0.95 },
      { subject: 'd', exhaustMs: null, warnByMs: null, unforeseeable: false, finalShare: 0.5 },
    ];
    const warn: Record<string, number> = { a: 4_000, b: 6_000, c: 1_000, d: Number.NaN };
    const scored = scoreWarnings(cases, (item) => warn[item.subject] ?? Number.NaN, 'x');
    expect(scored.recall).toBeCloseTo(0.5);
    expect(scored.recallForeseeable).toBeCloseTo(1);
    expect(scored.far).toBeCloseTo(0.5);
    // The warned quiet window was a close call (ended at 95 % of its limit).
    expect(scored.farClear).toBe(0);
  });

  it('splits subjects into two fixed halves of similar size', () => {
    const subjects = Array.from({ length: 400 }, (_, i) => `client-${i}`);
    const inA = subjects.filter((s) => halfOf(s) === 'A').length;
    expect(inA).toBeGreaterThan(160);
    expect(inA).toBeLessThan(240);
    expect(subjects.map(halfOf)).toEqual(subjects.map(halfOf));
  });
});
