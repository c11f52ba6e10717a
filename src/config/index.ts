import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { DEFAULT_FILE, readHeadroomFile, type HeadroomFile } from './file.ts';
import { deepFreeze } from './freeze.ts';
import { resolvePushTargets, type PushTargetConfig } from './push.ts';

export {
  DEFAULT_FORECAST_HORIZON_MINUTES,
  DEFAULT_FORECAST_P_EXHAUST,
  DEFAULT_PACE_LOOKBACK_MINUTES,
  parseHeadroomFile,
} from './file.ts';
export { findClosest } from './closest.ts';
export { parseConfigDocument, readConfigText, validateConfigDocument } from './document.ts';
export { describeProblem } from './issues.ts';
export type { ValidateOptions } from './issues.ts';
export { findConfigWarnings, redactUrl, summarizeConfig } from './summary.ts';
export type { ConfigSummary } from './summary.ts';
export type {
  HeadroomFile,
  PoolSpec,
  QuotaDimensionName,
  QuotaSpec,
  ReceiverSpec,
  RouteSpec,
} from './file.ts';
export {
  GATEWAY_STRATEGIES,
  UPSTREAM_FORMATS,
  loadGatewayConfig,
  parseGatewayConfig,
} from './gateway-file.ts';
export type {
  GatewayConfig,
  GatewayKeyConfig,
  GatewayPoolConfig,
  GatewayStrategyName,
  GatewayStrategyOptions,
  UpstreamFormat,
} from './gateway-file.ts';
export { PUSH_TARGET_TYPES } from './push.ts';
export type { PushTargetConfig, PushTargetSpec, PushTargetType } from './push.ts';

/** Which roles one `headroom serve` process runs. `all` is the single-process default. */
export type Role = 'all' | 'ingest' | 'analytics';
export const ROLES: readonly Role[] = ['all', 'ingest', 'analytics'];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface ClickHouseConfig {
  /** Server URL (`HEADROOM_CLICKHOUSE_URL`); unset means the embedded chDB engine at `dataDir`. */
  readonly url: string | undefined;
  /** `HEADROOM_CLICKHOUSE_USER`, default `default`. Server mode only. */
  readonly user: string;
  /** `HEADROOM_CLICKHOUSE_PASSWORD`, default empty. Server mode only. */
  readonly password: string;
  /** `HEADROOM_CLICKHOUSE_DATABASE`, default `headroom`. */
  readonly database: string;
  /** `HEADROOM_CLICKHOUSE_TIMEOUT_MS`: per-request timeout, default 30 000 ms. */
  readonly requestTimeoutMillis: number;
}

export interface IngestConfig {
  /** Rows that trigger an immediate flush (`HEADROOM_INGEST_BATCH_ROWS`, default 50 000). */
  readonly maxBatchRows: number;
  /** Longest a row waits for companions before its batch is flushed (`HEADROOM_INGEST_FLUSH_MS`, default 20 ms). */
  readonly flushIntervalMillis: number;
  /** Rows accepted but not yet committed before new requests get 503 (`HEADROOM_INGEST_MAX_QUEUED_ROWS`, default 400 000). */
  readonly maxQueuedRows: number;
  /** Largest request body accepted, after decompression (`HEADROOM_INGEST_BODY_LIMIT_BYTES`, default 16 MiB). */
  readonly bodyLimitBytes: number;
  /** How long a committed request is remembered so that its retry is not counted twice (`HEADROOM_INGEST_DEDUP_WINDOW_S`, default 900 s). */
  readonly dedupWindowSeconds: number;
  /** Bearer tokens accepted on `/v1/traces` (`HEADROOM_INGEST_TOKENS`, comma-separated); empty means open. */
  readonly tokens: readonly string[];
}

export interface SlackConfig {
  /** Bot token (`HEADROOM_SLACK_TOKEN`). Alerts are not sent without it. */
  readonly token: string | undefined;
  /** Default channel (`HEADROOM_SLACK_CHANNEL`). */
  readonly channel: string | undefined;
  /** Web API base URL override (`HEADROOM_SLACK_API_URL`), e.g. `http://127.0.0.1:9000/api/`. */
  readonly apiUrl: string | undefined;
}

