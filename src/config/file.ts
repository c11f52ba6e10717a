import { z } from 'zod';
import { parseConfigDocument, readConfigText } from './document.ts';

/**
 * The default forecast alert: more likely than not to run out, within the next six hours. Chosen on
 * the forecast back-test (`npm run bench:forecast`), where a bounded horizon at p >= 0.5 warns of as
 * many exhaustions as p >= 0.8 without one, with far fewer false alarms.
 */
export const DEFAULT_FORECAST_P_EXHAUST = 0.5;
export const DEFAULT_FORECAST_HORIZON_MINUTES = 360;
/** The pace rule's lookback; the rule itself is off until `pace_horizon_minutes` is set. */
export const DEFAULT_PACE_LOOKBACK_MINUTES = 30;

const DIMENSIONS = ['requests', 'tokens', 'input_tokens', 'output_tokens', 'cost_usd'] as const;

function validTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

// Each field states its whole expectation once, so a bad value is told what is wanted in one phrase
// rather than by the first of several checks it failed.
function numberWhere(expected: string, valid: (value: number) => boolean) {
  return z.number({ error: expected }).refine(valid, { error: expected });
}

function wholeNumber(min: number, max: number, unit: string) {
  return numberWhere(
    `a whole number of ${unit} from ${min} to ${max}`,
    (n) => Number.isInteger(n) && n >= min && n <= max,
  );
}

function text(expected: string) {
  return z.string({ error: expected }).min(1, { error: expected });
}

function listOf<T extends z.ZodType>(item: T, what: string) {
  return z.array(item, { error: `a list of ${what}` }).default([]);
}

/** Cycle periods the cron schedule can keep evenly: divisors of a minute, or whole minutes dividing an hour. */
const INTERVAL_SECONDS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
const INTERVAL_MINUTES = [2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60];
const INTERVAL_EXPECTED =
  `a number of seconds that divides 60 evenly: ${INTERVAL_SECONDS.slice(0, -1).join(', ')} or 60; ` +
  `or whole minutes that divide an hour: ${INTERVAL_MINUTES.slice(0, -1)
    .map((m) => m * 60)
    .join(', ')} or 3600`;

function validIntervalSeconds(seconds: number): boolean {
  return INTERVAL_SECONDS.includes(seconds) || INTERVAL_MINUTES.some((m) => m * 60 === seconds);
}

const timeZone = text('an IANA time zone such as UTC or America/Los_Angeles').refine(validTimeZone, {
  error: 'an IANA time zone such as UTC or America/Los_Angeles',
});

const WINDOW_EXPECTED = 'day, month or a rolling window such as 60s, 5m or 1h';

const quotaSchema = z
  .object({
    /** Stable name of the quota, used in alerts; default `<dimension>_per_<window>`. */
    id: text('a non-empty quota name').optional(),
    dimension: z.enum(DIMENSIONS),
    /** `day`, `month`, or a rolling window such as `60s` / `5m`. */
    window: z
      .string({ error: WINDOW_EXPECTED })
      .regex(/^(day|month|[1-9]\d*[smh])$/, { error: WINDOW_EXPECTED }),
    limit: numberWhere('a number above 0', (n) => n > 0),
    time_zone: timeZone.default('UTC'),
    /** Month windows: the day of the month the cycle starts on (1-31). */
    anchor_day: wholeNumber(1, 31, 'the day of the month').optional(),
    /** Local hour the window starts at (0-23). */
    anchor_hour: wholeNumber(0, 23, 'the hour').optional(),
  })
  .strict();

const keySchema = z
  .object({
    id: text('the key alias or fingerprint, as sent in keypool.key.id'),
    partition: text('the name of the quota partition the key draws from').optional(),
    provider: text('a provider name such as openai').optional(),
    quotas: listOf(quotaSchema, 'quotas'),
  })
  .strict();

const partitionSchema = z
  .object({
    id: text('the partition name, as sent in keypool.partition'),
    quotas: listOf(quotaSchema, 'quotas'),
  })
  .strict();

const slackChannel = text('a Slack channel such as "#llm-keys"');

