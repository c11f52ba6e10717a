import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ env: {}, cwd: '/srv/headroom' });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 4318,
      dataDir: '/srv/headroom/data',
      role: 'all',
      retentionDays: 30,
      clickhouse: { url: undefined, database: 'headroom', user: 'default' },
      ingest: { tokens: [], maxBatchRows: 50_000 },
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.ingest)).toBe(true);
  });

  it('reads the environment, and code overrides win over it', () => {
    const config = loadConfig({
      env: {
        HEADROOM_PORT: '9999',
        HEADROOM_INGEST_TOKENS: 'a, b',
        HEADROOM_CLICKHOUSE_URL: 'http://ch:8123',
      },
      overrides: { port: 1234, ingest: { maxQueuedRows: 5 } },
    });
    expect(config.port).toBe(1234);
    expect(config.ingest.tokens).toEqual(['a', 'b']);
    expect(config.ingest.maxQueuedRows).toBe(5);
    expect(config.ingest.maxBatchRows).toBe(50_000);
    expect(config.clickhouse.url).toBe('http://ch:8123');
  });

  it('stops with a message naming the key, the value and what was expected', () => {
    expect(() => loadConfig({ env: { HEADROOM_PORT: 'eighty' } })).toThrow(
      'HEADROOM_PORT="eighty" is invalid: expected a whole number from 0 to 65535',
    );
    expect(() => loadConfig({ env: { HEADROOM_ROLE: 'everything' } })).toThrow(
      'HEADROOM_ROLE="everything" is invalid: expected one of all, ingest, analytics',
    );
    expect(() => loadConfig({ env: { HEADROOM_CLICKHOUSE_URL: 'ch:8123' } })).toThrow(
      /HEADROOM_CLICKHOUSE_URL/,
    );
    expect(() => loadConfig({ env: { HEADROOM_CLICKHOUSE_DATABASE: 'drop table' } })).toThrow(
      /HEADROOM_CLICKHOUSE_DATABASE="drop table" is invalid/,
    );
  });
});
