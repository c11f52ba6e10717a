import { describe, expect, it } from 'vitest';

import { isValidTimeZone, windowBounds, zonedTimeToUtc, zoneOffsetMs } from '../../src/forecast/index.ts';
import type { QuotaWindow } from '../../src/forecast/index.ts';

const HOUR = 3_600_000;
const utc = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

function bounds(window: QuotaWindow, nowIso: string): [string, string] {
  const { startMs, resetAtMs } = windowBounds(window, utc(nowIso));
  return [iso(startMs), iso(resetAtMs)];
}

describe('windowBounds: rolling', () => {
  it('spans the last `seconds` and resets when everything counted now has left the window', () => {
    const nowMs = utc('2024-05-01T12:00:30.000Z');
    expect(windowBounds({ kind: 'rolling', seconds: 60 }, nowMs)).toEqual({
      startMs: nowMs - 60_000,
      resetAtMs: nowMs + 60_000,
    });
  });

  it('rejects a non-positive length, naming the field', () => {
    expect(() => windowBounds({ kind: 'rolling', seconds: 0 }, 0)).toThrow(/window\.seconds.*0/);
  });
});

describe('windowBounds: calendar days', () => {
  const pacificDay: QuotaWindow = { kind: 'calendar', unit: 'day', timeZone: 'America/Los_Angeles' };

  it('runs from local midnight to local midnight (Gemini RPD resets at midnight Pacific)', () => {
    expect(bounds(pacificDay, '2024-06-15T20:00:00Z')).toEqual([
      '2024-06-15T07:00:00.000Z',
      '2024-06-16T07:00:00.000Z',
    ]);
    // 03:00 UTC on the 16th is still the 15th in California.
    expect(bounds(pacificDay, '2024-06-16T03:00:00Z')).toEqual([
      '2024-06-15T07:00:00.000Z',
      '2024-06-16T07:00:00.000Z',
    ]);
  });

  it('is 23 hours long on the spring-forward day and 25 on the fall-back day', () => {
    const spring = windowBounds(pacificDay, utc('2024-03-10T20:00:00Z'));
    expect([iso(spring.startMs), iso(spring.resetAtMs)]).toEqual([
      '2024-03-10T08:00:00.000Z',
      '2024-03-11T07:00:00.000Z',
    ]);
    expect(spring.resetAtMs - spring.startMs).toBe(23 * HOUR);
    const fall = windowBounds(pacificDay, utc('2024-11-03T07:30:00Z'));
    expect([iso(fall.startMs), iso(fall.resetAtMs)]).toEqual([
      '2024-11-03T07:00:00.000Z',
      '2024-11-04T08:00:00.000Z',
    ]);
    expect(fall.resetAtMs - fall.startMs).toBe(25 * HOUR);
  });

  it('handles zones with half- and quarter-hour offsets', () => {
    expect(
      bounds({ kind: 'calendar', unit: 'day', timeZone: 'Asia/Kolkata' }, '2024-01-01T20:00:00Z'),
    ).toEqual(['2024-01-01T18:30:00.000Z', '2024-01-02T18:30:00.000Z']);
    expect(
      bounds({ kind: 'calendar', unit: 'day', timeZone: 'Asia/Kathmandu' }, '2024-01-01T20:00:00Z'),
    ).toEqual(['2024-01-01T18:15:00.000Z', '2024-01-02T18:15:00.000Z']);
  });

  it('starts at anchorHour, and before it the window is still yesterday’s', () => {
    const nineUtc: QuotaWindow = { kind: 'calendar', unit: 'day', timeZone: 'UTC', anchorHour: 9 };
    expect(bounds(nineUtc, '2024-05-02T08:59:59Z')).toEqual([
      '2024-05-01T09:00:00.000Z',
      '2024-05-02T09:00:00.000Z',
    ]);
    expect(bounds(nineUtc, '2024-05-02T09:00:00Z')).toEqual([
      '2024-05-02T09:00:00.000Z',
      '2024-05-03T09:00:00.000Z',
    ]);
  });

  it('starts right after the jump when anchorHour is skipped by DST', () => {
    const twoAm: QuotaWindow = {
      kind: 'calendar',
      unit: 'day',
      timeZone: 'America/Los_Angeles',
      anchorHour: 2,
    };
    // 02:00 does not exist on 2024-03-10 in Los Angeles; the window starts at 03:00 PDT (10:00Z).
    expect(bounds(twoAm, '2024-03-10T12:00:00Z')).toEqual([
      '2024-03-10T10:00:00.000Z',
      '2024-03-11T09:00:00.000Z',
    ]);
    expect(bounds(twoAm, '2024-03-10T09:59:59Z')).toEqual([
      '2024-03-09T10:00:00.000Z',
      '2024-03-10T10:00:00.000Z',
    ]);
  });

  it('always contains now, chains without gaps and starts at the anchor hour, in many zones', () => {
    const zones = [
      'UTC',
      'America/Los_Angeles',
      'Europe/Berlin',
      'Australia/Lord_Howe',
      'Asia/Kolkata',
      'America/St_Johns',
    ];
    for (const timeZone of zones) {
      const window: QuotaWindow = { kind: 'calendar', unit: 'day', timeZone, anchorHour: 5 };
      for (
        let nowMs = utc('2024-01-01T00:00:00Z');
        nowMs < utc('2025-01-01T00:00:00Z');
        nowMs += 7 * HOUR + 13 * 60_000
      ) {
        const { startMs, resetAtMs } = windowBounds(window, nowMs);
        expect(startMs).toBeLessThanOrEqual(nowMs);
        expect(resetAtMs).toBeGreaterThan(nowMs);
        expect(resetAtMs - startMs).toBeGreaterThanOrEqual(23 * HOUR);
        expect(resetAtMs - startMs).toBeLessThanOrEqual(25 * HOUR);
        expect(windowBounds(window, resetAtMs).startMs).toBe(resetAtMs);
        const localHour = new Date(startMs + zoneOffsetMs(timeZone, startMs)).getUTCHours();
        expect(localHour).toBe(5);
      }
    }
  });
});

