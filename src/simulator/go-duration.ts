/**
 * Formats a wait as Go's `time.Duration.String()` does, the way OpenAI writes its
 * `x-ratelimit-reset-*` headers (`6m0s`, `1.5s`, `12ms`, `1h0m0s`), rounded up to whole
 * milliseconds so a caller never comes back too early.
 */
export function formatGoDuration(ms: number): string {
  const totalMs = Number.isFinite(ms) ? Math.max(0, Math.ceil(ms - 1e-9)) : 0;
  if (totalMs === 0) return '0s';
  if (totalMs < 1000) return `${totalMs}ms`;
  const hours = Math.floor(totalMs / 3_600_000);
  const minutes = Math.floor((totalMs % 3_600_000) / 60_000);
  const secondsMs = totalMs % 60_000;
  const seconds = (secondsMs / 1000).toFixed(3).replace(/\.?0+$/, '');
  let text = '';
  if (hours > 0) text += `${hours}h`;
  if (hours > 0 || minutes > 0) text += `${minutes}m`;
  return `${text}${seconds}s`;
}

/** An RFC 3339 instant at whole seconds, rounded up, as Anthropic writes its resets (`2026-03-08T00:00:07Z`). */
export function formatRfc3339Seconds(epochMs: number): string {
  return new Date(Math.ceil(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}
