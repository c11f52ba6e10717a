import { ErrorCode, HeadroomError } from '../errors/index.ts';

const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;

/**
 * Every UTC offset change in the tz database since the 1970s happens on a quarter-hour boundary in UTC
 * (offsets are whole quarter-hours and transitions happen on whole local minutes of them), so the
 * offset is constant inside each UTC quarter-hour and can be memoised per quarter-hour.
 */
const OFFSET_QUANTUM_MS = 15 * MS_PER_MINUTE;
const MAX_CACHED_OFFSETS_PER_ZONE = 100_000;
/** No zone changes its offset twice within a week, so probing weekly finds every transition. */
const TRANSITION_PROBE_MS = 7 * MS_PER_DAY;

interface ZoneInfo {
  formatter: Intl.DateTimeFormat;
  isUtc: boolean;
  /** Offset (local minus UTC, ms) per UTC quarter-hour index. A pure memo: same input, same output. */
  offsets: Map<number, number>;
}

const zones = new Map<string, ZoneInfo>();

function lookUpZone(timeZone: string): ZoneInfo | undefined {
  const known = zones.get(timeZone);
  if (known !== undefined) return known;
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    return undefined;
  }
  const resolved = formatter.resolvedOptions().timeZone;
  const info: ZoneInfo = {
    formatter,
    isUtc: resolved === 'UTC' || resolved === 'Etc/UTC' || resolved === 'Etc/GMT' || resolved === 'GMT',
    offsets: new Map(),
  };
  zones.set(timeZone, info);
  return info;
}

/** True when `timeZone` is a time zone this runtime's Intl knows (IANA name such as `Europe/Paris`, or `UTC`). */
export function isValidTimeZone(timeZone: unknown): timeZone is string {
  return typeof timeZone === 'string' && timeZone.length > 0 && lookUpZone(timeZone) !== undefined;
}

function requireZone(timeZone: string, field: string): ZoneInfo {
  const info = typeof timeZone === 'string' && timeZone.length > 0 ? lookUpZone(timeZone) : undefined;
  if (info === undefined) {
    throw new HeadroomError(
      ErrorCode.badRequest,
      `${field}: unknown time zone ${JSON.stringify(timeZone)}; expected an IANA time zone name such as "UTC" or "America/Los_Angeles"`,
      { statusCode: 400, details: { field, value: timeZone } },
    );
  }
  return info;
}

/** Throws a coded error naming the value when `timeZone` is not a known time zone. */
export function assertTimeZone(timeZone: string, field = 'timeZone'): void {
  requireZone(timeZone, field);
}

function computeOffsetMs(info: ZoneInfo, utcMs: number): number {
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const part of info.formatter.formatToParts(utcMs)) {
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
  const wholeSecondMs = utcMs - (((utcMs % 1000) + 1000) % 1000);
  return Date.UTC(year, month - 1, day, hour, minute, second) - wholeSecondMs;
}

function offsetOf(info: ZoneInfo, utcMs: number): number {
  if (info.isUtc) return 0;
  const quantum = Math.floor(utcMs / OFFSET_QUANTUM_MS);
  const cached = info.offsets.get(quantum);
  if (cached !== undefined) return cached;
  if (info.offsets.size >= MAX_CACHED_OFFSETS_PER_ZONE) info.offsets.clear();
  const offsetMs = computeOffsetMs(info, quantum * OFFSET_QUANTUM_MS);
  info.offsets.set(quantum, offsetMs);
  return offsetMs;
}

/** Offset of `timeZone` from UTC at the instant `utcMs` (local minus UTC, ms; -7 h is -25_200_000). */
export function zoneOffsetMs(timeZone: string, utcMs: number): number {
  return offsetOf(requireZone(timeZone, 'timeZone'), utcMs);
}

/** Wall-clock fields of an instant in a zone. `month` is 1-12. */
export interface LocalDateTime {
  year: number;
  month: number;
  day: number;
  hour: number;
}

export function toLocalDateTime(timeZone: string, utcMs: number): LocalDateTime {
  const local = new Date(utcMs + zoneOffsetMs(timeZone, utcMs));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
  };
}

/**
 * The instant at which the wall clock of `timeZone` shows the given local time. Fields may overflow
 * (day 0 is the last day of the previous month), as with `Date.UTC`. Follows Temporal's `compatible`
 * disambiguation: a time skipped by a forward DST jump maps to the instant the same distance after the
 * jump (02:30 on a spring-forward night is 03:30), a time repeated by a backward jump maps to its first
 * occurrence.
 */