describe('windowBounds: calendar months', () => {
  it('runs from the 1st to the 1st by default (Anthropic spend caps: the 1st, UTC)', () => {
    expect(bounds({ kind: 'calendar', unit: 'month', timeZone: 'UTC' }, '2024-02-15T10:00:00Z')).toEqual([
      '2024-02-01T00:00:00.000Z',
      '2024-03-01T00:00:00.000Z',
    ]);
  });

  it('moves anchorDay 31 to the last day of shorter months', () => {
    const lastDay: QuotaWindow = { kind: 'calendar', unit: 'month', timeZone: 'UTC', anchorDay: 31 };
    expect(bounds(lastDay, '2023-02-15T00:00:00Z')).toEqual([
      '2023-01-31T00:00:00.000Z',
      '2023-02-28T00:00:00.000Z',
    ]);
    expect(bounds(lastDay, '2024-03-05T00:00:00Z')).toEqual([
      '2024-02-29T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
    ]);
    expect(bounds(lastDay, '2024-04-30T12:00:00Z')).toEqual([
      '2024-04-30T00:00:00.000Z',
      '2024-05-31T00:00:00.000Z',
    ]);
    expect(bounds(lastDay, '2024-12-31T00:00:00Z')).toEqual([
      '2024-12-31T00:00:00.000Z',
      '2025-01-31T00:00:00.000Z',
    ]);
  });

  it('follows local midnight across a DST change inside the month', () => {
    const pacificMonth: QuotaWindow = { kind: 'calendar', unit: 'month', timeZone: 'America/Los_Angeles' };
    expect(bounds(pacificMonth, '2024-03-20T00:00:00Z')).toEqual([
      '2024-03-01T08:00:00.000Z',
      '2024-04-01T07:00:00.000Z',
    ]);
    // 2024-04-01T05:00Z is still March 31st in California.
    expect(bounds(pacificMonth, '2024-04-01T05:00:00Z')).toEqual([
      '2024-03-01T08:00:00.000Z',
      '2024-04-01T07:00:00.000Z',
    ]);
  });

  it('rejects anchors out of range, naming the field and value', () => {
    const month = (anchorDay: number): QuotaWindow => ({
      kind: 'calendar',
      unit: 'month',
      timeZone: 'UTC',
      anchorDay,
    });
    expect(() => windowBounds(month(0), 0)).toThrow(/window\.anchorDay.*0/);
    expect(() => windowBounds(month(32), 0)).toThrow(/window\.anchorDay.*32/);
    expect(() => windowBounds(month(1.5), 0)).toThrow(/window\.anchorDay/);
    expect(() => windowBounds({ kind: 'calendar', unit: 'day', timeZone: 'UTC', anchorHour: 24 }, 0)).toThrow(
      /window\.anchorHour.*24/,
    );
  });
});

describe('windowBounds: provider buckets', () => {
  it('takes the reset from the provider and starts one window length before it when known', () => {
    const nowMs = utc('2024-05-01T12:00:30Z');
    const resetAtMs = nowMs + 12_000;
    expect(windowBounds({ kind: 'provider' }, nowMs, { resetAtMs, windowSeconds: 60 })).toEqual({
      startMs: resetAtMs - 60_000,
      resetAtMs,
    });
    expect(windowBounds({ kind: 'provider' }, nowMs, { resetAtMs })).toEqual({ startMs: nowMs, resetAtMs });
  });

  it('refuses to invent bounds without the reported reset', () => {
    expect(() => windowBounds({ kind: 'provider' }, 0)).toThrow(/reported\.resetAtMs/);
  });
});

describe('time zones', () => {
  it('validates names with Intl', () => {
    expect(isValidTimeZone('America/Los_Angeles')).toBe(true);
    expect(isValidTimeZone('UTC')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
    expect(isValidTimeZone(42)).toBe(false);
  });

  it('throws a coded error naming an unknown zone', () => {
    const window: QuotaWindow = { kind: 'calendar', unit: 'day', timeZone: 'Mars/Olympus_Mons' };
    let thrown: unknown;
    try {
      windowBounds(window, 0);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({
      code: 'HEADROOM_ERR_BAD_REQUEST',
      statusCode: 400,
      message: expect.stringMatching(/window\.timeZone.*"Mars\/Olympus_Mons"/) as unknown,
    });
  });

  it('converts wall-clock times with the zone’s offset, including DST', () => {
    expect(zoneOffsetMs('America/Los_Angeles', utc('2024-01-15T12:00:00Z'))).toBe(-8 * HOUR);
    expect(zoneOffsetMs('America/Los_Angeles', utc('2024-07-15T12:00:00Z'))).toBe(-7 * HOUR);
    expect(zoneOffsetMs('Asia/Kolkata', utc('2024-07-15T12:00:00Z'))).toBe(5.5 * HOUR);
    expect(iso(zonedTimeToUtc('Europe/Berlin', 2024, 7, 1, 9))).toBe('2024-07-01T07:00:00.000Z');
    // 01:30 happens twice on 2024-11-03 in Los Angeles: the first occurrence (PDT) is taken.
    expect(iso(zonedTimeToUtc('America/Los_Angeles', 2024, 11, 3, 1, 30))).toBe('2024-11-03T08:30:00.000Z');
  });
});
