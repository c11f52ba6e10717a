import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config/index.ts';
import { ErrorCode, HeadroomError, type IoResult } from '../errors/index.ts';
import { API_CALL_COLUMNS, ApiCallTsvWriter } from './api-calls.ts';
import { createAnalyticsStore, type AnalyticsStore } from './analytics.ts';
import { createClickHouseClient, type RawInsert, type StoreMode } from './clickhouse.ts';
import { applyMigrations, migrationsUpToDate, type MigrationReport } from './migrations.ts';
import { createPushStore, type PushStore } from './pushes.ts';

export type { MigrationReport, StoreMode };
export type {
  AdviceRow,
  AlertEventRow,
  AlertHistoryFilter,
  AnalyticsStore,
  ForecastRow,
  KeySeries,
  NotificationRow,
  OutcomeCountRow,
  OutcomeBucketRow,
  ProviderLimitRow,
  SilenceRow,
  ThrottlingRow,
  UsageBucketRow,
} from './analytics.ts';
export type { PushRow, PushStore } from './pushes.ts';
export { API_CALL_COLUMNS, ApiCallTsvWriter };

/** Where the numbered SQL migrations live (the package's `migrations/` folder). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export type QueryParams = Record<string, unknown>;

/** The only module that talks to ClickHouse. */
export interface Store extends AnalyticsStore, PushStore {
  readonly mode: StoreMode;
  readonly database: string;
  /** Applies pending migrations and the configured retention. */
  migrate(): Promise<MigrationReport>;
  /** ClickHouse reachable and every migration applied. */
  checkReady(): Promise<{ ready: boolean; reason?: string }>;
  /** Inserts rows already encoded by {@link ApiCallTsvWriter}; resolves once ClickHouse has committed them. */
  insertEncodedApiCalls(chunks: readonly Buffer[]): Promise<IoResult<void>>;
  /** Digests of requests committed since `sinceMs`, so that retries arriving after a restart are recognised. */
  readRecentRequestDigests(sinceMs: number): Promise<Array<{ digest: string; committedAtMs: number }>>;
  /** Whether a request with this digest was committed since `sinceMs` (uses the digest's bloom filter). */
  hasRequestDigest(digest: string, sinceMs: number): Promise<boolean>;
  /** Runs a read query with bound parameters and returns its rows. */
  queryRows<T>(sql: string, params?: QueryParams): Promise<T[]>;
  close(): Promise<void>;
}

// ClickHouse error codes that mean "try again later", not "this insert is wrong".
// Source: ClickHouse src/Common/ErrorCodes.cpp.
const RETRYABLE_CLICKHOUSE_CODES = new Set([
  '159', // TIMEOUT_EXCEEDED
  '164', // READONLY
  '202', // TOO_MANY_SIMULTANEOUS_QUERIES
  '203', // NO_FREE_CONNECTION
  '209', // SOCKET_TIMEOUT
  '210', // NETWORK_ERROR
  '241', // MEMORY_LIMIT_EXCEEDED
  '242', // TABLE_IS_READ_ONLY
  '252', // TOO_MANY_PARTS
  '279', // ALL_CONNECTION_TRIES_FAILED
  '319', // UNKNOWN_STATUS_OF_INSERT
  '425', // SYSTEM_ERROR
]);

// ClickHouse error codes that blame the values of the rows inserted: the same insert without those
// rows would succeed. Source: ClickHouse src/Common/ErrorCodes.cpp.
const ROW_VALUE_CLICKHOUSE_CODES = new Set([
  '6', // CANNOT_PARSE_TEXT
  '25', // CANNOT_PARSE_ESCAPE_SEQUENCE
  '26', // CANNOT_PARSE_QUOTED_STRING
  '27', // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  '32', // ATTEMPT_TO_READ_AFTER_EOF
  '38', // CANNOT_PARSE_DATE
  '41', // CANNOT_PARSE_DATETIME
  '53', // TYPE_MISMATCH
  '69', // ARGUMENT_OUT_OF_BOUND
  '70', // CANNOT_CONVERT_TYPE
  '72', // CANNOT_PARSE_NUMBER
  '117', // INCORRECT_DATA
  '131', // TOO_LARGE_STRING_SIZE
  '321', // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  '407', // DECIMAL_OVERFLOW
  '469', // VIOLATED_CONSTRAINT
]);

/**
 * Classifies a failed ClickHouse call: transport failures and overload are retryable; an insert
 * refused because of its rows' values is a failure coded {@link ErrorCode.storeRefusedRows}, so the
 * caller can find and drop those rows; the rest are failures.
 */