const poolSchema = z
  .object({
    name: text('the pool name, as sent in keypool.pool'),
    /** Quotas every key of the pool has unless it lists its own. */
    key_quotas: listOf(quotaSchema, 'quotas'),
    /** Quotas of the pool as a whole: every key's usage counts against them (e.g. a team's spend cap). */
    quotas: listOf(quotaSchema, 'quotas'),
    keys: listOf(keySchema, 'keys'),
    partitions: listOf(partitionSchema, 'partitions'),
    slack_channel: slackChannel.optional(),
  })
  .strict()
  .superRefine((pool, context) => {
    const firstIndex = new Map<string, number>();
    for (const [j, key] of pool.keys.entries()) {
      const earlier = firstIndex.get(key.id);
      if (earlier !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['keys', j, 'id'],
          message: `a key id not used earlier in the pool (keys[${earlier}] has it)`,
        });
      } else firstIndex.set(key.id, j);
    }
  });

const ratio = (example: number, inclusiveMax: boolean) =>
  numberWhere(`a ratio above 0 and ${inclusiveMax ? 'at most' : 'below'} 1, such as ${example}`, (r) =>
    inclusiveMax ? r > 0 && r <= 1 : r > 0 && r < 1,
  );
const minutesOrSeconds = (unit: string, note = '') =>
  numberWhere(`a number of ${unit}, 0 or more${note}`, (n) => n >= 0);

const fileSchema = z
  .object({
    analytics: z
      .object({
        interval_seconds: numberWhere(INTERVAL_EXPECTED, validIntervalSeconds).default(30),
        history_days: wholeNumber(1, 28, 'days').default(7),
      })
      .strict()
      .default({ interval_seconds: 30, history_days: 7 }),
    alerts: z
      .object({
        warning_ratio: ratio(0.8, false).default(0.8),
        critical_ratio: ratio(0.95, true).default(0.95),
        forecast_p_exhaust: numberWhere(
          'a probability above 0 and at most 1, such as 0.5',
          (p) => p > 0 && p <= 1,
        ).default(DEFAULT_FORECAST_P_EXHAUST),
        forecast_horizon_minutes: numberWhere('a number of minutes above 0', (n) => n > 0).default(
          DEFAULT_FORECAST_HORIZON_MINUTES,
        ),
        pace_lookback_minutes: numberWhere(
          'a number of minutes from 5 to 1440',
          (n) => n >= 5 && n <= 1440,
        ).default(DEFAULT_PACE_LOOKBACK_MINUTES),
        pace_horizon_minutes: minutesOrSeconds('minutes', ' (0 turns the pace rule off)').default(0),
        for_seconds: minutesOrSeconds('seconds').default(0),
        keep_firing_for_seconds: minutesOrSeconds('seconds').default(0),
        slack_channel: slackChannel.optional(),
      })
      .strict()
      .default({
        warning_ratio: 0.8,
        critical_ratio: 0.95,
        forecast_p_exhaust: DEFAULT_FORECAST_P_EXHAUST,
        forecast_horizon_minutes: DEFAULT_FORECAST_HORIZON_MINUTES,
        pace_lookback_minutes: DEFAULT_PACE_LOOKBACK_MINUTES,
        pace_horizon_minutes: 0,
        for_seconds: 0,
        keep_firing_for_seconds: 0,
      })
      .superRefine((alerts, context) => {
        if (alerts.warning_ratio >= alerts.critical_ratio) {
          context.addIssue({
            code: 'custom',
            path: ['warning_ratio'],
            message: `a ratio below alerts.critical_ratio (${alerts.critical_ratio})`,
          });
        }
      }),
    pools: listOf(poolSchema, 'pools'),
  })
  .strict();

export type QuotaDimensionName = (typeof DIMENSIONS)[number];
export type QuotaSpec = z.infer<typeof quotaSchema>;
export type PoolSpec = z.infer<typeof poolSchema>;
/** The parsed `headroom.yaml`: pools, keys, quotas, alert rules, analytics schedule. */
export type HeadroomFile = z.infer<typeof fileSchema>;

/** What applies when no file is configured: keys are discovered from spans. */
export const DEFAULT_FILE: HeadroomFile = fileSchema.parse({});

/** Parses and validates the YAML text of a headroom configuration file. */
export function parseHeadroomFile(text: string, source: string): HeadroomFile {
  return parseConfigDocument(fileSchema, text, source);
}

export function readHeadroomFile(path: string): HeadroomFile {
  return parseHeadroomFile(readConfigText(path, 'HEADROOM_CONFIG'), path);
}
