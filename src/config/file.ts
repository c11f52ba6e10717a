import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode, HeadroomError } from '../errors/index.ts';

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

const timeZone = z
  .string()
  .refine(validTimeZone, { message: 'expected an IANA time zone such as UTC or America/Los_Angeles' });

const quotaSchema = z
  .object({
    /** Stable name of the quota, used in alerts; default `<dimension>_per_<window>`. */
    id: z.string().min(1).optional(),
    dimension: z.enum(DIMENSIONS),
    /** `day`, `month`, or a rolling window such as `60s` / `5m`. */
    window: z.union([
      z.enum(['day', 'month']),
      z.string().regex(/^\d+(s|m|h)$/, 'expected day, month or a rolling window like 60s, 5m, 1h'),
    ]),
    limit: z.number().positive(),
    time_zone: timeZone.default('UTC'),
    /** Month windows: the day of the month the cycle starts on (1-31). */
    anchor_day: z.number().int().min(1).max(31).optional(),
    /** Local hour the window starts at (0-23). */
    anchor_hour: z.number().int().min(0).max(23).optional(),
  })
  .strict();

const keySchema = z
  .object({
    id: z.string().min(1),
    partition: z.string().min(1).optional(),
    provider: z.string().min(1).optional(),
    quotas: z.array(quotaSchema).default([]),
  })
  .strict();

const partitionSchema = z
  .object({
    id: z.string().min(1),
    quotas: z.array(quotaSchema).default([]),
  })
  .strict();

const poolSchema = z
  .object({
    name: z.string().min(1),
    /** Quotas every key of the pool has unless it lists its own. */
    key_quotas: z.array(quotaSchema).default([]),
    /** Quotas of the pool as a whole: every key's usage counts against them (e.g. a team's spend cap). */
    quotas: z.array(quotaSchema).default([]),
    keys: z.array(keySchema).default([]),
    partitions: z.array(partitionSchema).default([]),
    slack_channel: z.string().min(1).optional(),
  })
  .strict();

const fileSchema = z
  .object({
    analytics: z
      .object({
        interval_seconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .refine((s) => (s < 60 ? 60 % s === 0 : s % 60 === 0 && 60 % (s / 60) === 0), {
            message:
              'expected a number of seconds that divides a minute (1-30, 60) or whole minutes that divide an hour',
          })
          .default(30),
        history_days: z.number().int().min(1).max(28).default(7),
      })
      .strict()
      .default({ interval_seconds: 30, history_days: 7 }),
    alerts: z
      .object({
        warning_ratio: z.number().gt(0).lt(1).default(0.8),
        critical_ratio: z.number().gt(0).max(1).default(0.95),
        forecast_p_exhaust: z.number().gt(0).max(1).default(DEFAULT_FORECAST_P_EXHAUST),
        forecast_horizon_minutes: z.number().positive().default(DEFAULT_FORECAST_HORIZON_MINUTES),
        pace_lookback_minutes: z.number().min(5).max(1440).default(DEFAULT_PACE_LOOKBACK_MINUTES),
        pace_horizon_minutes: z.number().min(0).default(0),
        for_seconds: z.number().min(0).default(0),
        keep_firing_for_seconds: z.number().min(0).default(0),
        slack_channel: z.string().min(1).optional(),
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
      }),
    pools: z.array(poolSchema).default([]),
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
  let document: unknown;
  try {
    document = parseYaml(text) ?? {};
  } catch (error) {
    throw new HeadroomError(ErrorCode.config, `${source}: not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const result = fileSchema.safeParse(document);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '');
      return `${path || '(top level)'}: ${issue.message}`;
    });
    throw new HeadroomError(ErrorCode.config, `${source} is invalid: ${problems.join('; ')}`, {
      details: { file: source, problems },
    });
  }
  const file = result.data;
  for (const [i, pool] of file.pools.entries()) {
    const ids = new Set<string>();
    for (const [j, key] of pool.keys.entries()) {
      if (ids.has(key.id)) {
        throw new HeadroomError(
          ErrorCode.config,
          `${source} is invalid: pools[${i}].keys[${j}].id: duplicate key id ${JSON.stringify(key.id)}`,
        );
      }
      ids.add(key.id);
    }
  }
  if (file.alerts.warning_ratio >= file.alerts.critical_ratio) {
    throw new HeadroomError(
      ErrorCode.config,
      `${source} is invalid: alerts.warning_ratio (${file.alerts.warning_ratio}) must be below alerts.critical_ratio (${file.alerts.critical_ratio})`,
    );
  }
  return file;
}

export function readHeadroomFile(path: string): HeadroomFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new HeadroomError(
      ErrorCode.config,
      `HEADROOM_CONFIG=${path}: cannot read the file: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return parseHeadroomFile(text, path);
}
