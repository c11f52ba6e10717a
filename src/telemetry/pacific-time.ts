import { windowBounds } from '../forecast/index.ts';

/**
 * Gemini API per-day quotas reset at midnight Pacific time ("Rate limits",
 * ai.google.dev/gemini-api/docs/rate-limits). The quota-window maths of the forecasting core knows
 * the zone's daylight-saving rules, so the reset is the end of the current Pacific calendar day.
 */
const PACIFIC_DAY = { kind: 'calendar', unit: 'day', timeZone: 'America/Los_Angeles' } as const;

// Intl throws outside the Date range (±8.64e15 ms); an impossible clock yields no reset instead.
const MAX_DATE_MS = 8.64e15;

/** Epoch ms of the first midnight in America/Los_Angeles strictly after `nowMs`. */
export function nextPacificMidnightMs(nowMs: number): number {
  if (!(Math.abs(nowMs) <= MAX_DATE_MS - 2 * 86_400_000)) return Number.NaN;
  return windowBounds(PACIFIC_DAY, nowMs).resetAtMs;
}
