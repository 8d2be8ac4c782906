-- The scorecard's first-response indicator in the SLA policy's clock (issue #3): the mean of
-- `first_response_s` (business hours and pauses as the policy says) instead of the real-time
-- `wait_s`; identical under the default policy, and for rows written before migration 0008
-- (whose first_response_s defaults to wait_s). Everything else as in 0007_scorecard.sql.
-- Statements end with `;` at the end of a line.

CREATE OR REPLACE VIEW sqm.scorecard_indicators AS
WITH c AS (
    SELECT tenant_id, channel, queue, first_agent_id, created_at, answered_at, first_response_s,
           answered_in_sla, is_abandoned, is_short_abandon, is_repeat, resolved_at,
           resolution_s, reopen_count, csat, ratings,
           leadInFrame(created_at) OVER (
               PARTITION BY tenant_id, customer_id ORDER BY created_at, contact_id
               ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_created
    FROM sqm.contacts FINAL
    WHERE created_at IS NOT NULL
)
SELECT
    e.1 AS entity_kind,
    tenant_id,
    e.2 AS entity,
    countIf(c.first_response_s IS NOT NULL) AS first_response_n,
    avgIf(toFloat64(c.first_response_s), c.first_response_s IS NOT NULL) AS first_response_s,
    countIf(answered_in_sla) / nullIf(first_response_n, 0) AS response_in_sla,
    countIf(answered_at IS NOT NULL OR (is_abandoned AND NOT is_short_abandon)) AS answered_rate_n,
    countIf(answered_at IS NOT NULL) / nullIf(answered_rate_n, 0) AS answered_rate,
    count() AS fcr_n,
    countIf(resolved_at IS NOT NULL AND reopen_count = 0 AND NOT (next_created IS NOT NULL
            AND next_created <= created_at + toIntervalMillisecond({window_ms:UInt64})))
        / nullIf(fcr_n, 0) AS fcr_rate,
    countIf(created_at + toIntervalMillisecond({window_ms:UInt64}) > {horizon:DateTime64(3)})
        AS fcr_provisional,
    countIf(c.resolution_s IS NOT NULL) AS resolution_n,
    avgIf(toFloat64(c.resolution_s), c.resolution_s IS NOT NULL) AS resolution_s,
    count() AS repeat_n,
    countIf(is_repeat) / repeat_n AS repeat_rate,
    countIf(csat IS NOT NULL) AS csat_n,
    countIf(csat >= 4) / nullIf(csat_n, 0) AS csat_share,
    avgIf(toFloat64(csat), csat IS NOT NULL) AS csat_mean,
    countIf(mapContains(ratings, 'professionalism')) AS professionalism_n,
    avgIf(toFloat64(ratings['professionalism']), mapContains(ratings, 'professionalism'))
        AS professionalism,
    countIf(mapContains(ratings, 'patience')) AS patience_n,
    avgIf(toFloat64(ratings['patience']), mapContains(ratings, 'patience')) AS patience
FROM c
ARRAY JOIN [('agent', ifNull(first_agent_id, '')), ('queue', queue), ('channel', channel)] AS e
WHERE created_at >= {period_start:DateTime64(3)} AND created_at < {period_end:DateTime64(3)}
  AND NOT (e.1 = 'agent' AND first_agent_id IS NULL)
GROUP BY entity_kind, tenant_id, entity;