/** The whole configuration, parsed and validated once at start-up, then frozen. */
export interface Config {
  /** `HEADROOM_HOST`, default `127.0.0.1`. */
  readonly host: string;
  /** `HEADROOM_PORT`, default 4318 (the OTLP/HTTP port). */
  readonly port: number;
  /** `HEADROOM_DATA_DIR`, default `./data`: the embedded ClickHouse directory. */
  readonly dataDir: string;
  /** `HEADROOM_ROLE`, default `all`. */
  readonly role: Role;
  /** `HEADROOM_LOG_LEVEL`, default `info`. */
  readonly logLevel: LogLevel;
  /** `HEADROOM_RETENTION_DAYS`: how long raw `api_calls` rows are kept, default 30 days. */
  readonly retentionDays: number;
  /** `HEADROOM_CONFIG` as an absolute path: the pools/keys/quotas file, default `./headroom.yaml` when it exists. */
  readonly configFile: string | undefined;
  /** `HEADROOM_ADMIN_TOKEN`: bearer token for mutating routes, advice and the pages; unset means open. */
  readonly adminToken: string | undefined;
  /**
   * `HEADROOM_PUBLIC_URL`: where people reach headroom's pages (e.g. `https://headroom.example.com`);
   * alerts link to the page of their key, partition or pool. Unset: no links.
   */
  readonly publicUrl: string | undefined;
  readonly clickhouse: ClickHouseConfig;
  readonly ingest: IngestConfig;
  readonly slack: SlackConfig;
  /** The parsed configuration file; defaults (keys discovered from spans) when there is none. */
  readonly file: HeadroomFile;
  /** Every pool's push targets (`pools[].push` in the file) with their secrets read from the environment. */
  readonly pushTargets: readonly PushTargetConfig[];
  /** `HEADROOM_PUSH_DRAIN_MS`: how long shutdown waits for pushes in flight, default 10 000 ms. */
  readonly pushDrainMillis: number;
}

/** Options given in code win over the environment, which wins over defaults. */
export type ConfigOverrides = {
  readonly [K in Exclude<keyof Config, 'file' | 'pushTargets'>]?: Config[K] extends object
    ? Partial<Config[K]>
    : Config[K];
} & { readonly file?: HeadroomFile };

type Env = Readonly<Record<string, string | undefined>>;

function fail(key: string, value: string, expected: string): never {
  throw new HeadroomError(
    ErrorCode.config,
    `${key}=${JSON.stringify(value)} is invalid: expected ${expected}`,
    {
      details: { key, value, expected },
    },
  );
}

function readString(env: Env, key: string): string | undefined {
  const value = env[key];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function readInt(env: Env, key: string, fallback: number, min: number, max: number): number {
  const raw = readString(env, key);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) fail(key, raw, `a whole number from ${min} to ${max}`);
  const value = Number(raw);
  if (value < min || value > max) fail(key, raw, `a whole number from ${min} to ${max}`);
  return value;
}

function readChoice<T extends string>(env: Env, key: string, fallback: T, choices: readonly T[]): T {
  const raw = readString(env, key);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) fail(key, raw, `one of ${choices.join(', ')}`);
  return raw as T;
}

