import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  findConfigWarnings,
  loadConfig,
  parseHeadroomFile,
  summarizeConfig,
} from '../../src/config/index.ts';

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

  const problemOf = (yaml: string): string => {
    try {
      parseHeadroomFile(yaml, 'f.yaml');
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error(`${yaml} was accepted`);
  };

  it('says path, value and what is expected in plain words, one line per problem', () => {
    expect(problemOf('analytics: { interval_seconds: 7 }')).toBe(
      'f.yaml is invalid: analytics.interval_seconds: 7 is invalid: expected a number of seconds that divides 60 evenly: ' +
        '1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60; or whole minutes that divide an hour: ' +
        '120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800 or 3600',
    );
    expect(problemOf('analytics: { interval_seconds: 45 }')).toMatch(
      /^f\.yaml is invalid: analytics\.interval_seconds: 45 is invalid/,
    );
    expect(
      problemOf(
        'pools: [{ name: p, keys: [{ id: k, quotas: [{ dimension: requests, window: week, limit: 5 }] }] }]',
      ),
    ).toBe(
      'f.yaml is invalid: pools[0].keys[0].quotas[0].window: "week" is invalid: expected day, month or a rolling window such as 60s, 5m or 1h',
    );
    expect(
      problemOf(
        'pools: [{ name: p, key_quotas: [{ dimension: requests, window: day, limit: 5, time_zone: Mars/Olympus }] }]',
      ),
    ).toBe(
      'f.yaml is invalid: pools[0].key_quotas[0].time_zone: "Mars/Olympus" is invalid: expected an IANA time zone such as UTC or America/Los_Angeles',
    );
    expect(problemOf('alerts: { pace_lookback_minutes: 1 }')).toBe(
      'f.yaml is invalid: alerts.pace_lookback_minutes: 1 is invalid: expected a number of minutes from 5 to 1440',
    );
    expect(problemOf('alerts: { warning_ratio: "high" }')).toBe(
      'f.yaml is invalid: alerts.warning_ratio: "high" is invalid: expected a ratio above 0 and below 1, such as 0.8',
    );
    expect(problemOf('alerts: { warning_ratio: 0.9, critical_ratio: 0.9 }')).toBe(
      'f.yaml is invalid: alerts.warning_ratio: 0.9 is invalid: expected a ratio below alerts.critical_ratio (0.9)',
    );
    expect(problemOf('pools: 3')).toBe('f.yaml is invalid: pools: 3 is invalid: expected a list of pools');
    expect(problemOf('pools: [{ keys: [] }]')).toBe(
      'f.yaml is invalid: pools[0].name is missing: expected the pool name, as sent in keypool.pool',
    );
    expect(problemOf('pools: [{ name: p, keys: [{ id: k }, { id: k }] }]')).toBe(
      'f.yaml is invalid: pools[0].keys[1].id: "k" is invalid: expected a key id not used earlier in the pool (keys[0] has it)',
    );
    expect(problemOf('pools: [{ name: p, key_quotas: [{ dimension: reqs, window: day, limit: 0 }] }]')).toBe(
      'f.yaml is invalid:\n' +
        '  pools[0].key_quotas[0].dimension: "reqs" is invalid: expected one of requests, tokens, input_tokens, output_tokens or cost_usd\n' +
        '  pools[0].key_quotas[0].limit: 0 is invalid: expected a number above 0',
    );
    expect(problemOf('pools: [')).toMatch(/^f\.yaml is not valid YAML: /);
  });

  it('names the closest valid field for a misspelt one, without a validation-library line', () => {
    expect(problemOf('analytics: { interval_secnds: 30 }')).toBe(
      'f.yaml is invalid: analytics.interval_secnds: 30 is not a known field: did you mean interval_seconds? ' +
        '(analytics takes interval_seconds or history_days)',
    );
    expect(problemOf('pools: [{ name: p, colour: blue }]')).toBe(
      'f.yaml is invalid: pools[0].colour: "blue" is not a known field ' +
        '(pools[0] takes name, key_quotas, quotas, keys, partitions, slack_channel, push or fallback_pools)',
    );
    expect(problemOf('pool: []')).toMatch(
      /^f\.yaml is invalid: pool: \[\] is not a known field: did you mean pools\?/,
    );
  });

  it('keeps the configuration file as an absolute path, so the start-up log names the file read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'headroom-config-'));
    writeFileSync(join(dir, 'ops.yaml'), 'pools: [{ name: p }]');
    const config = loadConfig({ env: { HEADROOM_CONFIG: 'ops.yaml' }, cwd: dir });
    expect(config.configFile).toBe(join(dir, 'ops.yaml'));
    expect(config.file.pools.map((p) => p.name)).toEqual(['p']);
    rmSync(dir, { recursive: true });
  });

  it('says which configuration file cannot be read', () => {
    expect(() => loadConfig({ env: { HEADROOM_CONFIG: '/nonexistent/headroom.yaml' } })).toThrow(
      /^HEADROOM_CONFIG="\/nonexistent\/headroom\.yaml" is invalid: expected a readable YAML file \(ENOENT/,
    );
  });
});

