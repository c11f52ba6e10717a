import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { ClickHouseConfig } from '../config/index.ts';

export type StoreMode = 'embedded' | 'server';

/**
 * Creates the one `@clickhouse/client` of the process: embedded chDB at `dataDir` when no server URL
 * is configured, the server over HTTP otherwise. Table names are always qualified with the database,
 * because the embedded connection has no per-client default database.
 */
export function createClickHouseClient(
  config: ClickHouseConfig,
  dataDir: string,
): { client: ClickHouseClient; mode: StoreMode } {
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
    return { client, mode: 'server' };
  }
  // chdb types its connection against its own copy of @clickhouse/client-common; the shapes are the
  // same (it implements the client's Connection contract) but the two declarations are distinct types.
  const connection = createChdbConnection({ path: dataDir }) as unknown as NonNullable<
    Parameters<typeof createClient>[0]
  >['connection'];
  const client = createClient({
    connection,
    request_timeout: config.requestTimeoutMillis,
  });
  return { client, mode: 'embedded' };
}
