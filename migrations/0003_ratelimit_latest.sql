-- The latest provider-reported limit, remaining and reset per (pool, key, dimension): the ground truth
-- for provider-reported token buckets. A view over the per-minute rollup's argMax states rather than a
-- table of its own, so that ingest maintains one materialized view instead of two. Each value is the
-- latest one reported (a 429 that carries only `remaining` does not erase the known limit).
-- Observations older than two days are stale for every provider bucket and are not read.
CREATE VIEW IF NOT EXISTS {{database}}.ratelimit_latest AS
SELECT
    pool,
    key_id,
    partition,
    provider,
    dim.1 AS dimension,
    observed_at,
    dim.2 AS limit,
    dim.3 AS remaining,
    dim.4 AS reset_at
FROM
(
    SELECT
        pool,
        key_id,
        argMax(partition, minute) AS partition,
        argMax(provider, minute) AS provider,
        max(rl_observed_at) AS observed_at,
        argMaxMerge(rl_requests_limit) AS requests_limit,
        argMaxMerge(rl_requests_remaining) AS requests_remaining,
        argMaxMerge(rl_requests_reset_at) AS requests_reset_at,
        argMaxMerge(rl_tokens_limit) AS tokens_limit,
        argMaxMerge(rl_tokens_remaining) AS tokens_remaining,
        argMaxMerge(rl_tokens_reset_at) AS tokens_reset_at,
        argMaxMerge(rl_input_tokens_limit) AS input_tokens_limit,
        argMaxMerge(rl_input_tokens_remaining) AS input_tokens_remaining,
        argMaxMerge(rl_input_tokens_reset_at) AS input_tokens_reset_at,
        argMaxMerge(rl_output_tokens_limit) AS output_tokens_limit,
        argMaxMerge(rl_output_tokens_remaining) AS output_tokens_remaining,
        argMaxMerge(rl_output_tokens_reset_at) AS output_tokens_reset_at
    FROM {{database}}.usage_minute
    WHERE minute >= toStartOfHour(now() - INTERVAL 2 DAY) AND rl_observed_at IS NOT NULL
    GROUP BY pool, key_id
)
ARRAY JOIN [
    ('requests', requests_limit, requests_remaining, requests_reset_at),
    ('tokens', tokens_limit, tokens_remaining, tokens_reset_at),
    ('input_tokens', input_tokens_limit, input_tokens_remaining, input_tokens_reset_at),
    ('output_tokens', output_tokens_limit, output_tokens_remaining, output_tokens_reset_at)
] AS dim
WHERE dim.2 IS NOT NULL OR dim.3 IS NOT NULL;