function readUrl(env: Env, key: string): string | undefined {
  const raw = readString(env, key);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(key, raw, 'an absolute http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(key, raw, 'an http:// or https:// URL');
  return raw;
}

function readTokens(env: Env, key: string): string[] {
  const raw = readString(env, key);
  if (raw === undefined) return [];
  const tokens = raw.split(',').map((t) => t.trim());
  if (tokens.some((t) => t === '' || /\s/.test(t)))
    fail(key, '<redacted>', 'comma-separated tokens without spaces');
  return tokens;
}

/**
 * Parses the environment (and code overrides) into a frozen {@link Config}.
 * Throws a {@link HeadroomError} with code `HEADROOM_ERR_CONFIG` naming the key, the value and what was expected.
 */
export function loadConfig(options: { env?: Env; overrides?: ConfigOverrides; cwd?: string } = {}): Config {
  const env = options.env ?? process.env;
  const overrides = options.overrides ?? {};
  const cwd = options.cwd ?? process.cwd();

  const defaultConfigFile = resolve(cwd, 'headroom.yaml');
  const configuredFile = readString(env, 'HEADROOM_CONFIG');
  const configFile =
    configuredFile !== undefined
      ? resolve(cwd, configuredFile)
      : existsSync(defaultConfigFile)
        ? defaultConfigFile
        : undefined;

  const config: Mutable<Config> = {
    host: readString(env, 'HEADROOM_HOST') ?? '127.0.0.1',
    port: readInt(env, 'HEADROOM_PORT', 4318, 0, 65535),
    dataDir: resolve(cwd, readString(env, 'HEADROOM_DATA_DIR') ?? './data'),
    role: readChoice(env, 'HEADROOM_ROLE', 'all', ROLES),
    logLevel: readChoice(env, 'HEADROOM_LOG_LEVEL', 'info', LOG_LEVELS),
    retentionDays: readInt(env, 'HEADROOM_RETENTION_DAYS', 30, 1, 3650),
    configFile,
    adminToken: readString(env, 'HEADROOM_ADMIN_TOKEN'),
    publicUrl: readUrl(env, 'HEADROOM_PUBLIC_URL'),
    clickhouse: {
      url: readUrl(env, 'HEADROOM_CLICKHOUSE_URL'),
      user: readString(env, 'HEADROOM_CLICKHOUSE_USER') ?? 'default',
      password: env['HEADROOM_CLICKHOUSE_PASSWORD'] ?? '',
      database: readString(env, 'HEADROOM_CLICKHOUSE_DATABASE') ?? 'headroom',
      requestTimeoutMillis: readInt(env, 'HEADROOM_CLICKHOUSE_TIMEOUT_MS', 30_000, 100, 3_600_000),
    },
    ingest: {
      maxBatchRows: readInt(env, 'HEADROOM_INGEST_BATCH_ROWS', 50_000, 1, 10_000_000),
      flushIntervalMillis: readInt(env, 'HEADROOM_INGEST_FLUSH_MS', 20, 0, 60_000),
      maxQueuedRows: readInt(env, 'HEADROOM_INGEST_MAX_QUEUED_ROWS', 400_000, 1, 100_000_000),
      bodyLimitBytes: readInt(
        env,
        'HEADROOM_INGEST_BODY_LIMIT_BYTES',
        16 * 1024 * 1024,
        1024,
        1024 * 1024 * 1024,
      ),
      dedupWindowSeconds: readInt(env, 'HEADROOM_INGEST_DEDUP_WINDOW_S', 900, 0, 7 * 86_400),
      tokens: readTokens(env, 'HEADROOM_INGEST_TOKENS'),
    },
    slack: {
      token: readString(env, 'HEADROOM_SLACK_TOKEN'),
      channel: readString(env, 'HEADROOM_SLACK_CHANNEL'),
      apiUrl: readUrl(env, 'HEADROOM_SLACK_API_URL'),
    },
    file: overrides.file ?? (configFile === undefined ? DEFAULT_FILE : readHeadroomFile(configFile)),
    pushTargets: [],
    pushDrainMillis: readInt(env, 'HEADROOM_PUSH_DRAIN_MS', 10_000, 0, 600_000),
  };
  config.pushTargets = resolvePushTargets(config.file.pools, env, configFile);

  const merged = {
    ...config,
    ...stripUndefined(overrides),
    clickhouse: { ...config.clickhouse, ...stripUndefined(overrides.clickhouse ?? {}) },
    ingest: { ...config.ingest, ...stripUndefined(overrides.ingest ?? {}) },
    slack: { ...config.slack, ...stripUndefined(overrides.slack ?? {}) },
  } as Config;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(merged.clickhouse.database)) {
    fail(
      'HEADROOM_CLICKHOUSE_DATABASE',
      merged.clickhouse.database,
      'a database name of letters, digits and _',
    );
  }
  return deepFreeze(merged);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
