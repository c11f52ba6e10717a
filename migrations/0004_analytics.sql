-- What each analytics cycle decided, so that Grafana can show it and a restart resumes where it left off.

-- One row per (cycle, subject, quota): usage, limit and the exhaustion forecast.
CREATE TABLE IF NOT EXISTS {{database}}.forecasts
(
    evaluated_at DateTime64(3, 'UTC'),
    pool LowCardinality(String),
    subject_kind LowCardinality(String),
    subject_id String,
    quota_id LowCardinality(String),
    dimension LowCardinality(String),
    window_kind LowCardinality(String),
    window_start DateTime64(3, 'UTC'),
    reset_at DateTime64(3, 'UTC'),
    used Float64,
    limit Float64,
    remaining Float64,
    eta_p10 Nullable(DateTime64(3, 'UTC')),
    eta_p50 Nullable(DateTime64(3, 'UTC')),
    eta_p90 Nullable(DateTime64(3, 'UTC')),
    p_exhaust Float64,
    status LowCardinality(String),
    method LowCardinality(String),
    source LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toDate(evaluated_at)
ORDER BY (pool, subject_kind, subject_id, quota_id, evaluated_at)
TTL toDateTime(evaluated_at) + INTERVAL 90 DAY;

-- Alert state transitions and the notifications sent for them. The latest row per alert_id is its state.
CREATE TABLE IF NOT EXISTS {{database}}.alerts
(
    at DateTime64(3, 'UTC'),
    alert_id String,
    rule LowCardinality(String),
    severity LowCardinality(String),
    state LowCardinality(String),
    pool LowCardinality(String),
    subject_kind LowCardinality(String),
    subject_id String,
    quota_id LowCardinality(String),
    summary String,
    details String,
    started_at DateTime64(3, 'UTC'),
    channel String,
    message_ts String,
    notified UInt8
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at)
TTL toDateTime(at) + INTERVAL 400 DAY;

-- Rebalance advice per cycle: one row per (pool, version, key).
CREATE TABLE IF NOT EXISTS {{database}}.advice
(
    generated_at DateTime64(3, 'UTC'),
    valid_until DateTime64(3, 'UTC'),
    pool LowCardinality(String),
    version UInt64,
    key_id String,
    weight Float64,
    state LowCardinality(String),
    until Nullable(DateTime64(3, 'UTC')),
    reason String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(generated_at)
ORDER BY (pool, version, key_id)
TTL toDateTime(generated_at) + INTERVAL 90 DAY;
