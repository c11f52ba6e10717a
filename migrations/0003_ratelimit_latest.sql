-- The latest provider-reported limit per (pool, key, dimension): the ground truth for provider-reported
-- token buckets. ReplacingMergeTree keeps the newest observation; read with FINAL or argMax.
CREATE TABLE IF NOT EXISTS {{database}}.ratelimit_latest
(
    pool LowCardinality(String),
    key_id LowCardinality(String),
    partition LowCardinality(String),
    provider LowCardinality(String),
    dimension LowCardinality(String),
    observed_at DateTime64(3, 'UTC'),
    limit Nullable(UInt64),
    remaining Nullable(UInt64),
    reset_at Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree(observed_at)
ORDER BY (pool, key_id, dimension);

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.ratelimit_latest_mv TO {{database}}.ratelimit_latest AS
SELECT
    pool,
    key_id,
    any(partition) AS partition,
    any(provider) AS provider,
    dim.1 AS dimension,
    max(timestamp) AS observed_at,
    -- One call's values together: limit and remaining must come from the same response.
    argMax(dim, timestamp).2 AS limit,
    argMax(dim, timestamp).3 AS remaining,
    argMax(dim, timestamp).4 AS reset_at
FROM {{database}}.api_calls
ARRAY JOIN [
    ('requests', rl_requests_limit, rl_requests_remaining, rl_requests_reset_at),
    ('tokens', rl_tokens_limit, rl_tokens_remaining, rl_tokens_reset_at),
    ('input_tokens', rl_input_tokens_limit, rl_input_tokens_remaining, rl_input_tokens_reset_at),
    ('output_tokens', rl_output_tokens_limit, rl_output_tokens_remaining, rl_output_tokens_reset_at)
] AS dim
WHERE dim.2 IS NOT NULL OR dim.3 IS NOT NULL
GROUP BY pool, key_id, dimension;
