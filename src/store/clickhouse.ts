import { Readable } from 'node:stream';
import { createClient, parseError, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { ClickHouseConfig } from '../config/index.ts';

export type StoreMode = 'embedded' | 'server';

/**
 * Inserts bytes that are already in `format` into a table. In embedded mode the bytes go to chDB
 * as they are (no copy into a JS string and back); over HTTP they are the request body.
 */
export type RawInsert = (
  table: string,
  columns: readonly string[],
  body: Buffer,
  format: 'TabSeparated',
) => Promise<void>;

/**
 * Creates the one `@clickhouse/client` of the process: embedded chDB at `dataDir` when no server URL
 * is configured, the server over HTTP otherwise. Table names are always qualified with the database,
 * because the embedded connection has no per-client default database.
 */
export function createClickHouseClient(
  config: ClickHouseConfig,
  dataDir: string,
): { client: ClickHouseClient; mode: StoreMode; rawInsert: RawInsert } {
  if (config.url !== undefined) {
    const client = createClient({
      url: config.url,
      username: config.user,
      password: config.password,
      request_timeout: config.requestTimeoutMillis,
      max_open_connections: 16,
      compression: { request: false, response: true },
      clickhouse_settings: {
        // Server mode: an insert is acknowledged only once it is written, never buffered asynchronously.
        async_insert: 0,
      },
    });
    const rawInsert: RawInsert = async (table, columns, body, format) => {
      await client.insert({
        table,
        columns: columns as [string, ...string[]],
        values: Readable.from([body], { objectMode: false }),
        format,
      });
    };
    return { client, mode: 'server', rawInsert };
  }
  // chdb types its connection against its own copy of @clickhouse/client-common; the shapes are the
  // same (it implements the client's Connection contract) but the two declarations are distinct types.
  const chdb = createChdbConnection({ path: dataDir });
  const connection = chdb as unknown as NonNullable<Parameters<typeof createClient>[0]>['connection'];
  const client = createClient({
    connection,
    request_timeout: config.requestTimeoutMillis,
  });
  const rawInsert: RawInsert = async (table, columns, body, format) => {
    try {
      await chdb.chdb.rawInsert({ table, columns, values: body, format });
    } catch (error) {
      // Same error shape as the client's, so one classification serves both modes.
      throw parseError(error instanceof Error ? error.message : String(error));
    }
  };
  return { client, mode: 'embedded', rawInsert };
}
