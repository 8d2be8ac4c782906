-- Alerts raised by the pipeline (issue #4): one row per alert, the latest state wins.
-- Written like every other table: absolute rows, a higher `version` for every change of an alert
-- (firing -> acknowledged -> resolved), read with FINAL. Statements end with `;` at the end of a
-- line (sinks/migrations.py splits on that). See docs/dashboards.md for the boards reading it.

CREATE TABLE IF NOT EXISTS sqm.alerts
(
    alert_id   String,                  -- stable id: the same alert keeps it across state changes
    rule_id    String,
    kind       LowCardinality(String),  -- breach | at_risk | anomaly
    severity   LowCardinality(String),  -- warning | critical
    state      LowCardinality(String),  -- firing | resolved | acknowledged
    metric     LowCardinality(String),
    tenant_id  String,                  -- scope, '' = any (not scoped to one)
    channel    String,
    queue      String,
    priority   String,
    agent_id   String,
    contact_id Nullable(String),        -- set when the alert is about one contact
    value      Float64,                 -- the metric's value that triggered (or last evaluated)
    threshold  Float64,
    started_at DateTime64(3, 'UTC'),
    ended_at   Nullable(DateTime64(3, 'UTC')),  -- NULL while not resolved
    message    String,
    version    UInt64,
    updated_at DateTime64(3, 'UTC')     -- wall-clock time of the write (diagnostic only)
)
ENGINE = ReplacingMergeTree(version)
-- started_at never changes for an alert, so all its versions share a partition and FINAL
-- collapses them (FINAL works within a partition).
PARTITION BY toYYYYMM(started_at)
ORDER BY alert_id;