export function zonedTimeToUtc(
  timeZone: string,
  year: number,
  month: number,
  day: number,
  hour = 0,
  minute = 0,
): number {
  const info = requireZone(timeZone, 'timeZone');
  const wallMs = Date.UTC(year, month - 1, day, hour, minute);
  if (info.isUtc) return wallMs;
  const offsetBefore = offsetOf(info, wallMs - MS_PER_DAY);
  const offsetAfter = offsetOf(info, wallMs + MS_PER_DAY);
  let best = Number.POSITIVE_INFINITY;
  for (const candidateOffset of [offsetBefore, offsetAfter]) {
    const utcMs = wallMs - candidateOffset;
    if (offsetOf(info, utcMs) === candidateOffset && utcMs < best) best = utcMs;
  }
  return Number.isFinite(best) ? best : wallMs - offsetBefore;
}

/**
 * The UTC offsets of a zone over an interval as constant pieces: piece i holds from `startsMs[i]` to
 * `startsMs[i + 1]`. The first piece extends backwards and the last forwards without limit, so lookups
 * slightly outside the interval stay sensible. Built once per forecast so that hot loops never call Intl.
 */
export interface OffsetTimeline {
  startsMs: number[];
  offsetsMs: number[];
}

export function buildOffsetTimeline(timeZone: string, fromMs: number, toMs: number): OffsetTimeline {
  const info = requireZone(timeZone, 'timeZone');
  if (info.isUtc) return { startsMs: [Number.NEGATIVE_INFINITY], offsetsMs: [0] };
  const startsMs = [Number.NEGATIVE_INFINITY];
  const offsetsMs = [offsetOf(info, fromMs)];
  let probeMs = fromMs;
  while (probeMs < toMs) {
    // Probes sit on a fixed weekly grid, so forecasts over similar spans share the memoised offsets.
    const nextProbeMs = Math.min((Math.floor(probeMs / TRANSITION_PROBE_MS) + 1) * TRANSITION_PROBE_MS, toMs);
    let lowMs = probeMs;
    let lowOffset = offsetsMs[offsetsMs.length - 1] ?? 0;
    const highOffset = offsetOf(info, nextProbeMs);
    while (lowOffset !== highOffset) {
      // Binary search, in whole quarter-hours, for the first quantum whose offset differs.
      let low = Math.floor(lowMs / OFFSET_QUANTUM_MS);
      let high = Math.floor(nextProbeMs / OFFSET_QUANTUM_MS);
      while (high - low > 1) {
        const mid = Math.floor((low + high) / 2);
        if (offsetOf(info, mid * OFFSET_QUANTUM_MS) === lowOffset) low = mid;
        else high = mid;
      }
      lowMs = high * OFFSET_QUANTUM_MS;
      lowOffset = offsetOf(info, lowMs);
      startsMs.push(lowMs);
      offsetsMs.push(lowOffset);
    }
    probeMs = nextProbeMs;
  }
  return { startsMs, offsetsMs };
}

/** Index of the timeline piece that holds `utcMs`. */
export function timelinePieceAt(timeline: OffsetTimeline, utcMs: number): number {
  const starts = timeline.startsMs;
  let index = starts.length - 1;
  while (index > 0 && (starts[index] ?? Number.NEGATIVE_INFINITY) > utcMs) index -= 1;
  return index;
}

/** `UTC+05:30`, `UTC−08:00` (with the minus sign a person reads, U+2212), or `UTC` for no offset. */
export function formatUtcOffset(offsetMs: number): string {
  if (offsetMs === 0) return 'UTC';
  const minutes = Math.round(Math.abs(offsetMs) / MS_PER_MINUTE);
  const hh = String(Math.floor(minutes / 60)).padStart(2, '0');
  const mm = String(minutes % 60).padStart(2, '0');
  return `UTC${offsetMs < 0 ? '\u2212' : '+'}${hh}:${mm}`;
}

/**
 * A time zone as a person reads it at `atMs`. POSIX-style `Etc/GMT±N` names count the other way
 * (`Etc/GMT+8` is eight hours *behind* UTC), so fixed-offset zones are shown by their offset alone
 * (`UTC−08:00`); UTC itself is `UTC`; named zones keep their IANA name with the offset in force
 * (`America/Los_Angeles (UTC−08:00)`).
 */
export function describeTimeZone(timeZone: string, atMs: number): string {
  const info = requireZone(timeZone, 'timeZone');
  if (info.isUtc) return 'UTC';
  const offset = formatUtcOffset(offsetOf(info, atMs));
  const name = info.formatter.resolvedOptions().timeZone;
  if (/^Etc\//.test(name) || /^[+-]\d/.test(name)) return offset;
  return `${timeZone} (${offset})`;
}
