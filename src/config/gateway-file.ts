import { z } from 'zod';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { parseConfigDocument, readConfigText } from './document.ts';
import { describeProblem } from './issues.ts';
import { deepFreeze } from './freeze.ts';

/** How the key choice of a pool is made; see the gateway's strategies. */
export const GATEWAY_STRATEGIES = [
  'headroom',
  'round-robin',
  'static',
  'litellm-cooldown',
  'kong-circuit-breaker',
  'apipark-priority',
  'bifrost-reweight',
  'oracle',
] as const;
export type GatewayStrategyName = (typeof GATEWAY_STRATEGIES)[number];

/**
 * Wire format of an upstream: where the key goes and which `gen_ai.provider.name` the spans carry.
 * `azure` is Azure OpenAI: the key in `api-key`, one deployment (base URL) per key.
 */
export const UPSTREAM_FORMATS = ['openai', 'azure', 'anthropic'] as const;
export type UpstreamFormat = (typeof UPSTREAM_FORMATS)[number];

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

const keySchema = z
  .object({
    /** Alias: the `keypool.key.id` of every span, the id advice and metrics use. Never the secret. */
    id: z.string().min(1),
    secret: z.string().min(1).optional(),
    /** Name of the environment variable holding the secret (preferred over `secret`). */
    secret_env: envName.optional(),
    /** Upstream base URL of this key (Azure: its deployment); default the pool's. */
    base_url: httpUrl.optional(),
    format: z.enum(UPSTREAM_FORMATS).optional(),
    /** Query parameters added to every upstream URL of this key, e.g. Azure's `api-version`. */
    query: z.record(z.string(), z.string()).optional(),
    /** `keypool.partition`: the org / project whose limits the key shares. */
    partition: z.string().min(1).optional(),
    /** The key's request limit per minute; the default (static) weight is proportional to it. */
    requests_per_minute: z.number().positive().optional(),
    /** Default weight, overriding `requests_per_minute`; default 1. */
    weight: z.number().min(0).optional(),
    /** Failover order for `apipark-priority`: lower first; default the order of the list. */
    priority: z.number().int().optional(),
  })
  .strict();

const strategyOptionsSchema = z
  .object({
    /** litellm-cooldown: failures (other than 429) allowed per minute before a key cools down. */
    allowed_fails: z.number().int().min(0).default(3),
    /** litellm-cooldown: how long a key cools down without a Retry-After, in ms. */
    cooldown_ms: z.number().int().min(0).default(5_000),
    /** kong-circuit-breaker: consecutive failures that open the circuit of a key. */
    failure_threshold: z.number().int().min(1).default(3),
    /** kong-circuit-breaker: how long an open circuit keeps the key out, in ms. */
    open_ms: z.number().int().min(0).default(10_000),
    /** bifrost-reweight: how often weights are recomputed from the error rate, in ms. */
    reweight_interval_ms: z.number().int().min(1).default(5_000),
  })
  .strict();

const poolSchema = z
  .object({
    name: z.string().min(1),
    strategy: z.enum(GATEWAY_STRATEGIES).default('headroom'),
    strategy_options: strategyOptionsSchema.default(strategyOptionsSchema.parse({})),
    /** Default upstream base URL of the pool's keys, e.g. `https://api.openai.com/v1`. */
    base_url: httpUrl.optional(),
    format: z.enum(UPSTREAM_FORMATS).default('openai'),
    query: z.record(z.string(), z.string()).default({}),
    /** `oracle` strategy: the provider simulator whose `GET /sim/state` it reads. */
    simulator_url: httpUrl.optional(),
    keys: z.array(keySchema).min(1, 'a list of at least one key'),
  })
  .strict();

const fileSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(8080),
    /** `service.instance.id` of the gateway's spans; default the host name. */
    node_id: z.string().min(1).optional(),
    /** Bearer token of the admin API; without one (or `admin_token_env`) the admin API is off. */
    admin_token: z.string().min(1).optional(),
    admin_token_env: envName.optional(),
    headroom: z
      .object({
        url: httpUrl,
        /** headroom's `HEADROOM_ADMIN_TOKEN`, sent when polling advice. */
        token: z.string().min(1).optional(),
        token_env: envName.optional(),
        /** One of headroom's `HEADROOM_INGEST_TOKENS`, sent with the spans. */
        ingest_token: z.string().min(1).optional(),
        ingest_token_env: envName.optional(),
        poll_interval_ms: z.number().int().min(100).default(5_000),
        /** Send one span per upstream call to `{url}/v1/traces`. */
        spans: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** `oracle` strategy: how often the simulator's state is read. */
    simulator_poll_interval_ms: z.number().int().min(10).default(250),
    /** Longest wait for an upstream's response headers, and longest silence inside a response. */
    upstream_timeout_ms: z.number().int().min(1).default(60_000),
    /** Cooldown after a 429 that names no Retry-After. */
    cooldown_ms: z.number().int().min(0).default(1_000),
    /** Cooldown after an exhausted quota (insufficient_quota, spend cap) that names no Retry-After. */
    quota_cooldown_ms: z.number().int().min(0).default(60_000),
    /** Cooldown after the upstream refused the key itself (401/403: revoked or expired). */
    auth_cooldown_ms: z.number().int().min(0).default(60_000),
    /** Largest request body accepted from a client. */
    max_body_bytes: z
      .number()
      .int()
      .min(1024)
      .default(32 * 1024 * 1024),
    pools: z.array(poolSchema).min(1, 'a list of at least one pool'),
  })
  .strict();

type GatewayFile = z.infer<typeof fileSchema>;

/** One key as the gateway uses it: the secret resolved, the upstream fixed. */
export interface GatewayKeyConfig {
  readonly id: string;
  /** The API key. Held by the gateway only: never logged, exported or sent anywhere but its upstream. */
  readonly secret: string;
  readonly baseUrl: string;
  readonly format: UpstreamFormat;
  readonly query: Readonly<Record<string, string>>;
  readonly partition: string | undefined;
  readonly requestsPerMinute: number | undefined;
  /** Default weight: `weight`, else `requests_per_minute`, else 1. */
  readonly weight: number;
  readonly priority: number;
}

export interface GatewayStrategyOptions {
  readonly allowedFails: number;
  readonly cooldownMs: number;
  readonly failureThreshold: number;
  readonly openMs: number;
  readonly reweightIntervalMs: number;
}

export interface GatewayPoolConfig {
  readonly name: string;
  readonly strategy: GatewayStrategyName;
  readonly strategyOptions: GatewayStrategyOptions;
  readonly simulatorUrl: string | undefined;
  readonly keys: readonly GatewayKeyConfig[];
}

/** The reference gateway's configuration, parsed once and frozen. */
export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly nodeId: string | undefined;
  readonly adminToken: string | undefined;
  readonly headroom:
    | {
        readonly url: string;
        readonly token: string | undefined;
        readonly ingestToken: string | undefined;
        readonly pollIntervalMs: number;
        readonly spans: boolean;
      }
    | undefined;
  readonly simulatorPollIntervalMs: number;
  readonly upstreamTimeoutMs: number;
  readonly cooldownMs: number;
  readonly quotaCooldownMs: number;
  readonly authCooldownMs: number;
  readonly maxBodyBytes: number;
  readonly pools: readonly GatewayPoolConfig[];
}

function invalid(source: string, problems: string[]): HeadroomError {
  const listed = problems.length === 1 ? ` ${problems[0] ?? ''}` : `\n  ${problems.join('\n  ')}`;
  return new HeadroomError(ErrorCode.config, `${source} is invalid:${listed}`, {
    details: { file: source, problems },
  });
}

/**
 * Parses and validates the gateway's configuration (YAML or JSON text), resolving every secret
 * from `env`. A problem stops the start with a message naming the path, the value found and what
 * was expected; secret values are never printed.
 */
export function parseGatewayConfig(
  text: string,
  source: string,
  env: Readonly<Record<string, string | undefined>>,
): GatewayConfig {
  const file = parseConfigDocument(fileSchema, text, source, {
    hiddenFields: ['secret', 'token', 'admin_token', 'ingest_token'],
  });
  return resolveGatewayFile(file, source, env);
}

