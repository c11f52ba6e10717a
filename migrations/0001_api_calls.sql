-- One row per upstream API call (one OTLP span). Every attribute of the span contract has a typed column.
-- Provider-reported values are Nullable: "not reported" must stay distinguishable from zero.
CREATE TABLE IF NOT EXISTS {{database}}.api_calls
(
    timestamp DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    ingested_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_ms Float64,
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    span_name LowCardinality(String),
    service_name LowCardinality(String),
    gateway_node LowCardinality(String),
    pool LowCardinality(String),
    key_id LowCardinality(String),
    partition LowCardinality(String),
    consumer LowCardinality(String),
    provider LowCardinality(String),
    operation LowCardinality(String),
    request_model LowCardinality(String),
    response_model LowCardinality(String),
    server_address LowCardinality(String),
    status_code UInt16,
    error_type LowCardinality(String),
    outcome LowCardinality(String),
    input_tokens UInt64,
    output_tokens UInt64,
    cached_input_tokens UInt64,
    cost_usd Nullable(Float64),
    retry_after_ms Nullable(UInt64),
    rl_requests_limit Nullable(UInt64),
    rl_requests_remaining Nullable(UInt64),
    rl_requests_reset_at Nullable(DateTime64(3, 'UTC')),
    rl_tokens_limit Nullable(UInt64),
    rl_tokens_remaining Nullable(UInt64),
    rl_tokens_reset_at Nullable(DateTime64(3, 'UTC')),
    rl_input_tokens_limit Nullable(UInt64),
    rl_input_tokens_remaining Nullable(UInt64),
    rl_input_tokens_reset_at Nullable(DateTime64(3, 'UTC')),
    rl_output_tokens_limit Nullable(UInt64),
    rl_output_tokens_remaining Nullable(UInt64),
    rl_output_tokens_reset_at Nullable(DateTime64(3, 'UTC')),
    -- Digest of the OTLP request the span arrived in: a retried request is recognised and not counted twice.
    request_digest String CODEC(ZSTD(1)),
    INDEX idx_request_digest request_digest TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toDate(timestamp)
ORDER BY (pool, key_id, timestamp)
TTL toDateTime(timestamp) + INTERVAL 30 DAY;
