-- Coarser windows derived from the one-minute grain (issue #3), never recomputed from raw events:
-- SELECT * FROM sqm.sla_windows(minutes = 15) gives 15-minute windows, with the same counters as
-- sqm.sla_1m and the derived rates of docs/metrics.md. `minutes` should divide a day (5, 15, 60,
-- 1440, ...); windows start at multiples of it from midnight UTC. Statements end with `;` at the
-- end of a line (sinks/migrations.py splits on that).

CREATE VIEW IF NOT EXISTS sqm.sla_windows AS
SELECT
    window_start,
    tenant_id,
    channel,
    queue,
    priority,
    offered,
    answered,
    answered_in_sla,
    wait_s_sum,
    abandoned,
    short_abandoned,
    created,
    repeat_contacts,
    -- NULL where the denominator is 0: an undefined rate is not a 0 % or 100 % one.
    answered + abandoned - short_abandoned AS sl_denominator,
    if(sl_denominator = 0, NULL, answered_in_sla / sl_denominator) AS service_level,
    if(answered = 0, NULL, toFloat64(wait_s_sum) / answered) AS wait_s_avg,
    if(sl_denominator = 0, NULL, (abandoned - short_abandoned) / sl_denominator) AS abandon_rate,
    if(created = 0, NULL, repeat_contacts / created) AS repeat_rate
FROM
(
    SELECT
        toStartOfInterval(m.window_start, toIntervalMinute({minutes:UInt32})) AS window_start,
        m.tenant_id AS tenant_id,
        m.channel AS channel,
        m.queue AS queue,
        m.priority AS priority,
        sum(m.offered) AS offered,
        sum(m.answered) AS answered,
        sum(m.answered_in_sla) AS answered_in_sla,
        sum(m.wait_s_sum) AS wait_s_sum,
        sum(m.abandoned) AS abandoned,
        sum(m.short_abandoned) AS short_abandoned,
        sum(m.created) AS created,
        sum(m.repeat_contacts) AS repeat_contacts
    FROM sqm.sla_1m_total AS m
    GROUP BY window_start, tenant_id, channel, queue, priority
);
