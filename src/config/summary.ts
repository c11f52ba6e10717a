import type { Config } from './index.ts';

/** What a start-up log line says was loaded. Never holds a secret: tokens and passwords only as set / unset. */
export interface ConfigSummary {
  role: Config['role'];
  config_file: string | null;
  storage:
    | { mode: 'embedded'; data_dir: string; database: string }
    | { mode: 'server'; url: string; database: string };
  pools: string[];
  keys: number;
  quotas: number;
  alert_channels: string[];
  /** `<pool>: <type> <name>` per push target (addresses and secrets left out). */
  push_targets: string[];
  ingest_auth: 'tokens' | 'open';
  admin_auth: 'token' | 'open';
  log_level: Config['logLevel'];
}

/** A ClickHouse URL fit for a log: user, password and query string (which may carry them) removed. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    url.search = '';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The Slack channel each configured pool's alerts go to; undefined where there is none. */
function poolChannels(config: Config): Map<string, string | undefined> {
  const fallback = config.file.alerts.slack_channel ?? config.slack.channel;
  return new Map(config.file.pools.map((p) => [p.name, p.slack_channel ?? fallback]));
}

/** Summary of the configuration for the start-up log. */
export function summarizeConfig(config: Config): ConfigSummary {
  const { file } = config;
  const quotas = file.pools.reduce(
    (n, pool) =>
      n +
      pool.key_quotas.length +
      pool.quotas.length +
      pool.keys.reduce((k, key) => k + key.quotas.length, 0) +
      pool.partitions.reduce((k, partition) => k + partition.quotas.length, 0),
    0,
  );
  const channels = new Set<string>();
  // Receivers, when configured, are the channels; else a Slack token with channels makes one.
  for (const receiver of file.alerts.receivers) {
    for (const slack of receiver.slack_configs)
      channels.add(
        `slack ${slack.channel ?? file.alerts.slack_channel ?? config.slack.channel ?? '(pool channels)'}`,
      );
    // Only the origin: a webhook path or query may carry a token.
    for (const hook of receiver.webhook_configs) channels.add(`webhook ${new URL(hook.url).origin}`);
    for (const pd of receiver.pagerduty_configs) channels.add(`pagerduty ${new URL(pd.url).origin}`);
  }
  if (file.alerts.receivers.length === 0 && config.slack.token !== undefined) {
    const fallback = file.alerts.slack_channel ?? config.slack.channel;
    if (fallback !== undefined) channels.add(`slack ${fallback}`);
    for (const channel of poolChannels(config).values())
      if (channel !== undefined) channels.add(`slack ${channel}`);
  }
  return {
    role: config.role,
    config_file: config.configFile ?? null,
    storage:
      config.clickhouse.url === undefined
        ? { mode: 'embedded', data_dir: config.dataDir, database: config.clickhouse.database }
        : { mode: 'server', url: redactUrl(config.clickhouse.url), database: config.clickhouse.database },
    pools: file.pools.map((p) => p.name),
    keys: file.pools.reduce((n, p) => n + p.keys.length, 0),
    quotas,
    alert_channels: [...channels].sort(),
    push_targets: config.pushTargets.map((t) => `${t.pool}: ${t.type} ${t.name}`),
    ingest_auth: config.ingest.tokens.length > 0 ? 'tokens' : 'open',
    admin_auth: config.adminToken === undefined ? 'open' : 'token',
    log_level: config.logLevel,
  };
}

/** What the operator must fix: settings that make headroom run without doing what was meant. */
export function findConfigWarnings(config: Config): string[] {
  const warnings: string[] = [];
  const runsAnalytics = config.role !== 'ingest';
  const fallback = config.file.alerts.slack_channel ?? config.slack.channel;
  if (runsAnalytics && config.slack.token !== undefined && fallback === undefined) {
    const pools = [...poolChannels(config)].filter(([, c]) => c === undefined).map(([name]) => name);
    warnings.push(
      `HEADROOM_SLACK_TOKEN is set but no default Slack channel is: alerts of ${
        pools.length > 0 ? `pool${pools.length > 1 ? 's' : ''} ${pools.join(', ')} and of ` : ''
      }pools discovered from spans are recorded, not sent. Set HEADROOM_SLACK_CHANNEL or alerts.slack_channel`,
    );
  }
  const anyChannel = fallback !== undefined || config.file.pools.some((p) => p.slack_channel !== undefined);
  if (runsAnalytics && config.slack.token === undefined && anyChannel) {
    warnings.push(
      'a Slack channel is configured but HEADROOM_SLACK_TOKEN is unset: alerts are recorded, not sent. ' +
        'Set HEADROOM_SLACK_TOKEN to a bot token with chat:write',
    );
  }
  if (!isLoopback(config.host)) {
    if (config.adminToken === undefined && runsAnalytics) {
      warnings.push(
        `HEADROOM_ADMIN_TOKEN is unset while listening on ${config.host}: anyone who reaches the port can ` +
          'read the advice and change silences. Set HEADROOM_ADMIN_TOKEN',
      );
    }
    if (config.ingest.tokens.length === 0 && config.role !== 'analytics') {
      warnings.push(
        `HEADROOM_INGEST_TOKENS is unset while listening on ${config.host}: anyone who reaches the port can ` +
          'send spans. Set HEADROOM_INGEST_TOKENS',
      );
    }
  }
  return warnings;
}
