import { describe, expect, it } from 'vitest';
import { describeTimeZone, formatUtcOffset } from '../../src/forecast/index.ts';

const WINTER = Date.UTC(2026, 0, 15, 12);
const SUMMER = Date.UTC(2026, 6, 15, 12);

describe('describeTimeZone', () => {
  it('names POSIX-style Etc/GMT zones by the offset a person reads (Etc/GMT+8 is eight hours behind UTC)', () => {
    expect(describeTimeZone('Etc/GMT+8', WINTER)).toBe('UTC\u221208:00');
    expect(describeTimeZone('Etc/GMT-5', WINTER)).toBe('UTC+05:00');
    expect(describeTimeZone('Etc/GMT-14', SUMMER)).toBe('UTC+14:00');
  });

  it('keeps IANA names, with the offset in force at that instant', () => {
    expect(describeTimeZone('America/Los_Angeles', WINTER)).toBe('America/Los_Angeles (UTC\u221208:00)');
    expect(describeTimeZone('America/Los_Angeles', SUMMER)).toBe('America/Los_Angeles (UTC\u221207:00)');
    expect(describeTimeZone('Asia/Kolkata', SUMMER)).toBe('Asia/Kolkata (UTC+05:30)');
  });

  it('calls every spelling of UTC plain UTC', () => {
    for (const zone of ['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT'])
      expect(describeTimeZone(zone, WINTER)).toBe('UTC');
  });

  it('formats offsets with hours and minutes', () => {
    expect(formatUtcOffset(-(3 * 60 + 30) * 60_000)).toBe('UTC\u221203:30');
    expect(formatUtcOffset(45 * 60_000)).toBe('UTC+00:45');
    expect(formatUtcOffset(0)).toBe('UTC');
  });
});
