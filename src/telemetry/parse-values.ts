/**
 * Strict scalar parsers for header values. Every function returns `undefined` for anything it does
 * not fully understand: a garbled provider value must never become a confident number.
 */

const MAX_SAFE_DIGITS = 15;

/** A base-10 non-negative integer made only of digits (surrounding whitespace allowed), else undefined. */
export function parseNonNegativeInteger(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  if (value.length === 0 || value.length > MAX_SAFE_DIGITS) return undefined;
  let result = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    result = result * 10 + digit;
  }
  return result;
}

/** A non-negative decimal such as `12`, `7.5` or `.5` (no sign, no exponent), else undefined. */
export function parseNonNegativeDecimal(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  if (value.length === 0 || value.length > 32) return undefined;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 46) dots++;
    else if (code >= 48 && code <= 57) digits++;
    else return undefined;
  }
  if (digits === 0 || dots > 1) return undefined;
  const result = Number(value);
  return Number.isFinite(result) ? result : undefined;
}

// Nanoseconds per Go duration unit (time.ParseDuration: "ns", "us", "µs", "μs", "ms", "s", "m", "h").
const GO_UNIT_NANOS: ReadonlyMap<string, number> = new Map([
  ['ns', 1],
  ['us', 1e3],
  ['\u00b5s', 1e3],
  ['\u03bcs', 1e3],
  ['ms', 1e6],
  ['s', 1e9],
  ['m', 60e9],
  ['h', 3600e9],
]);

/**
 * Parses a Go `time.Duration` string as OpenAI and Groq send in `x-ratelimit-reset-*`
 * (`6m0s`, `2m59.56s`, `12ms`, `1h2m3s`, `500us`) into milliseconds (fractional below 1 ms).
 * Grammar from Go's `time.ParseDuration`; negative durations are rejected because every use here
 * is a time until something happens.
 */
export function parseGoDuration(text: string): number | undefined {
  const value = text.trim();
  let i = 0;
  if (value.charCodeAt(0) === 43 /* + */) i = 1;
  if (i >= value.length) return undefined;
  if (value.length - i === 1 && value.charCodeAt(i) === 48 /* "0" */) return 0;
  // Nanoseconds stay exact integers up to ~104 days, so "2m59.56s" is exactly 179560 ms.
  let totalNanos = 0;
  while (i < value.length) {
    let whole = 0;
    let wholeDigits = 0;
    while (i < value.length && isDigit(value.charCodeAt(i))) {
      whole = whole * 10 + (value.charCodeAt(i) - 48);
      wholeDigits++;
      i++;
    }
    let fraction = 0;
    let fractionScale = 1;
    let fractionDigits = 0;
    if (i < value.length && value.charCodeAt(i) === 46 /* . */) {
      i++;
      while (i < value.length && isDigit(value.charCodeAt(i))) {
        // Digits beyond nanosecond precision cannot change the result; Go drops them too.
        if (fractionDigits < 15) {
          fraction = fraction * 10 + (value.charCodeAt(i) - 48);
          fractionScale *= 10;
        }
        fractionDigits++;
        i++;
      }
    }
    if (wholeDigits === 0 && fractionDigits === 0) return undefined;
    const unitStart = i;
    while (i < value.length && !isDigit(value.charCodeAt(i)) && value.charCodeAt(i) !== 46) i++;
    const unitNanos = GO_UNIT_NANOS.get(value.slice(unitStart, i));
    if (unitNanos === undefined) return undefined;
    totalNanos += whole * unitNanos + Math.round((fraction * unitNanos) / fractionScale);
  }
  const millis = totalNanos / 1e6;
  return Number.isFinite(millis) ? millis : undefined;
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

const MONTHS: ReadonlyMap<string, number> = new Map([
  ['Jan', 0],
  ['Feb', 1],
  ['Mar', 2],
  ['Apr', 3],
  ['May', 4],
  ['Jun', 5],
  ['Jul', 6],
  ['Aug', 7],
  ['Sep', 8],
  ['Oct', 9],
  ['Nov', 10],
  ['Dec', 11],
]);

// RFC 9110 §5.6.7: recipients accept IMF-fixdate and the two obsolete forms.
const IMF_FIXDATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/;
const RFC850_DATE =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/;
const ASCTIME_DATE =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})$/;

/** Parses an HTTP-date (RFC 9110 §5.6.7) into epoch ms; `nowMs` resolves rfc850's two-digit year. */
export function parseHttpDate(text: string, nowMs: number): number | undefined {
  const value = text.trim();
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) {
    return utcMillis(match[3], match[2], match[1], match[4], match[5], match[6]);
  }
  match = RFC850_DATE.exec(value);
  if (match !== null) {
    // RFC 9110: a two-digit year more than 50 years in the future is in the previous century.
    const twoDigit = Number(match[3]);
    const currentYear = new Date(nowMs).getUTCFullYear();
    let year = 2000 + twoDigit;
    if (year > currentYear + 50) year -= 100;
    return utcMillis(String(year), match[2], match[1], match[4], match[5], match[6]);
  }
  match = ASCTIME_DATE.exec(value);
  if (match !== null) {
    return utcMillis(match[6], match[1], match[2]?.trim(), match[3], match[4], match[5]);
  }
  return undefined;
}

function utcMillis(
  yearText: string | undefined,
  monthText: string | undefined,
  dayText: string | undefined,
  hourText: string | undefined,
  minuteText: string | undefined,
  secondText: string | undefined,
): number | undefined {
  const month = MONTHS.get(monthText ?? '');
  if (month === undefined) return undefined;
  const year = Number(yearText);
  const day = Number(dayText);
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  if (day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60) return undefined;
  return Date.UTC(year, month, day, hour, minute, second);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

function daysInMonth(year: number, monthIndex: number): number {
  if (monthIndex === 1 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[monthIndex] ?? 0;
}

const RFC3339 =
  /^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))$/;

/** Parses an RFC 3339 timestamp (`2025-01-15T14:24:00Z`, offsets and fractions allowed) into epoch ms. */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text.trim());
  if (match === null) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = Number(match[6]);
  if (month < 0 || month > 11 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  const fraction = match[7] === undefined ? 0 : Number(`0.${match[7]}`) * 1000;
  let offsetMinutes = 0;
  if (match[8] === undefined) {
    const offsetHours = Number(match[10]);
    const offsetMins = Number(match[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (offsetHours * 60 + offsetMins) * (match[9] === '-' ? -1 : 1);
  }
  return Date.UTC(year, month, day, hour, minute, second) + fraction - offsetMinutes * 60_000;
}

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns the wait
 * in ms from `nowMs`, never negative (a date in the past means "now"). Fractional seconds such as
 * `1.5` are accepted because the OpenAI SDKs accept them too.
 */
export function parseRetryAfter(value: string, nowMs: number): number | undefined {
  const seconds = parseNonNegativeDecimal(value);
  if (seconds !== undefined) return Math.ceil(seconds * 1000);
  const dateMs = parseHttpDate(value, nowMs);
  if (dateMs === undefined || !Number.isFinite(nowMs)) return undefined;
  return Math.max(0, Math.ceil(dateMs - nowMs));
}