export function classifyClickHouseError(error: unknown): Exclude<IoResult<never>, { kind: 'success' }> {
  const err = error instanceof Error ? error : new Error(String(error));
  const code = (err as { code?: unknown }).code;
  const codeText = typeof code === 'string' || typeof code === 'number' ? String(code) : '';
  const transport =
    /^E[A-Z]+$/.test(codeText) ||
    /socket hang up|ECONNREFUSED|ECONNRESET|Timeout error|closed/i.test(err.message);
  // TOO_MANY_PARTS also says an insert touched too many partitions: fewer rows per insert fix that.
  const refusesRows =
    ROW_VALUE_CLICKHOUSE_CODES.has(codeText) ||
    (codeText === '252' && /partitions for single INSERT block/i.test(err.message));
  const retryable = !refusesRows && (transport || RETRYABLE_CLICKHOUSE_CODES.has(codeText));
  const wrapped = new HeadroomError(
    retryable ? ErrorCode.storeUnavailable : refusesRows ? ErrorCode.storeRefusedRows : ErrorCode.storeQuery,
    `ClickHouse: ${err.message}`,
    { cause: err, statusCode: 503 },
  );
  return retryable ? { kind: 'retryable', error: wrapped } : { kind: 'failure', error: wrapped };
}

export function createStore(config: Config): Store {
  const { client, mode, rawInsert } = createClickHouseClient(config.clickhouse, config.dataDir);
  return createStoreFromClient(client, mode, rawInsert, config.clickhouse.database, config.retentionDays);
}

function createStoreFromClient(
  client: ClickHouseClient,
  mode: StoreMode,
  rawInsert: RawInsert,
  database: string,
  retentionDays: number,
): Store {
  let closed = false;

  async function applyRetention(): Promise<void> {
    const rows = await queryRows<{ create_table_query: string }>(
      'SELECT create_table_query FROM system.tables WHERE database = {database:String} AND name = {table:String}',
      { database, table: 'api_calls' },
    );
    const wanted = `toDateTime(timestamp) + toIntervalDay(${retentionDays})`;
    if (rows[0] === undefined || rows[0].create_table_query.includes(wanted)) return;
    await client.command({
      query: `ALTER TABLE ${database}.api_calls MODIFY TTL toDateTime(timestamp) + INTERVAL ${retentionDays} DAY`,
      clickhouse_settings: { materialize_ttl_after_modify: 0 },
    });
  }

  async function queryRows<T>(sql: string, params: QueryParams = {}): Promise<T[]> {
    try {
      const result = await client.query({ query: sql, query_params: params, format: 'JSONEachRow' });
      return await result.json<T>();
    } catch (error) {
      throw classifyClickHouseError(error).error;
    }
  }

  async function insertJson(table: string, rows: readonly object[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await client.insert({ table, values: rows, format: 'JSONEachRow' });
    } catch (error) {
      throw classifyClickHouseError(error).error;
    }
  }

  return {
    ...createAnalyticsStore(database, queryRows, insertJson),
    ...createPushStore(database, queryRows, insertJson),
    mode,
    database,
    async migrate() {
      const report = await applyMigrations(client, database, MIGRATIONS_DIR);
      await applyRetention();
      return report;
    },
    async checkReady() {
      if (closed) return { ready: false, reason: 'store closed' };
      const ping = await client.ping();
      if (!ping.success) return { ready: false, reason: `ClickHouse unreachable: ${ping.error.message}` };
      try {
        const upToDate = await migrationsUpToDate(client, database, MIGRATIONS_DIR);
        return upToDate ? { ready: true } : { ready: false, reason: 'migrations not applied' };
      } catch (error) {
        return { ready: false, reason: `migrations not applied: ${(error as Error).message}` };
      }
    },
    async insertEncodedApiCalls(chunks) {
      if (chunks.length === 0) return { kind: 'success', value: undefined };
      try {
        const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
        await rawInsert(`${database}.api_calls`, API_CALL_COLUMNS, body, 'TabSeparated');
        return { kind: 'success', value: undefined };
      } catch (error) {
        return classifyClickHouseError(error);
      }
    },
    async readRecentRequestDigests(sinceMs) {
      const rows = await queryRows<{ d: string; t: string }>(
        `SELECT request_digest AS d, toString(toUnixTimestamp64Milli(max(ingested_at))) AS t FROM ${database}.api_calls
         WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64}) AND request_digest != ''
         GROUP BY request_digest ORDER BY max(ingested_at)`,
        { since: sinceMs },
      );
      return rows.map((r) => ({ digest: r.d, committedAtMs: Number(r.t) }));
    },
    async hasRequestDigest(digest, sinceMs) {
      const rows = await queryRows<{ n: number }>(
        `SELECT count() AS n FROM ${database}.api_calls
         WHERE request_digest = {digest:String} AND ingested_at >= fromUnixTimestamp64Milli({since:Int64})`,
        { digest, since: sinceMs },
      );
      return Number(rows[0]?.n ?? 0) > 0;
    },
    queryRows,
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