function resolveGatewayFile(
  file: GatewayFile,
  source: string,
  env: Readonly<Record<string, string | undefined>>,
): GatewayConfig {
  const problems: string[] = [];
  const fromEnv = (
    path: readonly PropertyKey[],
    name: string | undefined,
    inline: string | undefined,
  ): string | undefined => {
    if (name === undefined) return inline;
    const value = env[name];
    if (value === undefined || value.trim() === '') {
      problems.push(
        describeProblem(path, name, `the name of a set environment variable (${name} is not set)`),
      );
      return undefined;
    }
    return value.trim();
  };

  const poolNames = new Set<string>();
  const pools = file.pools.map((pool, i): GatewayPoolConfig => {
    if (poolNames.has(pool.name)) {
      problems.push(describeProblem(['pools', i, 'name'], pool.name, 'a name no other pool has'));
    }
    poolNames.add(pool.name);
    if (pool.strategy === 'oracle' && pool.simulator_url === undefined) {
      problems.push(
        describeProblem(
          ['pools', i, 'simulator_url'],
          undefined,
          "the simulator's URL for the oracle strategy",
        ),
      );
    }
    if (pool.strategy === 'headroom' && file.headroom === undefined) {
      problems.push(
        describeProblem(['headroom'], undefined, `headroom's url, which pools[${i}] polls for advice`),
      );
    }
    const keyIds = new Set<string>();
    const keys = pool.keys.map((key, j): GatewayKeyConfig => {
      const path = ['pools', i, 'keys', j] as const;
      if (keyIds.has(key.id)) {
        problems.push(describeProblem([...path, 'id'], key.id, 'an id no other key of the pool has'));
      }
      keyIds.add(key.id);
      if ((key.secret === undefined) === (key.secret_env === undefined)) {
        problems.push(
          describeProblem([...path, 'secret_env'], key.secret_env, 'exactly one of secret or secret_env'),
        );
      }
      const secret = fromEnv([...path, 'secret_env'], key.secret_env, key.secret) ?? '';
      const baseUrl = key.base_url ?? pool.base_url;
      if (baseUrl === undefined) {
        problems.push(
          describeProblem([...path, 'base_url'], undefined, 'an upstream URL, on the key or its pool'),
        );
      }
      return {
        id: key.id,
        secret,
        baseUrl: (baseUrl ?? '').replace(/\/+$/, ''),
        format: key.format ?? pool.format,
        query: { ...pool.query, ...key.query },
        partition: key.partition,
        requestsPerMinute: key.requests_per_minute,
        weight: key.weight ?? key.requests_per_minute ?? 1,
        priority: key.priority ?? j,
      };
    });
    const options = pool.strategy_options;
    return {
      name: pool.name,
      strategy: pool.strategy,
      strategyOptions: {
        allowedFails: options.allowed_fails,
        cooldownMs: options.cooldown_ms,
        failureThreshold: options.failure_threshold,
        openMs: options.open_ms,
        reweightIntervalMs: options.reweight_interval_ms,
      },
      simulatorUrl: pool.simulator_url,
      keys,
    };
  });

  const headroom =
    file.headroom === undefined
      ? undefined
      : {
          url: file.headroom.url.replace(/\/+$/, ''),
          token: fromEnv(['headroom', 'token_env'], file.headroom.token_env, file.headroom.token),
          ingestToken: fromEnv(
            ['headroom', 'ingest_token_env'],
            file.headroom.ingest_token_env,
            file.headroom.ingest_token,
          ),
          pollIntervalMs: file.headroom.poll_interval_ms,
          spans: file.headroom.spans,
        };
  const adminToken = fromEnv(['admin_token_env'], file.admin_token_env, file.admin_token);
  if (problems.length > 0) throw invalid(source, problems);
  return deepFreeze({
    host: file.host,
    port: file.port,
    nodeId: file.node_id,
    adminToken,
    headroom,
    simulatorPollIntervalMs: file.simulator_poll_interval_ms,
    upstreamTimeoutMs: file.upstream_timeout_ms,
    cooldownMs: file.cooldown_ms,
    quotaCooldownMs: file.quota_cooldown_ms,
    authCooldownMs: file.auth_cooldown_ms,
    maxBodyBytes: file.max_body_bytes,
    pools,
  });
}

/** Reads the gateway's configuration file; `port` (from `--port`) overrides the file's. */
export function loadGatewayConfig(options: {
  path: string;
  env?: Readonly<Record<string, string | undefined>>;
  port?: number;
}): GatewayConfig {
  const text = readConfigText(options.path, '--config');
  const config = parseGatewayConfig(text, options.path, options.env ?? process.env);
  return options.port === undefined ? config : Object.freeze({ ...config, port: options.port });
}
