-- The evaluation scorecard's indicator values (issue #3; definitions in docs/scorecard.md), per
-- agent, team (queue) and channel, for the contacts created in [period_start, period_end):
--   SELECT * FROM sqm.scorecard_indicators(period_start = '2026-03-01 00:00:00',
--       period_end = '2026-03-08 00:00:00', window_ms = 604800000, horizon = now64())
--   WHERE entity_kind = 'agent'
-- `window_ms` is the repeat window (FCR looks that far past each contact, also past the period);
-- `horizon` is "now" for provisional FCR (sqm scorecard passes the newest event stored). Each
-- value comes with `<indicator>_n`, the contacts behind it. `sqm scorecard` scores these against
-- the policy's targets and goals. Statements end with `;` at the end of a line.

CREATE VIEW IF NOT EXISTS sqm.scorecard_indicators AS
WITH c AS (
    SELECT tenant_id, channel, queue, first_agent_id, created_at, answered_at, wait_s,
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
    countIf(wait_s IS NOT NULL) AS first_response_n,
    avgIf(toFloat64(wait_s), wait_s IS NOT NULL) AS first_response_s,
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
