-- Alerting like Alertmanager: what was sent to which receiver per notification group, silences, and
-- the alert facts the pipeline needs after a restart.

-- One row per delivery attempt of a notification group to a receiver. The latest `sent` row per
-- group_key is what the receiver shows: its content hash, message reference (e.g. Slack channel and
-- ts, PagerDuty dedup key) and last_sent_at, so that repeat_interval holds across restarts and
-- instances, and nothing is sent twice.
CREATE TABLE IF NOT EXISTS {{database}}.notifications
(
    group_key String,
    receiver LowCardinality(String),
    seq UInt64,
    kind LowCardinality(String),
    status LowCardinality(String),
    outcome LowCardinality(String),
    error String,
    content_hash String,
    message_ref String,
    alerts String,
    group_labels String,
    first_sent_at DateTime64(3, 'UTC'),
    last_sent_at DateTime64(3, 'UTC'),
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(recorded_at)
ORDER BY (group_key, seq, recorded_at)
TTL toDateTime(recorded_at) + INTERVAL 400 DAY;

-- Silences, shaped like Alertmanager's API v2. Expiring one writes a new version with ends_at = now.
CREATE TABLE IF NOT EXISTS {{database}}.silences
(
    id String,
    matchers String,
    starts_at DateTime64(3, 'UTC'),
    ends_at DateTime64(3, 'UTC'),
    created_by String,
    comment String,
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

-- When an alert started firing (group_wait counts from it) and the partition of a key, for inhibition.
ALTER TABLE {{database}}.alerts ADD COLUMN IF NOT EXISTS fired_at Nullable(DateTime64(3, 'UTC'));

ALTER TABLE {{database}}.alerts ADD COLUMN IF NOT EXISTS partition String DEFAULT '';
