-- Per-minute usage per (pool, key, partition, provider, model), kept by a materialized view on api_calls.
-- Sums are SimpleAggregateFunction(sum); the latest provider-reported limits are argMax states on the
-- call timestamp (argMax skips NULLs, so a call without headers does not erase the last known value).
CREATE TABLE IF NOT EXISTS {{database}}.usage_minute
(
    minute DateTime('UTC'),
    pool LowCardinality(String),
    key_id LowCardinality(String),
    partition LowCardinality(String),
    provider LowCardinality(String),
    model LowCardinality(String),
    requests SimpleAggregateFunction(sum, UInt64),
    input_tokens SimpleAggregateFunction(sum, UInt64),
    output_tokens SimpleAggregateFunction(sum, UInt64),
    cached_input_tokens SimpleAggregateFunction(sum, UInt64),
    cost_usd SimpleAggregateFunction(sum, Float64),
    ok SimpleAggregateFunction(sum, UInt64),
    rate_limited SimpleAggregateFunction(sum, UInt64),
    quota_exhausted SimpleAggregateFunction(sum, UInt64),
    overloaded SimpleAggregateFunction(sum, UInt64),
    auth_error SimpleAggregateFunction(sum, UInt64),
    client_error SimpleAggregateFunction(sum, UInt64),
    upstream_error SimpleAggregateFunction(sum, UInt64),
    timeout SimpleAggregateFunction(sum, UInt64),
    rl_requests_limit AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_requests_remaining AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_requests_reset_at AggregateFunction(argMax, Nullable(DateTime64(3, 'UTC')), DateTime64(3, 'UTC')),
    rl_tokens_limit AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_tokens_remaining AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_tokens_reset_at AggregateFunction(argMax, Nullable(DateTime64(3, 'UTC')), DateTime64(3, 'UTC')),
    rl_input_tokens_limit AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_input_tokens_remaining AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_input_tokens_reset_at AggregateFunction(argMax, Nullable(DateTime64(3, 'UTC')), DateTime64(3, 'UTC')),
    rl_output_tokens_limit AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_output_tokens_remaining AggregateFunction(argMax, Nullable(UInt64), DateTime64(3, 'UTC')),
    rl_output_tokens_reset_at AggregateFunction(argMax, Nullable(DateTime64(3, 'UTC')), DateTime64(3, 'UTC')),
    -- When a call of this minute last reported any provider limit.
    rl_observed_at SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC')))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
-- Hour first: the analytics cycle reads the last minutes of every key, and dashboards read a time
-- range; both prune by the primary key. The full column set still defines what merges together.
ORDER BY (toStartOfHour(minute), pool, key_id, partition, provider, model, minute)
TTL minute + INTERVAL 400 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.usage_minute_mv TO {{database}}.usage_minute AS
SELECT
    toStartOfMinute(timestamp) AS minute,
    pool,
    key_id,
    partition,
    provider,
    if(response_model != '', response_model, request_model) AS model,
    count() AS requests,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cached_input_tokens) AS cached_input_tokens,
    sum(ifNull(cost_usd, 0)) AS cost_usd,
    countIf(outcome = 'ok') AS ok,
    countIf(outcome = 'rate_limited') AS rate_limited,
    countIf(outcome = 'quota_exhausted') AS quota_exhausted,
    countIf(outcome = 'overloaded') AS overloaded,
    countIf(outcome = 'auth_error') AS auth_error,
    countIf(outcome = 'client_error') AS client_error,
    countIf(outcome = 'upstream_error') AS upstream_error,
    countIf(outcome = 'timeout') AS timeout,
    argMaxState(rl_requests_limit, timestamp) AS rl_requests_limit,
    argMaxState(rl_requests_remaining, timestamp) AS rl_requests_remaining,
    argMaxState(rl_requests_reset_at, timestamp) AS rl_requests_reset_at,
    argMaxState(rl_tokens_limit, timestamp) AS rl_tokens_limit,
    argMaxState(rl_tokens_remaining, timestamp) AS rl_tokens_remaining,
    argMaxState(rl_tokens_reset_at, timestamp) AS rl_tokens_reset_at,
    argMaxState(rl_input_tokens_limit, timestamp) AS rl_input_tokens_limit,
    argMaxState(rl_input_tokens_remaining, timestamp) AS rl_input_tokens_remaining,
    argMaxState(rl_input_tokens_reset_at, timestamp) AS rl_input_tokens_reset_at,
    argMaxState(rl_output_tokens_limit, timestamp) AS rl_output_tokens_limit,
    argMaxState(rl_output_tokens_remaining, timestamp) AS rl_output_tokens_remaining,
    argMaxState(rl_output_tokens_reset_at, timestamp) AS rl_output_tokens_reset_at,
    maxIf(toNullable(timestamp), reports_limits) AS rl_observed_at
FROM
(
    -- Computed before the aggregates above take the column names as aliases.
    SELECT
        *,
        rl_requests_limit IS NOT NULL OR rl_requests_remaining IS NOT NULL
            OR rl_tokens_limit IS NOT NULL OR rl_tokens_remaining IS NOT NULL
            OR rl_input_tokens_limit IS NOT NULL OR rl_input_tokens_remaining IS NOT NULL
            OR rl_output_tokens_limit IS NOT NULL OR rl_output_tokens_remaining IS NOT NULL AS reports_limits
    FROM {{database}}.api_calls
)
GROUP BY minute, pool, key_id, partition, provider, model;
