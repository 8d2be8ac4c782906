-- Stored scorecard scores (issue #3; docs/scorecard.md): `sqm scorecard --save` writes one row
-- per (period, goal, entity, indicator) with the indicator's value, count, target, weight,
-- score and status next to the entity's goal score and coverage, and the policy version that
-- set the targets. Saving the same period, goal and entity again replaces its rows (the latest
-- `computed_at` wins under FINAL). Statements end with `;` at the end of a line.

CREATE TABLE IF NOT EXISTS sqm.scorecard_scores
(
    period_start    DateTime64(3, 'UTC'),
    period_end      DateTime64(3, 'UTC'),
    goal            LowCardinality(String),
    entity_kind     LowCardinality(String),
    tenant_id       String,
    entity          String,
    indicator       LowCardinality(String),
    dimension       LowCardinality(String),
    value           Nullable(Float64),
    n               UInt32,
    target          Float64,
    weight          Float64,
    indicator_score Nullable(Float64),
    status          LowCardinality(String),
    score           Nullable(Float64),
    coverage        Float64,
    fcr_provisional UInt32,
    policy_version  LowCardinality(String),
    computed_at     DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (tenant_id, entity_kind, goal, period_start, period_end, entity, indicator);