describe('start-up summary and warnings', () => {
  const secrets = {
    HEADROOM_CLICKHOUSE_URL: 'https://reader:ch-pass-1@ch.internal:8443/?password=ch-pass-2',
    HEADROOM_CLICKHOUSE_PASSWORD: 'ch-pass-3',
    HEADROOM_SLACK_TOKEN: 'xoxb-slack-secret',
    HEADROOM_ADMIN_TOKEN: 'admin-secret',
    HEADROOM_INGEST_TOKENS: 'ingest-secret-1,ingest-secret-2',
  };

  it('says what was loaded without any secret', () => {
    const config = loadConfig({
      env: { ...secrets, HEADROOM_SLACK_CHANNEL: '#llm', HEADROOM_ROLE: 'analytics' },
      overrides: {
        file: parseHeadroomFile(
          'pools: [{ name: prod, slack_channel: "#prod", key_quotas: [{ dimension: requests, window: day, limit: 5 }], keys: [{ id: a }, { id: b, quotas: [{ dimension: tokens, window: 1h, limit: 9 }] }], push: [{ type: litellm, url: "http://litellm:4000", token: sk-litellm-master, keys: { a: m-1 } }] }, { name: dev }]',
          'f.yaml',
        ),
      },
    });
    const summary = summarizeConfig(config);
    expect(summary).toEqual({
      role: 'analytics',
      config_file: null,
      storage: { mode: 'server', url: 'https://ch.internal:8443/', database: 'headroom' },
      pools: ['prod', 'dev'],
      keys: 2,
      quotas: 2,
      alert_channels: ['slack #llm', 'slack #prod'],
      push_targets: ['prod: litellm litellm'],
      ingest_auth: 'tokens',
      admin_auth: 'token',
      log_level: 'info',
    });
    const text = JSON.stringify(summary);
    for (const secret of ['ch-pass', 'reader', 'xoxb', 'admin-secret', 'ingest-secret', 'sk-litellm'])
      expect(text).not.toContain(secret);
  });

  it('warns of what the operator must fix', () => {
    const warningsOf = (env: Record<string, string>, yaml = ''): string[] =>
      findConfigWarnings(loadConfig({ env, overrides: { file: parseHeadroomFile(yaml, 'f.yaml') } }));
    expect(warningsOf({})).toEqual([]);
    expect(warningsOf({ HEADROOM_SLACK_TOKEN: 'xoxb-1' }, 'pools: [{ name: prod }]')).toEqual([
      'HEADROOM_SLACK_TOKEN is set but no default Slack channel is: alerts of pool prod and of pools discovered ' +
        'from spans are recorded, not sent. Set HEADROOM_SLACK_CHANNEL or alerts.slack_channel',
    ]);
    expect(warningsOf({ HEADROOM_SLACK_CHANNEL: '#x' })).toEqual([
      'a Slack channel is configured but HEADROOM_SLACK_TOKEN is unset: alerts are recorded, not sent. ' +
        'Set HEADROOM_SLACK_TOKEN to a bot token with chat:write',
    ]);
    expect(warningsOf({ HEADROOM_HOST: '0.0.0.0' })).toEqual([
      'HEADROOM_ADMIN_TOKEN is unset while listening on 0.0.0.0: anyone who reaches the port can read the advice ' +
        'and change silences. Set HEADROOM_ADMIN_TOKEN',
      'HEADROOM_INGEST_TOKENS is unset while listening on 0.0.0.0: anyone who reaches the port can send spans. ' +
        'Set HEADROOM_INGEST_TOKENS',
    ]);
    expect(
      warningsOf({ HEADROOM_HOST: '0.0.0.0', HEADROOM_ADMIN_TOKEN: 't', HEADROOM_INGEST_TOKENS: 'u' }),
    ).toEqual([]);
    expect(warningsOf({ HEADROOM_HOST: '127.0.0.2' })).toEqual([]);
    for (const warning of warningsOf({ HEADROOM_SLACK_TOKEN: 'xoxb-1', HEADROOM_HOST: '::' }))
      expect(warning).not.toContain('xoxb-1');
  });

  it('names the line of a YAML error without printing the text there, which may hold a secret', () => {
    const attempt = (): unknown =>
      parseHeadroomFile('pools:\n  - name: sk-do-not-print: nested: x\n', 'f.yaml');
    expect(attempt).toThrow(/^f\.yaml is not valid YAML: .* at line 2, column \d+$/);
    expect(attempt).not.toThrow(/sk-do-not-print/);
  });
});
