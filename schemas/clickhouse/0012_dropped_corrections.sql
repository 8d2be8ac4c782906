-- Corrections the customer stage could not apply (docs/metrics.md, "Nothing dropped without a
-- trace"): a contact's change moved counts in a one-minute window that was evicted from the
-- shard's state and could not be read back from sqm.sla_1m. One row per (shard, input message,
-- window) with the signed change of each counter, so `sla_1m_total` plus the sum of these rows
-- is what the window would hold. A replayed message writes the same key: FINAL keeps one.
-- Statements end with `;` at the end of a line.

CREATE TABLE IF NOT EXISTS sqm.dropped_corrections
(
    window_start    DateTime('UTC'),
    tenant_id       String,
    channel         LowCardinality(String),
    queue           String,
    priority        LowCardinality(String),
    shard           UInt16,
    source_offset   UInt64,
    offered         Int32,
    answered        Int32,
    answered_in_sla Int32,
    wait_s_sum      Decimal(18, 3),
    abandoned       Int32,
    short_abandoned Int32,
    created         Int32,
    repeat_contacts Int32,
    sl_met          Int32,
    sl_missed       Int32,
    csat_count      Int32,
    csat_sum        Int32,
    csat_good       Int32,
    recorded_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (shard, source_offset, tenant_id, channel, queue, priority, window_start);
