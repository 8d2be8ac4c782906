-- Distributions, not only means (issue #3): exact p50/p90 of first-response waits and of final
-- resolution times per window, from sqm.contacts FINAL (recomputed on read, so late events,
-- duplicates and replays can never skew them). Quantiles interpolate linearly between closest
-- ranks, as Excel's PERCENTILE.INC and numpy's default do. Windows are `minutes` long from
-- midnight UTC: SELECT * FROM sqm.wait_quantiles(minutes = 15). Statements end with `;` at the
-- end of a line (sinks/migrations.py splits on that).

CREATE VIEW IF NOT EXISTS sqm.wait_quantiles AS
SELECT
    toStartOfInterval(assumeNotNull(answered_at), toIntervalMinute({minutes:UInt32})) AS window_start,
    tenant_id,
    channel,
    queue,
    priority,
    count() AS answered,
    quantileExactInclusive(0.5)(toFloat64(assumeNotNull(wait_s))) AS wait_s_p50,
    quantileExactInclusive(0.9)(toFloat64(assumeNotNull(wait_s))) AS wait_s_p90,
    max(toFloat64(assumeNotNull(wait_s))) AS wait_s_max
FROM sqm.contacts FINAL
WHERE answered_at IS NOT NULL AND wait_s IS NOT NULL
GROUP BY window_start, tenant_id, channel, queue, priority;

CREATE VIEW IF NOT EXISTS sqm.resolution_quantiles AS
SELECT
    toStartOfInterval(assumeNotNull(resolved_at), toIntervalMinute({minutes:UInt32})) AS window_start,
    tenant_id,
    channel,
    queue,
    priority,
    count() AS resolved,
    quantileExactInclusive(0.5)(toFloat64(assumeNotNull(resolution_s))) AS resolution_s_p50,
    quantileExactInclusive(0.9)(toFloat64(assumeNotNull(resolution_s))) AS resolution_s_p90,
    max(toFloat64(assumeNotNull(resolution_s))) AS resolution_s_max
FROM sqm.contacts FINAL
WHERE resolved_at IS NOT NULL AND resolution_s IS NOT NULL
GROUP BY window_start, tenant_id, channel, queue, priority;
