-- Initial schema of the `sqm` database. Every statement is idempotent (IF NOT EXISTS), so two
-- processes migrating at once, or a run interrupted half-way, converge on the same schema.
-- Statements end with `;` at the end of a line (sinks/migrations.py splits on that).
-- All tables are ReplacingMergeTree and are written with absolute values, never increments:
-- a replayed insert is harmless and `SELECT ... FINAL` is exact. See docs/schema.md.

CREATE DATABASE IF NOT EXISTS sqm;

-- Bookkeeping of sinks/migrations.py. Two processes may both record a version; FINAL keeps one.
CREATE TABLE IF NOT EXISTS sqm.schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY version;

-- Every valid event as received. A replay writes the same key (the partition key, occurred_at,
-- is part of the event), so FINAL keeps one row per event_id.
CREATE TABLE IF NOT EXISTS sqm.events
(
    event_id    String,
    type        LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    tenant_id   String,
    contact_id  String,
    customer_id String,
    channel     LowCardinality(String),
    queue       Nullable(String),
    agent_id    Nullable(String),
    sender      LowCardinality(Nullable(String)),
    raw         String,
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id);

-- One row per contact; the row with the highest `version` wins. Not partitioned: no column that
-- is stable for the life of a contact is time-like (first_event_at can move earlier when a late
-- event arrives), and FINAL only collapses rows within one partition.
CREATE TABLE IF NOT EXISTS sqm.contacts
(
    tenant_id            String,
    contact_id           String,
    customer_id          String,
    channel              LowCardinality(String),
    queue                String,
    priority             LowCardinality(String),
    order_id             Nullable(String),
    topic                Nullable(String),
    created_at           Nullable(DateTime64(3, 'UTC')),
    queued_at            Nullable(DateTime64(3, 'UTC')),
    answered_at          Nullable(DateTime64(3, 'UTC')),
    first_agent_id       Nullable(String),
    abandoned_at         Nullable(DateTime64(3, 'UTC')),
    wait_s               Nullable(Decimal(18, 3)),
    sla_target_s         UInt32,
    answered_in_sla      Nullable(Bool),
    is_abandoned         Bool,
    is_short_abandon     Bool,
    is_repeat            Bool,
    resolved_at          Nullable(DateTime64(3, 'UTC')),
    resolved_by          LowCardinality(Nullable(String)),
    bot_contained        Bool,
    transferred_to_human Bool,
    csat                 Nullable(UInt8),
    nps                  Nullable(UInt8),
    first_event_at       DateTime64(3, 'UTC'),
    last_event_at        DateTime64(3, 'UTC'),
    event_count          UInt32,
    version              UInt64,
    updated_at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, contact_id);

-- One-minute UTC windows. Each pipeline shard writes its own partial totals (absolute values,
-- latest `version` wins); the total of a window is the sum over `shard` of the FINAL rows.
CREATE TABLE IF NOT EXISTS sqm.sla_1m
(
    window_start    DateTime('UTC'),
    tenant_id       String,
    channel         LowCardinality(String),
    queue           String,
    priority        LowCardinality(String),
    shard           UInt16,
    offered         UInt32,
    answered        UInt32,
    answered_in_sla UInt32,
    wait_s_sum      Decimal(18, 3),
    abandoned       UInt32,
    short_abandoned UInt32,
    created         UInt32,
    repeat_contacts UInt32,
    version         UInt64,
    updated_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (tenant_id, channel, queue, priority, window_start, shard);

-- Every rejected input (stage `ingest`: unparsable or invalid; stage `late`: behind the watermark).
CREATE TABLE IF NOT EXISTS sqm.dead_letters
(
    dl_id         String,
    received_at   DateTime64(3, 'UTC'),
    stage         LowCardinality(String),
    reason        String,
    topic         String,
    partition     Int32,
    offset        Int64,
    event_id      Nullable(String),
    tenant_id     Nullable(String),
    raw           String,
    raw_truncated Bool
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY dl_id;

-- Shard-summed one-minute totals for analysts: FINAL and the sum over shards done once, here.
CREATE VIEW IF NOT EXISTS sqm.sla_1m_total AS
SELECT
    window_start,
    tenant_id,
    channel,
    queue,
    priority,
    sum(offered)         AS offered,
    sum(answered)        AS answered,
    sum(answered_in_sla) AS answered_in_sla,
    sum(wait_s_sum)      AS wait_s_sum,
    sum(abandoned)       AS abandoned,
    sum(short_abandoned) AS short_abandoned,
    sum(created)         AS created,
    sum(repeat_contacts) AS repeat_contacts,
    max(updated_at)      AS updated_at
FROM sqm.sla_1m FINAL
GROUP BY window_start, tenant_id, channel, queue, priority;
