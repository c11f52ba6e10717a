import type { KeysView } from '../view/index.ts';

const NONE = '—';

/** `14:05 UTC` on the day of the cycle, `2026-12-03 14:05 UTC` on another day. */
function formatInstant(iso: string | null, evaluatedAt: string | null): string {
  if (iso === null) return NONE;
  const sameDay = evaluatedAt !== null && iso.slice(0, 10) === evaluatedAt.slice(0, 10);
  return `${sameDay ? '' : iso.slice(0, 10) + ' '}${iso.slice(11, 16)} UTC`;
}

/**
 * The key table as text lines: one row per key and quota with usage, the chance and median time of
 * running out before reset, the reset, the advice weight and state. Keys without a known quota get
 * one row of dashes, so a key that is seen but unconstrained is still listed.
 */
export function formatKeyTable(view: KeysView): string[] {
  const showPool = new Set(view.keys.map((k) => k.pool)).size > 1;
  const header = [
    ...(showPool ? ['pool'] : []),
    'key',
    'quota',
    'used / limit',
    'p(run out)',
    'runs out (p50)',
    'resets',
    'weight',
    'state',
  ];
  const rows: string[][] = [];
  const keys = [...view.keys].sort(
    (a, b) => a.pool.localeCompare(b.pool) || a.key_id.localeCompare(b.key_id),
  );
  for (const key of keys) {
    const tail = [key.weight === null ? NONE : key.weight.toFixed(3), key.state ?? NONE];
    const lead = [...(showPool ? [key.pool] : []), key.key_id];
    if (key.quotas.length === 0) rows.push([...lead, NONE, NONE, NONE, NONE, NONE, ...tail]);
    for (const q of key.quotas) {
      rows.push([
        ...lead,
        q.refilled === true ? `${q.quota_id} (refilled)` : q.quota_id,
        `${Math.round(q.used)} / ${q.limit}`,
        q.status === 'insufficient_data' ? 'no data' : q.p_exhaust.toFixed(2),
        formatInstant(q.eta_p50, view.evaluated_at),
        formatInstant(q.reset_at, view.evaluated_at),
        ...tail,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}
