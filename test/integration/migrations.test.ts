import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMigrations } from '../../src/store/migrations.ts';
import { MIGRATIONS_DIR } from '../../src/store/index.ts';
import { makeDataDir } from '../support/service.ts';

describe('migrations', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let client: ReturnType<typeof createClient>;
  beforeAll(async () => {
    data = await makeDataDir('headroom-migrations-');
    client = createClient({
      connection: createChdbConnection({ path: join(data.dir, 'db') }) as unknown as NonNullable<
        Parameters<typeof createClient>[0]
      >['connection'],
    });
  });
  afterAll(async () => {
    await client.close();
    await data.remove();
  });

  it('applies every file once, records it, and refuses to run when an applied file was edited', async () => {
    const dir = join(data.dir, 'migrations');
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const first = await applyMigrations(client, 'mig_test', dir);
    const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(first.applied).toEqual(files);
    const second = await applyMigrations(client, 'mig_test', dir);
    expect(second).toEqual({ applied: [], alreadyApplied: first.applied });

    const tables = await (
      await client.query({
        query: "SELECT name FROM system.tables WHERE database = 'mig_test' ORDER BY name",
        format: 'JSONEachRow',
      })
    ).json<{ name: string }>();
    expect(tables.map((t) => t.name)).toEqual([
      'advice',
      'alerts',
      'api_calls',
      'forecasts',
      'notifications',
      'pushes',
      'ratelimit_latest',
      'schema_migrations',
      'silences',
      'usage_minute',
      'usage_minute_mv',
    ]);

    const file = join(dir, '0002_usage_minute.sql');
    await writeFile(file, (await readFile(file, 'utf8')) + '\n-- a harmless-looking edit\n');
    await expect(applyMigrations(client, 'mig_test', dir)).rejects.toMatchObject({
      code: 'HEADROOM_ERR_MIGRATION_EDITED',
      message: expect.stringContaining(
        'migration 0002_usage_minute.sql was edited after it was applied',
      ) as unknown,
    });
  });
});
