/** Escapes text for HTML content and attribute values. */
export function esc(value: string | number): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `14:05 UTC` on the day of `nowMs`, `3 Dec 14:05 UTC` on another day, `—` for none. */
export function formatTime(ms: number | null, nowMs: number): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  const hhmm = d.toISOString().slice(11, 16);
  const sameDay = new Date(nowMs).toISOString().slice(0, 10) === d.toISOString().slice(0, 10);
  return sameDay ? `${hhmm} UTC` : `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()] ?? ''} ${hhmm} UTC`;
}

export function parseIso(text: string | null): number | null {
  return text === null ? null : Date.parse(text);
}

/** `in 3 h 20 min`, `12 min ago`. */
export function formatRelative(ms: number | null, nowMs: number): string {
  if (ms === null) return '';
  const minutes = Math.round((ms - nowMs) / 60_000);
  const abs = Math.abs(minutes);
  const text =
    abs < 1
      ? 'now'
      : abs < 60
        ? `${abs} min`
        : `${Math.floor(abs / 60)} h${abs % 60 === 0 ? '' : ` ${abs % 60} min`}`;
  if (text === 'now') return text;
  return minutes > 0 ? `in ${text}` : `${text} ago`;
}

export function formatAmount(value: number, dimension: string): string {
  if (dimension === 'cost_usd') return `$${value.toFixed(2)}`;
  return Math.round(value).toLocaleString('en-US');
}

export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 && ratio > 0 ? 1 : 0)} %`;
}

export function formatProbability(p: number): string {
  return `${Math.round(p * 100)} %`;
}
