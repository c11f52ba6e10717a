/** Text tables and the JSON figures of the forecast back-test. */
import { PRIMARY_SCORERS, scoreOutcomes } from './replay.ts';
import type { CaseOutcome, MethodScore } from './replay.ts';

/** JSON field names of a group's scores; `recallName` says which lead the recall requires. */
export function scoresToJson(score: MethodScore, recallName: string): Record<string, number | null> {
  const round = (value: number | null, digits: number): number | null =>
    value === null ? null : Number(value.toFixed(digits));
  return {
    [recallName]: round(score.recall, 4),
    [`${recallName}_foreseeable`]: round(score.recall_foreseeable, 4),
    recall_any: round(score.recall_any, 4),
    median_lead_min: round(score.median_lead_min, 2),
    false_alarm_rate: round(score.false_alarm_rate, 4),
    false_alarm_rate_clear: round(score.false_alarm_rate_clear, 4),
    median_abs_eta_error_min: round(score.median_abs_eta_error_min, 2),
    events: score.events,
    foreseeable_events: score.foreseeable_events,
    key_windows: score.key_windows,
  };
}

/** The figures of the scorers named (by default the primary ones) over `outcomes`, as JSON. */
export function groupJson(
  outcomes: readonly CaseOutcome[],
  recallName: string,
  names: readonly string[] = PRIMARY_SCORERS,
): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const name of names) json[name] = scoresToJson(scoreOutcomes(outcomes, name), recallName);
  return json;
}

function cell(value: number | null, digits: number, unit = ''): string {
  return value === null ? '-' : `${value.toFixed(digits)}${unit}`;
}

const COLUMNS = [
  ['scenario', 22],
  ['method', 18],
  ['events', 7],
  ['windows', 8],
  ['recall', 7],
  ['rec.fore', 9],
  ['rec.any', 8],
  ['med.lead', 10],
  ['false.al', 9],
  ['fa.clear', 9],
  ['|eta err|', 10],
] as const;

export function tableHeader(): string {
  const header = COLUMNS.map(([name, width], i) => (i < 2 ? name.padEnd(width) : name.padStart(width))).join(
    ' ',
  );
  return `${header}\n${'-'.repeat(header.length)}`;
}

/** Rows for one scenario: the primary methods, or the scorers named. */
export function tableRows(
  scenario: string,
  outcomes: readonly CaseOutcome[],
  leadUnit: 'min' | 's',
  names: readonly string[] = PRIMARY_SCORERS,
): string {
  const factor = leadUnit === 's' ? 60 : 1;
  return names
    .map((name, index) => {
      const s = scoreOutcomes(outcomes, name);
      const values = [
        index === 0 ? scenario : '',
        name,
        String(s.events),
        String(s.key_windows),
        cell(s.recall, 3),
        cell(s.recall_foreseeable, 3),
        cell(s.recall_any, 3),
        cell(s.median_lead_min === null ? null : s.median_lead_min * factor, 0, leadUnit),
        cell(s.false_alarm_rate, 3),
        cell(s.false_alarm_rate_clear, 3),
        cell(s.median_abs_eta_error_min === null ? null : s.median_abs_eta_error_min * factor, 0, leadUnit),
      ];
      return values
        .map((value, i) => {
          const width = COLUMNS[i]?.[1] ?? 8;
          return i < 2 ? value.padEnd(width) : value.padStart(width);
        })
        .join(' ');
    })
    .join('\n');
}
