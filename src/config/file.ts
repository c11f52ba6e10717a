import { z } from 'zod';
import { parseConfigDocument, readConfigText } from './document.ts';
import { pushTargetSchema } from './push.ts';

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

const EXPIRES_EXPECTED = 'an ISO 8601 date or time such as 2026-12-31 or 2026-12-31T00:00:00Z';

const keySchema = z
  .object({
    id: text('the key alias or fingerprint, as sent in keypool.key.id'),
    partition: text('the name of the quota partition the key draws from').optional(),
    provider: text('a provider name such as openai').optional(),
    /** When the key stops working (ISO 8601); the key-health rule warns `key_expiry_warning_days` ahead. */
    expires_at: text(EXPIRES_EXPECTED)
      .refine((v) => /^\d{4}-\d{2}-\d{2}/.test(v) && Number.isFinite(Date.parse(v)), {
        error: EXPIRES_EXPECTED,
      })
      .optional(),
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
    /** Gateways headroom pushes this pool's advice to (see the README, "Pushing advice to gateways"). */
    push: z.array(pushTargetSchema, { error: 'a list of push targets' }).default([]),
    /**
     * Pools (other providers) to spill this pool's traffic to, in order of preference, when it
     * cannot carry its demand until its keys reset; each takes at most its own spare headroom.
     */
    fallback_pools: listOf(text('the name of another pool of this file'), 'pool names'),
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

/** A duration written as Alertmanager writes them: `30s`, `5m`, `4h`, `1d`, `500ms`. */
const DURATION_EXPECTED = 'a duration such as 30s, 5m, 4h or 1d';
const duration = z
  .string({ error: DURATION_EXPECTED })
  .regex(/^\d+(ms|s|m|h|d)$/, { error: DURATION_EXPECTED })
  .transform((v) => {
    const [, n = '0', unit = 's'] = /^(\d+)(ms|s|m|h|d)$/.exec(v) ?? [];
    const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
    return Number(n) * (unitMs[unit] ?? 1000);
  });

/** A label matcher in Alertmanager's text form: `pool="prod"`, `severity=~"critical|warning"`. */
const MATCHER_EXPECTED = 'a matcher such as pool="prod", severity!="warning" or rule=~"forecast|pace"';
const matcherText = z
  .string({ error: MATCHER_EXPECTED })
  .regex(/^\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*.*$/, { error: MATCHER_EXPECTED });

export interface RouteSpec {
  receiver?: string | undefined;
  matchers: string[];
  group_by?: string[] | undefined;
  group_wait?: number | undefined;
  group_interval?: number | undefined;
  repeat_interval?: number | undefined;
  continue: boolean;
  routes: RouteSpec[];
}

const routeSchema: z.ZodType<RouteSpec, unknown> = z.lazy(() =>
  z
    .object({
      receiver: text('the name of a receiver in alerts.receivers').optional(),
      matchers: listOf(matcherText, 'matchers'),
      group_by: z
        .array(text('a label name such as pool or rule'), { error: 'a list of label names' })
        .optional(),
      group_wait: duration.optional(),
      group_interval: duration.optional(),
      repeat_interval: duration.optional(),
      continue: z.boolean({ error: 'true or false' }).default(false),
      routes: listOf(routeSchema, 'routes'),
    })
    .strict(),
);

const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
const timeoutSeconds = numberWhere('a number of seconds above 0, at most 300', (n) => n > 0 && n <= 300);

const receiverSchema = z
  .object({
    name: text('a receiver name'),
    /** Slack channels; the bot token and API URL come from HEADROOM_SLACK_TOKEN / HEADROOM_SLACK_API_URL. */
    slack_configs: listOf(z.object({ channel: slackChannel.optional() }).strict(), 'Slack configs'),
    /** Alertmanager-compatible webhooks, HMAC-signed when a secret is given. */
    webhook_configs: listOf(
      z
        .object({
          url: httpUrl,
          secret: text('a non-empty shared secret').optional(),
          timeout_seconds: timeoutSeconds.default(10),
        })
        .strict(),
      'webhook configs',
    ),
    /** PagerDuty Events API v2 services. */
    pagerduty_configs: listOf(
      z
        .object({
          routing_key: text('the integration (routing) key of a PagerDuty service'),
          url: httpUrl.default('https://events.pagerduty.com'),
          timeout_seconds: timeoutSeconds.default(10),
        })
        .strict(),
      'PagerDuty configs',
    ),
  })
  .strict();

const inhibitRuleSchema = z
  .object({
    source_matchers: z
      .array(matcherText, { error: 'a list of matchers' })
      .min(1, { error: 'at least one matcher' }),
    target_matchers: z
      .array(matcherText, { error: 'a list of matchers' })
      .min(1, { error: 'at least one matcher' }),
    equal: listOf(text('a label name such as pool'), 'label names'),
  })
  .strict();

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
        throttling_warning_ratio: ratio(0.1, true).default(0.1),
        throttling_critical_ratio: ratio(0.5, true).default(0.5),
        throttling_window_minutes: numberWhere(
          'a number of minutes from 1 to 1440',
          (n) => n >= 1 && n <= 1440,
        ).default(15),
        throttling_min_calls: numberWhere(
          'a whole number of calls, 1 or more',
          (n) => Number.isInteger(n) && n >= 1,
        ).default(20),
        pool_capacity_lead_minutes: minutesOrSeconds('minutes').default(360),
        key_expiry_warning_days: minutesOrSeconds('days').default(14),
        no_data_min_minutes: numberWhere('a number of minutes, 1 or more', (n) => n >= 1).default(30),
        no_data_gap_factor: numberWhere('a factor of 1 or more', (n) => n >= 1).default(3),
        /** Alertmanager's routing tree; the root needs no matchers. */
        route: routeSchema.optional(),
        receivers: listOf(receiverSchema, 'receivers'),
        /** Replace the default inhibition (pool capacity over keys; partition over its keys). */
        inhibit_rules: z.array(inhibitRuleSchema, { error: 'a list of inhibit rules' }).optional(),
      })
      .strict()
      .prefault({})
      .superRefine((alerts, context) => {
        const names = new Map<string, number>();
        for (const [i, receiver] of alerts.receivers.entries()) {
          const earlier = names.get(receiver.name);
          if (earlier !== undefined)
            context.addIssue({
              code: 'custom',
              path: ['receivers', i, 'name'],
              message: `a receiver name not used earlier (receivers[${earlier}] has it)`,
            });
          else names.set(receiver.name, i);
        }
        const checkRoute = (route: RouteSpec, path: (string | number)[]): void => {
          if (path.length === 1 && route.receiver === undefined && alerts.receivers.length > 0)
            context.addIssue({
              code: 'custom',
              path: [...path, 'receiver'],
              message: 'the name of a receiver in alerts.receivers: the root route needs one',
            });
          if (route.receiver !== undefined && !names.has(route.receiver))
            context.addIssue({
              code: 'custom',
              path: [...path, 'receiver'],
              message: `the name of a receiver in alerts.receivers (${[...names.keys()].join(', ') || 'none is defined'})`,
            });
          route.routes.forEach((child, i) => checkRoute(child, [...path, 'routes', i]));
        };
        if (alerts.route !== undefined) checkRoute(alerts.route, ['route']);
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
  .strict()
  .superRefine((file, context) => {
    const names = file.pools.map((p) => p.name);
    for (const [i, pool] of file.pools.entries()) {
      const others = names.filter((n) => n !== pool.name);
      for (const [j, name] of pool.fallback_pools.entries()) {
        if (others.includes(name)) continue;
        context.addIssue({
          code: 'custom',
          path: ['pools', i, 'fallback_pools', j],
          message: `another pool of this file: ${others.length === 0 ? '(there is none)' : others.join(', ')}`,
        });
      }
    }
  });

export type QuotaDimensionName = (typeof DIMENSIONS)[number];
export type QuotaSpec = z.infer<typeof quotaSchema>;
export type PoolSpec = z.infer<typeof poolSchema>;
export type ReceiverSpec = z.infer<typeof receiverSchema>;
/** The parsed `headroom.yaml`: pools, keys, quotas, alert rules, analytics schedule. */
export type HeadroomFile = z.infer<typeof fileSchema>;

/** What applies when no file is configured: keys are discovered from spans. */
export const DEFAULT_FILE: HeadroomFile = fileSchema.parse({});

/** Parses and validates the YAML text of a headroom configuration file. */
export function parseHeadroomFile(text: string, source: string): HeadroomFile {
  // Push targets may carry a gateway token or a webhook secret in the file, and a gateway's own name
  // for its credential is an easy slip for `token`: none of them is ever printed.
  return parseConfigDocument(fileSchema, text, source, {
    hiddenFields: ['token', 'secret', 'master_key', 'api_key', 'password'],
  });
}

export function readHeadroomFile(path: string): HeadroomFile {
  return parseHeadroomFile(readConfigText(path, 'HEADROOM_CONFIG'), path);
}
