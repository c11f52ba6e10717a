import type { QueryParams } from './index.ts';

/** Usage of one key over a span of time. Token and cost sums are numbers (ClickHouse UInt64 arrive as strings). */
export interface UsageBucketRow {
  pool: string;
  key_id: string;
  t: number;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/**
 * One key's usage series in buckets, as parallel arrays (one JSON row per key keeps the transfer
 * small when there are many keys), with the key's latest partition and provider.
 */
export interface KeySeries {
  pool: string;
  key_id: string;
  partition: string;
  provider: string;
  last_seen_ms: number;
  /** Bucket starts, epoch ms, ascending. */
  t: number[];
  requests: number[];
  input_tokens: number[];
  output_tokens: number[];
  cost_usd: number[];
}

export interface ProviderLimitRow {
  pool: string;
  key_id: string;
  partition: string;
  dimension: string;
  limit: number | null;
  remaining: number | null;
  reset_at_ms: number | null;
  observed_at_ms: number;
}

export interface ThrottlingRow {
  pool: string;
  key_id: string;
  rate_limited: number;
  quota_exhausted: number;
  /** Latest `timestamp + retry_after_ms` of a throttled call, 0 when none said. */
  cooldown_until_ms: number;
  last_quota_exhausted_ms: number;
  /** Latest `auth_error` answer (revoked or expired key), 0 when none. */
  last_auth_error_ms: number;
}

export interface ForecastRow {
  evaluated_at: number;
  pool: string;
  subject_kind: string;
  subject_id: string;
  quota_id: string;
  dimension: string;
  window_kind: string;
  window_start: number;
  reset_at: number;
  used: number;
  limit: number;
  remaining: number;
  eta_p10: number | null;
  eta_p50: number | null;
  eta_p90: number | null;
  p_exhaust: number;
  status: string;
  method: string;
  source: string;
}

export interface AlertEventRow {
  at: number;
  alert_id: string;
  rule: string;
  severity: string;
  state: string;
  pool: string;
  subject_kind: string;
  subject_id: string;
  quota_id: string;
  summary: string;
  details: string;
  started_at: number;
  channel: string;
  message_ts: string;
  notified: number;
  fired_at: number | null;
  partition: string;
}

/** One delivery attempt of a notification group to one integration of a receiver. */
export interface NotificationRow {
  group_key: string;
  receiver: string;
  seq: number;
  kind: string;
  status: string;
  /**
   * `sent`, `failed` (the receiver refused: fix its configuration), `retryable` (gave up for now), or
   * `claimed` (an instance is about to send it; `error` holds the instance).
   */
  outcome: string;
  error: string;
  content_hash: string;
  /** JSON: where the receiver keeps the message (Slack channel and ts, PagerDuty dedup key). */
  message_ref: string;
  /** JSON: the alerts the receiver was told of. */
  alerts: string;
  group_labels: string;
  first_sent_at: number;
  last_sent_at: number;
  recorded_at: number;
}

export interface SilenceRow {
  id: string;
  /** JSON array of `{name, value, isRegex, isEqual}`. */
  matchers: string;
  starts_at: number;
  ends_at: number;
  created_by: string;
  comment: string;
  updated_at: number;
}

/** Call outcomes of one key since a time (the throttling and key-health rules). */
export interface OutcomeCountRow {
  pool: string;
  key_id: string;
  partition: string;
  calls: number;
  rate_limited: number;
  quota_exhausted: number;
  auth_errors: number;
  last_auth_error_ms: number;
  last_ok_ms: number;
}

export interface AdviceRow {
  generated_at: number;
  valid_until: number;
  pool: string;
  version: number;
  key_id: string;
  weight: number;
  state: string;
  until: number | null;
  reason: string;
}

/** Calls of one key per bucket by outcome. */
export interface OutcomeBucketRow {
  t: number;
  ok: number;
  rate_limited: number;
  quota_exhausted: number;
  /** Every other outcome: overloaded, auth, client and upstream errors, timeouts. */
  other: number;
}

/** Which alert events to read: all, or those of one pool, optionally of one subject. */
export interface AlertHistoryFilter {
  pool?: string;
  subjectId?: string;
}

export interface AnalyticsStore {
  /** Every key seen in [fromMs, untilMs) with its usage in buckets of `bucketSeconds`. */
  readKeySeries(fromMs: number, untilMs: number, bucketSeconds: number): Promise<KeySeries[]>;
  /** Usage per key in [fromMs, untilMs), one row per key (t = fromMs). */
  readUsageTotals(fromMs: number, untilMs: number): Promise<UsageBucketRow[]>;
  readProviderLimits(): Promise<ProviderLimitRow[]>;
  readThrottling(sinceMs: number): Promise<ThrottlingRow[]>;
  writeForecasts(rows: readonly ForecastRow[]): Promise<void>;
  writeAlertEvents(rows: readonly AlertEventRow[]): Promise<void>;
  /** The latest event of every alert that is not resolved, or whose resolution was not delivered. */
  readOpenAlerts(): Promise<AlertEventRow[]>;
  /** Alert events, newest first. */
  readAlertHistory(limit: number, filter?: AlertHistoryFilter): Promise<AlertEventRow[]>;
  /** One key's calls by outcome in buckets of `bucketSeconds` over [fromMs, untilMs). */
  readOutcomes(
    pool: string,
    keyId: string,
    fromMs: number,
    untilMs: number,
    bucketSeconds: number,
  ): Promise<OutcomeBucketRow[]>;
  /** Every advice version of a pool generated since `sinceMs`, oldest first. */
  readAdviceHistory(pool: string, sinceMs: number): Promise<AdviceRow[]>;
  writeAdvice(rows: readonly AdviceRow[]): Promise<void>;
  /**
   * Per key: calls and throttled calls since `throttlingSinceMs`, auth errors and the last success
   * since `healthSinceMs`.
   */
  readOutcomeCounts(throttlingSinceMs: number, healthSinceMs: number): Promise<OutcomeCountRow[]>;
  writeNotifications(rows: readonly NotificationRow[]): Promise<void>;
  /** The latest `sent` row of every notification key, or of `key` only. */
  readLatestNotifications(key?: string): Promise<NotificationRow[]>;
  /**
   * Who claimed delivery `seq` of notification `key` first, among claims (rows with outcome
   * `claimed`, the owner in `error`) recorded since `sinceMs`; undefined when none.
   */
  readNotificationClaim(key: string, seq: number, sinceMs: number): Promise<string | undefined>;
  /** Writes a silence, or a new version of one (expiring it). */
  writeSilence(row: SilenceRow): Promise<void>;
  /** Every silence, latest version each, newest first. */
  readSilences(): Promise<SilenceRow[]>;
  /** The newest advice version of every pool. */
  readLatestAdvice(): Promise<AdviceRow[]>;
}

const USAGE_COLUMNS = `toUInt64(sum(requests)) AS requests, toUInt64(sum(input_tokens)) AS input_tokens,
  toUInt64(sum(output_tokens)) AS output_tokens, sum(cost_usd) AS cost_usd`;

const ALERT_COLUMNS = `toUnixTimestamp64Milli(at) AS at, alert_id, rule, severity, state, pool, subject_kind, subject_id,
  quota_id, summary, details, toUnixTimestamp64Milli(started_at) AS started_at, channel, message_ts, notified,
  toUnixTimestamp64Milli(fired_at) AS fired_at, partition`;

const NOTIFICATION_COLUMNS = `group_key, receiver, seq, kind, status, outcome, error, content_hash, message_ref, alerts,
  group_labels, toUnixTimestamp64Milli(first_sent_at) AS first_sent_at, toUnixTimestamp64Milli(last_sent_at) AS last_sent_at,
  toUnixTimestamp64Milli(recorded_at) AS recorded_at`;

function numbers<T>(rows: Array<Record<string, unknown>>, fields: readonly string[]): T[] {
  for (const row of rows) {
    for (const field of fields) {
      const value = row[field];
      if (typeof value === 'string') row[field] = Number(value);
    }
  }
  return rows as T[];
}

export function createAnalyticsStore(
  database: string,
  queryRows: <T>(sql: string, params?: QueryParams) => Promise<T[]>,
  insertJson: (table: string, rows: readonly object[]) => Promise<void>,
): AnalyticsStore {
  const usageFields = ['t', 'requests', 'input_tokens', 'output_tokens', 'cost_usd'] as const;
  const alertFields = ['at', 'started_at', 'notified', 'fired_at'] as const;
  const notificationFields = ['seq', 'first_sent_at', 'last_sent_at', 'recorded_at'] as const;
  return {
    async readKeySeries(fromMs, untilMs, bucketSeconds) {
      const rows = await queryRows<{
        pool: string;
        key_id: string;
        partition: string;
        provider: string;
        last_seen: number;
        b: Array<[number, number, number, number, number]>;
      }>(
        `SELECT pool, key_id, argMax(partition, t) AS partition, argMax(provider, t) AS provider, max(t) AS last_seen,
                arraySort(x -> x.1, groupArray((t, r, i, o, c))) AS b
         FROM (
           SELECT pool, key_id, any(partition) AS partition, any(provider) AS provider,
                  toUInt32(toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond({bucket:UInt32})))) AS t,
                  toFloat64(sum(requests)) AS r, toFloat64(sum(input_tokens)) AS i,
                  toFloat64(sum(output_tokens)) AS o, sum(cost_usd) AS c
           FROM ${database}.usage_minute
           WHERE minute >= toDateTime(intDiv({from:UInt64}, 1000)) AND minute < toDateTime(intDiv({until:UInt64}, 1000))
           GROUP BY pool, key_id, t
         )
         GROUP BY pool, key_id`,
        { from: fromMs, until: untilMs, bucket: bucketSeconds },
      );
      return rows.map((row) => {
        const n = row.b.length;
        const series: KeySeries = {
          pool: row.pool,
          key_id: row.key_id,
          partition: row.partition,
          provider: row.provider,
          last_seen_ms: Number(row.last_seen) * 1000,
          t: new Array<number>(n),
          requests: new Array<number>(n),
          input_tokens: new Array<number>(n),
          output_tokens: new Array<number>(n),
          cost_usd: new Array<number>(n),
        };
        for (let i = 0; i < n; i++) {
          const [t, r, inTokens, outTokens, cost] = row.b[i] as [number, number, number, number, number];
          series.t[i] = t * 1000;
          series.requests[i] = r;
          series.input_tokens[i] = inTokens;
          series.output_tokens[i] = outTokens;
          series.cost_usd[i] = cost;
        }
        return series;
      });
    },
    async readUsageTotals(fromMs, untilMs) {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT pool, key_id, {from:UInt64} AS t, ${USAGE_COLUMNS}
         FROM ${database}.usage_minute
         WHERE minute >= toDateTime(intDiv({from:UInt64}, 1000)) AND minute < toDateTime(intDiv({until:UInt64}, 1000))
         GROUP BY pool, key_id`,
        { from: fromMs, until: untilMs },
      );
      return numbers<UsageBucketRow>(rows, usageFields);
    },
    async readProviderLimits() {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT pool, key_id, partition, dimension, limit, remaining,
                toUnixTimestamp64Milli(reset_at) AS reset_at_ms, toUnixTimestamp64Milli(observed_at) AS observed_at_ms
         FROM ${database}.ratelimit_latest`,
      );
      return numbers<ProviderLimitRow>(rows, ['limit', 'remaining', 'reset_at_ms', 'observed_at_ms']);
    },
    async readThrottling(sinceMs) {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT pool, key_id, countIf(outcome = 'rate_limited') AS rate_limited,
                countIf(outcome = 'quota_exhausted') AS quota_exhausted,
                max(if(outcome IN ('rate_limited', 'quota_exhausted', 'overloaded') AND retry_after_ms IS NOT NULL,
                       toUnixTimestamp64Milli(timestamp) + assumeNotNull(retry_after_ms), 0)) AS cooldown_until_ms,
                max(if(outcome = 'quota_exhausted', toUnixTimestamp64Milli(timestamp), 0)) AS last_quota_exhausted_ms,
                max(if(outcome = 'auth_error', toUnixTimestamp64Milli(timestamp), 0)) AS last_auth_error_ms
         FROM ${database}.api_calls
         WHERE timestamp >= fromUnixTimestamp64Milli({since:Int64})
           AND outcome IN ('rate_limited', 'quota_exhausted', 'overloaded', 'auth_error')
         GROUP BY pool, key_id`,
        { since: sinceMs },
      );
      return numbers<ThrottlingRow>(rows, [
        'rate_limited',
        'quota_exhausted',
        'cooldown_until_ms',
        'last_quota_exhausted_ms',
        'last_auth_error_ms',
      ]);
    },
    writeForecasts: (rows) => insertJson(`${database}.forecasts`, rows),
    writeAlertEvents: (rows) => insertJson(`${database}.alerts`, rows),
    async readOpenAlerts() {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT ${ALERT_COLUMNS} FROM (
           SELECT * FROM ${database}.alerts ORDER BY at DESC LIMIT 1 BY alert_id
         ) WHERE state != 'resolved' ORDER BY at`,
      );
      return numbers<AlertEventRow>(rows, alertFields);
    },
    async readAlertHistory(limit, filter = {}) {
      const where = [
        ...(filter.pool === undefined ? [] : ['pool = {pool:String}']),
        ...(filter.subjectId === undefined ? [] : ['subject_id = {subject:String}']),
      ];
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT ${ALERT_COLUMNS} FROM ${database}.alerts
         ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
         ORDER BY at DESC LIMIT {limit:UInt32}`,
        { limit, pool: filter.pool ?? '', subject: filter.subjectId ?? '' },
      );
      return numbers<AlertEventRow>(rows, alertFields);
    },
    async readOutcomes(pool, keyId, fromMs, untilMs, bucketSeconds) {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT toUnixTimestamp(toStartOfInterval(minute, toIntervalSecond({bucket:UInt32}))) * 1000 AS t,
                sum(u.ok) AS ok, sum(u.rate_limited) AS rate_limited, sum(u.quota_exhausted) AS quota_exhausted,
                toInt64(sum(u.requests)) - toInt64(sum(u.ok)) - toInt64(sum(u.rate_limited))
                  - toInt64(sum(u.quota_exhausted)) AS other
         FROM ${database}.usage_minute AS u
         WHERE pool = {pool:String} AND key_id = {key:String}
           AND minute >= toDateTime(intDiv({from:UInt64}, 1000)) AND minute < toDateTime(intDiv({until:UInt64}, 1000))
         GROUP BY t ORDER BY t`,
        { pool, key: keyId, from: fromMs, until: untilMs, bucket: bucketSeconds },
      );
      return numbers<OutcomeBucketRow>(rows, ['t', 'ok', 'rate_limited', 'quota_exhausted', 'other']);
    },
    async readAdviceHistory(pool, sinceMs) {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT toUnixTimestamp64Milli(generated_at) AS generated_at, toUnixTimestamp64Milli(valid_until) AS valid_until,
                pool, version, key_id, weight, state, toUnixTimestamp64Milli(until) AS until, reason
         FROM ${database}.advice
         WHERE pool = {pool:String} AND generated_at >= fromUnixTimestamp64Milli({since:Int64})
         ORDER BY version, key_id`,
        { pool, since: sinceMs },
      );
      return numbers<AdviceRow>(rows, ['generated_at', 'valid_until', 'version', 'until']);
    },
    writeAdvice: (rows) => insertJson(`${database}.advice`, rows),
    async readOutcomeCounts(throttlingSinceMs, healthSinceMs) {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT pool, key_id, argMax(partition, timestamp) AS partition,
                countIf(timestamp >= fromUnixTimestamp64Milli({throttling:Int64})) AS calls,
                countIf(outcome = 'rate_limited' AND timestamp >= fromUnixTimestamp64Milli({throttling:Int64})) AS rate_limited,
                countIf(outcome = 'quota_exhausted' AND timestamp >= fromUnixTimestamp64Milli({throttling:Int64})) AS quota_exhausted,
                countIf(outcome = 'auth_error') AS auth_errors,
                max(if(outcome = 'auth_error', toUnixTimestamp64Milli(timestamp), 0)) AS last_auth_error_ms,
                max(if(outcome = 'ok', toUnixTimestamp64Milli(timestamp), 0)) AS last_ok_ms
         FROM ${database}.api_calls
         WHERE timestamp >= fromUnixTimestamp64Milli(least({throttling:Int64}, {health:Int64}))
         GROUP BY pool, key_id`,
        { throttling: throttlingSinceMs, health: healthSinceMs },
      );
      return numbers<OutcomeCountRow>(rows, [
        'calls',
        'rate_limited',
        'quota_exhausted',
        'auth_errors',
        'last_auth_error_ms',
        'last_ok_ms',
      ]);
    },
    writeNotifications: (rows) => insertJson(`${database}.notifications`, rows),
    async readLatestNotifications(key) {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT ${NOTIFICATION_COLUMNS} FROM ${database}.notifications
         WHERE outcome = 'sent' ${key === undefined ? '' : 'AND group_key = {key:String}'}
         ORDER BY seq DESC, recorded_at DESC LIMIT 1 BY group_key`,
        key === undefined ? {} : { key },
      );
      return numbers<NotificationRow>(rows, notificationFields);
    },
    async readNotificationClaim(key, seq, sinceMs) {
      const rows = await queryRows<{ owner: string }>(
        `SELECT error AS owner FROM ${database}.notifications
         WHERE group_key = {key:String} AND seq = {seq:UInt64} AND outcome = 'claimed'
           AND recorded_at >= fromUnixTimestamp64Milli({since:Int64})
         ORDER BY recorded_at, error LIMIT 1`,
        { key, seq, since: sinceMs },
      );
      return rows[0]?.owner;
    },
    writeSilence: (row) => insertJson(`${database}.silences`, [row]),
    async readSilences() {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT id, matchers, toUnixTimestamp64Milli(starts_at) AS starts_at, toUnixTimestamp64Milli(ends_at) AS ends_at,
                created_by, comment, toUnixTimestamp64Milli(updated_at) AS updated_at
         FROM ${database}.silences FINAL ORDER BY starts_at DESC, id`,
      );
      return numbers<SilenceRow>(rows, ['starts_at', 'ends_at', 'updated_at']);
    },
    async readLatestAdvice() {
      const rows = await queryRows<Record<string, unknown>>(
        `SELECT toUnixTimestamp64Milli(generated_at) AS generated_at, toUnixTimestamp64Milli(valid_until) AS valid_until,
                pool, version, key_id, weight, state, toUnixTimestamp64Milli(until) AS until, reason
         FROM ${database}.advice
         WHERE (pool, version) IN (SELECT pool, max(version) FROM ${database}.advice GROUP BY pool)
         ORDER BY pool, key_id`,
      );
      return numbers<AdviceRow>(rows, ['generated_at', 'valid_until', 'version', 'until']);
    },
  };
}
