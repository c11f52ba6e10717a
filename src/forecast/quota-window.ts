import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { assertTimeZone, toLocalDateTime, zonedTimeToUtc } from './time-zone.ts';
import type { QuotaWindow, ReportedWindow, WindowBounds } from './types.ts';

function invalidWindow(field: string, value: unknown, expected: string): HeadroomError {
  return new HeadroomError(
    ErrorCode.badRequest,
    `${field}: invalid value ${JSON.stringify(value)}; expected ${expected}`,
    { statusCode: 400, details: { field, value } },
  );
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Calendar month `month` (1-12, may overflow) of `year`, normalised. */
function normaliseMonth(year: number, month: number): { year: number; month: number } {
  const index = year * 12 + (month - 1);
  return { year: Math.floor(index / 12), month: (((index % 12) + 12) % 12) + 1 };
}

function monthAnchorUtc(
  timeZone: string,
  year: number,
  month: number,
  anchorDay: number,
  anchorHour: number,
): number {
  const normal = normaliseMonth(year, month);
  // anchorDay 31 in a 30-day month (or 29-31 in February) means the month's last day.
  const day = Math.min(anchorDay, daysInMonth(normal.year, normal.month));
  return zonedTimeToUtc(timeZone, normal.year, normal.month, day, anchorHour);
}

function readAnchor(value: number | undefined, field: string, min: number, max: number, fallback: number) {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidWindow(field, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * The current window of a quota at `nowMs`: usage counted from `startMs` is forgiven at `resetAtMs`,
 * with `startMs <= nowMs < resetAtMs`.
 *
 * - `rolling`: `[now - seconds, now + seconds)`. A sliding window frees each unit of usage `seconds`
 *   after it was spent, so capacity comes back continuously; `resetAtMs` approximates the moment the
 *   oldest usage leaves the window by the moment everything counted now has left it (an upper bound:
 *   the exact moment needs the per-call timeline). To forecast a sliding window, see `ForecastInput`.
 * - `calendar`: local days or months of `timeZone`, correct across DST (a local day is 23 or 25 hours
 *   long on transition days) and month ends (`anchorDay` 31 starts February's cycle on its last day).
 *   A start hour skipped by a DST jump starts the window right after the jump.
 * - `provider`: the bucket's reset comes from the provider's headers, passed as `reported`; the window
 *   starts `reported.windowSeconds` before the reset when known, else at `nowMs` (only the remaining
 *   amount is known, not when it was spent).
 *
 * Throws a coded error naming the field and value for an unknown time zone, an anchor out of range, a
 * non-positive rolling length, or a `provider` window without `reported`.
 */
export function windowBounds(window: QuotaWindow, nowMs: number, reported?: ReportedWindow): WindowBounds {
  if (!Number.isFinite(nowMs)) throw invalidWindow('nowMs', nowMs, 'a finite epoch ms');
  switch (window.kind) {
    case 'rolling': {
      if (!Number.isFinite(window.seconds) || window.seconds <= 0) {
        throw invalidWindow('window.seconds', window.seconds, 'a positive number of seconds');
      }
      const lengthMs = window.seconds * 1000;
      return { startMs: nowMs - lengthMs, resetAtMs: nowMs + lengthMs };
    }
    case 'calendar':
      return calendarBounds(window, nowMs);
    case 'provider': {
      if (reported === undefined || !Number.isFinite(reported.resetAtMs)) {
        throw invalidWindow(
          'reported.resetAtMs',
          reported?.resetAtMs,
          'the reset time reported by the provider (a provider window has no bounds of its own)',
        );
      }
      const lengthMs =
        reported.windowSeconds !== undefined && reported.windowSeconds > 0
          ? reported.windowSeconds * 1000
          : 0;
      const startMs = lengthMs > 0 ? Math.min(nowMs, reported.resetAtMs - lengthMs) : nowMs;
      return { startMs, resetAtMs: Math.max(reported.resetAtMs, startMs) };
    }
    default: {
      const unknownKind: never = window;
      throw invalidWindow(
        'window.kind',
        (unknownKind as { kind: unknown }).kind,
        'rolling, calendar or provider',
      );
    }
  }
}

function calendarBounds(window: Extract<QuotaWindow, { kind: 'calendar' }>, nowMs: number): WindowBounds {
  assertTimeZone(window.timeZone, 'window.timeZone');
  const anchorHour = readAnchor(window.anchorHour, 'window.anchorHour', 0, 23, 0);
  const local = toLocalDateTime(window.timeZone, nowMs);
  if (window.unit === 'day') {
    let startMs = zonedTimeToUtc(window.timeZone, local.year, local.month, local.day, anchorHour);
    let startDay = local.day;
    if (startMs > nowMs) {
      startDay -= 1;
      startMs = zonedTimeToUtc(window.timeZone, local.year, local.month, startDay, anchorHour);
    }
    const resetAtMs = zonedTimeToUtc(window.timeZone, local.year, local.month, startDay + 1, anchorHour);
    return { startMs, resetAtMs };
  }
  if (window.unit !== 'month') throw invalidWindow('window.unit', window.unit, 'day or month');
  const anchorDay = readAnchor(window.anchorDay, 'window.anchorDay', 1, 31, 1);
  let startMonth = local.month;
  let startMs = monthAnchorUtc(window.timeZone, local.year, startMonth, anchorDay, anchorHour);
  if (startMs > nowMs) {
    startMonth -= 1;
    startMs = monthAnchorUtc(window.timeZone, local.year, startMonth, anchorDay, anchorHour);
  }
  const resetAtMs = monthAnchorUtc(window.timeZone, local.year, startMonth + 1, anchorDay, anchorHour);
  return { startMs, resetAtMs };
}
