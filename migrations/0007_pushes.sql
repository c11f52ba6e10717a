-- Every push of advice to a gateway: what was sent where, how it ended, how long it took.
-- The latest row per (pool, target) is the target's state shown by GET /v1/pools.
CREATE TABLE IF NOT EXISTS {{database}}.pushes
(
    at DateTime64(3, 'UTC'),
    pool LowCardinality(String),
    target LowCardinality(String),
    target_type LowCardinality(String),
    advice_version UInt64,
    trigger LowCardinality(String),
    outcome LowCardinality(String),
    error String,
    attempts UInt16,
    duration_ms UInt32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (pool, target, at)
TTL toDateTime(at) + INTERVAL 90 DAY;
