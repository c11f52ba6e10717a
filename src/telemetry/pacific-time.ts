/**
 * Gemini API per-day quotas reset at midnight Pacific time ("Rate limits", ai.google.dev/gemini-api/docs/rate-limits).
 * The zone's offset changes with daylight saving, so the instant is computed from the IANA zone
 * database through Intl rather than from a fixed UTC-8.
 */

const PACIFIC_WALL_CLOCK = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles',
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
});

interface WallClock {
  year: number;
  month: number;
  day: number;
  /** The wall-clock reading encoded as if it were UTC, in ms. */
  asUtcMs: number;
}

function readPacificWallClock(epochMs: number): WallClock {
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of PACIFIC_WALL_CLOCK.formatToParts(epochMs)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
      default:
        break;
    }
  }
  return { year, month, day, asUtcMs: Date.UTC(year, month - 1, day, hour, minute, second) };
}

/** UTC offset of Pacific time at `epochMs`, in ms (-8 h in winter, -7 h in summer). */
function pacificOffsetMs(epochMs: number): number {
  const wholeSecondMs = Math.floor(epochMs / 1000) * 1000;
  return readPacificWallClock(wholeSecondMs).asUtcMs - wholeSecondMs;
}

// The next midnight is the same for every instant between a call's `nowMs` and its result, which
// covers the usual case of many 429s in a row on the same day.
const MAX_DATE_MS = 8.64e15;

let cachedFromMs = Number.NaN;
let cachedMidnightMs = Number.NaN;

/** Epoch ms of the first midnight in America/Los_Angeles strictly after `nowMs`. */
export function nextPacificMidnightMs(nowMs: number): number {
  // Intl throws outside the Date range (±8.64e15 ms); an impossible clock yields no reset instead.
  if (!(Math.abs(nowMs) <= MAX_DATE_MS)) return Number.NaN;
  if (nowMs >= cachedFromMs && nowMs < cachedMidnightMs) return cachedMidnightMs;
  const today = readPacificWallClock(nowMs);
  const midnightWallMs = Date.UTC(today.year, today.month - 1, today.day + 1);
  // Midnight never falls inside a DST transition in this zone (they happen at 02:00), so two
  // rounds of "wall time minus the offset in force" land on the exact instant.
  let instantMs = midnightWallMs - pacificOffsetMs(midnightWallMs);
  instantMs = midnightWallMs - pacificOffsetMs(instantMs);
  cachedFromMs = nowMs;
  cachedMidnightMs = instantMs;
  return instantMs;
}
