import { z } from 'zod';
import {
  describeProblem,
  parseConfigDocument,
  readConfigText,
  validateConfigDocument,
} from '../config/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { isValidTimeZone } from '../forecast/index.ts';

/** The API formats the simulator answers in. */
export const PROVIDER_FORMATS = ['openai', 'anthropic', 'azure', 'gemini'] as const;
export type ProviderFormat = (typeof PROVIDER_FORMATS)[number];

export const LIMIT_DIMENSIONS = ['requests', 'tokens', 'input_tokens', 'output_tokens', 'cost_usd'] as const;
export type LimitDimension = (typeof LIMIT_DIMENSIONS)[number];

/**
 * `minute`: a token bucket holding `limit` that refills continuously at `limit` per 60 s (OpenAI and
 * Anthropic semantics). `day` / `month`: a counter that starts again at the local calendar boundary
 * of `time_zone`.
 */
export const LIMIT_WINDOWS = ['minute', 'day', 'month'] as const;
export type LimitWindow = (typeof LIMIT_WINDOWS)[number];

const timeZone = z.string().refine((value) => isValidTimeZone(value), {
  error: 'an IANA time zone such as UTC or America/Los_Angeles',
});

const nonNegative = z.number().finite().nonnegative();

const limitSchema = z
  .object({
    dimension: z.enum(LIMIT_DIMENSIONS),
    window: z.enum(LIMIT_WINDOWS),
    limit: z.number().finite().positive(),
    /** Calendar windows: the zone whose midnight (or month start) resets the counter. Default UTC. */
    time_zone: timeZone.default('UTC'),
    /** Month windows: day of the month the cycle starts on (1-31, clamped to short months). */
    anchor_day: z.number().int().min(1).max(31).optional(),
    /** Calendar windows: local hour the window starts at (0-23). */
    anchor_hour: z.number().int().min(0).max(23).optional(),
    /**
     * Minute windows only: also refuse a burst above `limit * sub_window_seconds / 60` within each
     * fixed 1 s or 10 s sub-window, as Azure OpenAI enforces its per-minute quotas.
     */
    sub_window_seconds: z.union([z.literal(1), z.literal(10)]).optional(),
  })
  .strict()
  .superRefine((limit, context) => {
    if (limit.dimension === 'cost_usd' && limit.window === 'minute') {
      context.addIssue({
        code: 'custom',
        path: ['window'],
        message: 'day or month (a cost_usd limit is a calendar quota)',
      });
    }
    if (limit.sub_window_seconds !== undefined && limit.window !== 'minute') {
      context.addIssue({
        code: 'custom',
        path: ['sub_window_seconds'],
        message: 'no sub-window: sub-windows apply to minute windows only',
      });
    }
    if (limit.anchor_day !== undefined && limit.window !== 'month') {
      context.addIssue({
        code: 'custom',
        path: ['anchor_day'],
        message: 'no anchor_day: it applies to month windows only',
      });
    }
  });

const pricingSchema = z
  .object({
    input_per_million_usd: nonNegative.default(0),
    output_per_million_usd: nonNegative.default(0),
  })
  .strict();

const tokenRangeSchema = z
  .object({ min: z.number().int().nonnegative(), max: z.number().int().nonnegative() })
  .strict()
  .refine((range) => range.min <= range.max, { error: 'min not above max' });

const quotaSchema = z
  .object({
    /** The organisation, project or workspace whose limits several keys share. */
    id: z.string().min(1),
    limits: z.array(limitSchema).default([]),
  })
  .strict();

const keySchema = z
  .object({
    /** The key's alias: what /sim/state and /sim/stats show. */
    id: z.string().min(1),
    /** The credential callers present; never shown by the simulator. */
    secret: z.string().min(8, { error: 'a secret of at least 8 characters' }),
    provider: z.enum(PROVIDER_FORMATS),
    /** Shared quota entities (ids under `quotas`) this key draws on. */
    quotas: z.array(z.string().min(1)).default([]),
    /** The key's own limits. */
    limits: z.array(limitSchema).default([]),
    /** Azure: the one deployment this key's resource serves. Default: any. */
    deployment: z.string().min(1).optional(),
    /** Model named in responses when the request names none (Azure, Gemini path aside). */
    model: z.string().min(1).optional(),
    revoked: z.boolean().default(false),
    /** Revoked from this epoch ms on. */
    revoked_at_ms: z.number().finite().optional(),
    /** Revoked this many seconds after the simulation starts. */
    revoked_after_seconds: nonNegative.optional(),
    pricing: pricingSchema.optional(),
  })
  .strict();

const consumerSchema = z
  .object({
    id: z.string().min(1),
    /** The quota entity (shared `quotas` id, or a key id for its own limits) this consumer draws on. */
    quota: z.string().min(1),
    /** Mean arrival rate (Poisson) before `hourly_factors`. */
    requests_per_minute: z.number().finite().positive(),
    input_tokens: z.number().int().nonnegative().default(500),
    output_tokens: z.number().int().nonnegative().default(200),
    /** Seconds after the start when the consumer begins and stops sending. */
    from_seconds: nonNegative.default(0),
    until_seconds: nonNegative.optional(),
    /** 24 multipliers of the rate, by local hour of `time_zone` (a diurnal shape). */
    hourly_factors: z.array(nonNegative).length(24).optional(),
    time_zone: timeZone.default('UTC'),
    pricing: pricingSchema.optional(),
  })
  .strict();

