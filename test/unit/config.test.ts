import { describe, expect, it } from 'vitest';
import { loadConfig, parseHeadroomFile } from '../../src/config/index.ts';

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

describe('configuration file', () => {
  it('parses pools, keys, partitions and quotas with defaults', () => {
    const file = parseHeadroomFile(
      `
pools:
  - name: prod
    key_quotas: [{ dimension: requests, window: day, limit: 1000, time_zone: America/Los_Angeles }]
    keys:
      - { id: team-a, partition: org-1 }
    partitions:
      - { id: org-1, quotas: [{ dimension: cost_usd, window: month, limit: 500, anchor_day: 15 }] }
`,
      'headroom.yaml',
    );
    expect(file.analytics).toEqual({ interval_seconds: 30, history_days: 7 });
    expect(file.alerts).toMatchObject({
      warning_ratio: 0.8,
      forecast_p_exhaust: 0.5,
      forecast_horizon_minutes: 360,
      pace_lookback_minutes: 30,
      pace_horizon_minutes: 0,
    });
    expect(parseHeadroomFile('alerts: { pace_horizon_minutes: 45 }', 'f.yaml').alerts).toMatchObject({
      pace_horizon_minutes: 45,
      pace_lookback_minutes: 30,
      forecast_p_exhaust: 0.5,
    });
    expect(() => parseHeadroomFile('alerts: { pace_lookback_minutes: 1 }', 'f.yaml')).toThrow(
      /alerts\.pace_lookback_minutes/,
    );
    expect(file.pools[0]?.key_quotas[0]).toEqual({
      dimension: 'requests',
      window: 'day',
      limit: 1000,
      time_zone: 'America/Los_Angeles',
    });
    expect(file.pools[0]?.quotas).toEqual([]);
    expect(
      parseHeadroomFile(
        'pools: [{ name: p, quotas: [{ dimension: cost_usd, window: month, limit: 5000 }] }]',
        'f.yaml',
      ).pools[0]?.quotas[0],
    ).toMatchObject({ dimension: 'cost_usd', window: 'month', limit: 5000, time_zone: 'UTC' });
    expect(file.pools[0]?.partitions[0]?.quotas[0]).toMatchObject({
      window: 'month',
      anchor_day: 15,
      time_zone: 'UTC',
    });
  });

  it('stops with the path in the file and what was expected', () => {
    expect(() =>
      parseHeadroomFile(
        'pools: [{ name: p, keys: [{ id: k, quotas: [{ dimension: requests, window: week, limit: 5 }] }] }]',
        'f.yaml',
      ),
    ).toThrow(
      /f\.yaml is invalid: pools\[0\]\.keys\[0\]\.quotas\[0\]\.window: expected day, month or a rolling window like 60s, 5m, 1h/,
    );
    expect(() =>
      parseHeadroomFile(
        'pools: [{ name: p, key_quotas: [{ dimension: requests, window: day, limit: 5, time_zone: Mars/Olympus }] }]',
        'f.yaml',
      ),
    ).toThrow(/pools\[0\]\.key_quotas\[0\]\.time_zone: expected an IANA time zone/);
    expect(() => parseHeadroomFile('analytics: { interval_seconds: 45 }', 'f.yaml')).toThrow(
      /analytics\.interval_seconds/,
    );
    expect(() => parseHeadroomFile('pools: [{ name: p, keys: [{ id: k }, { id: k }] }]', 'f.yaml')).toThrow(
      'f.yaml is invalid: pools[0].keys[1].id: duplicate key id "k"',
    );
    expect(() => parseHeadroomFile('pools: [{ name: p, colour: blue }]', 'f.yaml')).toThrow(/pools\[0\]/);
    expect(() => parseHeadroomFile('pools: [', 'f.yaml')).toThrow(/f\.yaml: not valid YAML/);
  });
});
