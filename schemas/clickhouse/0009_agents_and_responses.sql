-- Per agent, and first-response distributions (issue #3; docs/metrics.md, docs/schema.md).
-- sqm.agent_windows(minutes = N): per answering agent (first_agent_id) and window of the answer,
-- the contacts they answered and what became of them: first response in the policy's clock
-- (count, met, mean, exact p50/p90), resolution, CSAT and the service-attitude dimensions,
-- next responses and handle time. sqm.first_response_quantiles(minutes = N): exact p50/p90/max
-- of first_response_s (the policy's clock: business hours, pauses) per window of the answer.
-- Both read sqm.contacts FINAL on every read, so late events and replays never skew them.
-- Statements end with `;` at the end of a line (sinks/migrations.py splits on that).

CREATE VIEW IF NOT EXISTS sqm.agent_windows AS
SELECT
    toStartOfInterval(assumeNotNull(answered_at), toIntervalMinute({minutes:UInt32})) AS window_start,
    tenant_id,
    assumeNotNull(first_agent_id) AS agent_id,
    channel,
    queue,
    count() AS answered,
    countIf(sla_outcome = 'met') AS met,
    met / answered AS response_in_sla,
    avg(toFloat64(first_response_s)) AS first_response_s_avg,
    quantileExactInclusive(0.5)(toFloat64(first_response_s)) AS first_response_s_p50,
    quantileExactInclusive(0.9)(toFloat64(first_response_s)) AS first_response_s_p90,
    countIf(resolved_at IS NOT NULL) AS resolved,
    countIf(reopen_count > 0) AS reopened,
    countIf(csat IS NOT NULL) AS rated,
    avg(csat) AS csat_mean,
    if(rated = 0, NULL, countIf(csat >= 4) / rated) AS csat_share,
    countIf(nps IS NOT NULL) AS nps_n,
    if(nps_n = 0, NULL, 100 * (countIf(nps >= 9) - countIf(nps <= 6)) / nps_n) AS nps_score,
    if(countIf(mapContains(ratings, 'professionalism')) = 0, NULL,
       avgIf(ratings['professionalism'], mapContains(ratings, 'professionalism'))) AS professionalism_mean,
    if(countIf(mapContains(ratings, 'patience')) = 0, NULL,
       avgIf(ratings['patience'], mapContains(ratings, 'patience'))) AS patience_mean,
    sum(next_response_count) AS next_responses,
    if(next_responses = 0, NULL, toFloat64(sum(next_response_sum_s)) / next_responses) AS next_response_s_avg,
    avg(toFloat64(handle_s)) AS handle_s_avg
FROM sqm.contacts FINAL
WHERE answered_at IS NOT NULL AND first_agent_id IS NOT NULL AND first_response_s IS NOT NULL
GROUP BY window_start, tenant_id, agent_id, channel, queue;

CREATE VIEW IF NOT EXISTS sqm.first_response_quantiles AS
SELECT
    toStartOfInterval(assumeNotNull(answered_at), toIntervalMinute({minutes:UInt32})) AS window_start,
    tenant_id,
    channel,
    queue,
    priority,
    count() AS answered,
    quantileExactInclusive(0.5)(toFloat64(assumeNotNull(first_response_s))) AS first_response_s_p50,
    quantileExactInclusive(0.9)(toFloat64(assumeNotNull(first_response_s))) AS first_response_s_p90,
    max(toFloat64(assumeNotNull(first_response_s))) AS first_response_s_max
FROM sqm.contacts FINAL
WHERE answered_at IS NOT NULL AND first_response_s IS NOT NULL
GROUP BY window_start, tenant_id, channel, queue, priority;