const scenarioSchema = z
  .object({
    /** Seeds every random draw (response sizes, latency jitter, consumer arrivals). */
    seed: z.number().int().default(1),
    /** Virtual-clock start (RFC 3339); the HTTP server runs in real time without it. */
    start_at: z.iso.datetime({ offset: true }).optional(),
    /** Virtual seconds per real second when `start_at` is set. */
    speed: z.number().finite().positive().default(1),
    pricing: pricingSchema.default({ input_per_million_usd: 0, output_per_million_usd: 0 }),
    responses: z
      .object({ output_tokens: tokenRangeSchema.default({ min: 20, max: 200 }) })
      .strict()
      .default({ output_tokens: { min: 20, max: 200 } }),
    /** The request size /sim/state counts headroom in; default the running mean of admitted calls. */
    average_request: z
      .object({ input_tokens: z.number().int().nonnegative(), output_tokens: z.number().int().nonnegative() })
      .strict()
      .optional(),
    latency: z
      .object({
        /** Time to the first token. */
        base_ms: nonNegative.default(0),
        per_output_token_ms: nonNegative.default(0),
        /** Each latency is scaled by a uniform draw in [1 - jitter_ratio, 1 + jitter_ratio]. */
        jitter_ratio: z.number().min(0).max(1).default(0),
      })
      .strict()
      .default({ base_ms: 0, per_output_token_ms: 0, jitter_ratio: 0 }),
    quotas: z.array(quotaSchema).default([]),
    keys: z.array(keySchema).min(1),
    consumers: z.array(consumerSchema).default([]),
  })
  .strict();

export type LimitSpec = z.infer<typeof limitSchema>;
export type PricingSpec = z.infer<typeof pricingSchema>;
export type KeySpec = z.infer<typeof keySchema>;
export type ConsumerSpec = z.infer<typeof consumerSchema>;
/** A validated scenario, with every default filled in. */
export type Scenario = z.infer<typeof scenarioSchema>;
/** A scenario as written (defaults optional), e.g. built in code by a test or benchmark. */
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** Secrets never appear in a message, not even when they are what is wrong. */
const HIDDEN_FIELDS = ['secret'];

function invalid(
  source: string,
  path: readonly PropertyKey[],
  value: unknown,
  expected: string,
): HeadroomError {
  return new HeadroomError(
    ErrorCode.config,
    `${source} is invalid: ${describeProblem(path, value, expected)}`,
    {
      details: { file: source },
    },
  );
}

/**
 * Validates a scenario (parsed YAML / JSON, or built in code). Beyond the schema: ids are unique,
 * every referenced quota entity exists, secrets are unique (never echoed in the message).
 */
export function parseScenario(document: unknown, source = 'scenario'): Scenario {
  const scenario = validateConfigDocument(scenarioSchema, document ?? {}, source, {
    hiddenFields: HIDDEN_FIELDS,
  });
  return checkReferences(scenario, source);
}

/** Reads a `.yaml`, `.yml` or `.json` scenario file. */
export function loadScenarioFile(path: string): Scenario {
  const text = readConfigText(path, '--scenario');
  return checkReferences(
    parseConfigDocument(scenarioSchema, text, path, { hiddenFields: HIDDEN_FIELDS }),
    path,
  );
}

function checkReferences(scenario: Scenario, source: string): Scenario {
  const entities = new Set<string>();
  for (const [i, quota] of scenario.quotas.entries()) {
    if (entities.has(quota.id))
      throw invalid(source, ['quotas', i, 'id'], quota.id, 'a quota id not used earlier');
    entities.add(quota.id);
  }
  const keyIds = new Set<string>();
  const secrets = new Set<string>();
  for (const [i, key] of scenario.keys.entries()) {
    if (keyIds.has(key.id) || entities.has(key.id)) {
      throw invalid(
        source,
        ['keys', i, 'id'],
        key.id,
        'a key id used by no other key or quota (a key’s own limits go by its id)',
      );
    }
    keyIds.add(key.id);
    if (secrets.has(key.secret)) {
      throw new HeadroomError(
        ErrorCode.config,
        `${source} is invalid: keys[${i}].secret is invalid: expected a secret no other key uses`,
        { details: { file: source } },
      );
    }
    secrets.add(key.secret);
    for (const [j, quota] of key.quotas.entries()) {
      if (!entities.has(quota))
        throw invalid(source, ['keys', i, 'quotas', j], quota, 'one of the ids under quotas');
    }
  }
  for (const [i, consumer] of scenario.consumers.entries()) {
    if (!entities.has(consumer.quota) && !keyIds.has(consumer.quota)) {
      throw invalid(source, ['consumers', i, 'quota'], consumer.quota, 'a quota id or a key id');
    }
  }
  return scenario;
}
