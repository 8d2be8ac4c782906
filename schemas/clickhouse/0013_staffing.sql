-- Live staffing signal (docs/staffing.md): per tenant, channel, queue and 15-minute UTC interval,
-- the arrivals, the mean handle time, the first-response target, the agents Erlang C says are
-- needed for 80 % of contacts answered within that target, the agents actually handling
-- contacts, and the gap (actual − needed; negative = understaffed). Computed on every read from
-- sqm.sla_1m FINAL (offered, service level), sqm.contacts FINAL (handle times, targets, waits
-- and abandons) and sqm.events FINAL (agent activity), so late events and replays never skew it.
-- Erlang C runs here, in SQL, as streams/core/staffing.py runs it: the Erlang B recursion
-- B(n) = A·B(n−1) / (n + A·B(n−1)) in an arrayFold, up to an N that surely meets the goal.
-- Statements end with `;` at the end of a line (sinks/migrations.py splits on that).

CREATE VIEW IF NOT EXISTS sqm.staffing_15m AS
SELECT
    interval_start,
    tenant_id,
    channel,
    queue,
    offered,
    arrival_rate_per_s,
    handled,
    handle_s_avg,
    target_answer_s,
    service_level_goal,
    if(modelled, load, NULL) AS load_erlangs,
    multiIf(offered = 0, toNullable(toUInt64(0)), modelled, erlang.2, NULL) AS agents_needed,
    agents_actual,
    toInt64(agents_actual) - toInt64(agents_needed) AS agents_gap,
    multiIf(offered = 0, NULL, modelled, erlang.3, NULL) AS modelled_service_level,
    if(sl_met + sl_missed = 0, NULL, sl_met / (sl_met + sl_missed)) AS service_level,
    abandoned,
    queue_time_s,
    if(abandoned = 0 OR queue_time_s = 0, NULL, queue_time_s / abandoned) AS patience_s
FROM
(
    SELECT
        *,
        offered / 900 AS arrival_rate_per_s,
        if(handled = 0, NULL, handle_s_sum / handled) AS handle_s_avg,
        -- The target most of the interval's contacts had (ties: the stricter one); under the
        -- default policy every contact of a channel has the channel's.
        if(empty(targets), NULL,
           arraySort(t -> (-countEqual(targets, t), t), arrayDistinct(targets))[1]) AS target_answer_s,
        0.8 AS service_level_goal,
        coalesce(offered > 0 AND handle_s_avg > 0 AND target_answer_s > 0, 0) AS modelled,
        if(modelled, arrival_rate_per_s * assumeNotNull(handle_s_avg), 0.) AS load,
        if(modelled, assumeNotNull(handle_s_avg), 1.) AS aht,
        if(modelled, toFloat64(assumeNotNull(target_answer_s)), 1.) AS target,
        -- Agents that surely meet the goal (P(wait) ≤ 1, so N − A ≥ AHT/T·ln(1/(1 − goal))
        -- suffices): the loop's length, or the actual agents if more, to model them too.
        if(modelled, greatest(toUInt64(floor(load + aht / target * log(1 / (1 - service_level_goal)))) + 1,
                              agents_actual), 0) AS loop_length,
        -- (B(n), smallest n meeting the goal, service level with the actual agents); below
        -- the load (n ≤ A) there is no steady state and the service level counts as 0.
        arrayFold(
            (acc, n) -> (
                load * acc.1 / (n + load * acc.1),
                if(acc.2 = 0 AND n > load
                   AND 1 - n * (load * acc.1 / (n + load * acc.1))
                           / (n - load * (1 - load * acc.1 / (n + load * acc.1)))
                           * exp(-(n - load) * target / aht) >= service_level_goal,
                   n, acc.2),
                if(n = agents_actual,
                   if(n > load,
                      1 - n * (load * acc.1 / (n + load * acc.1))
                          / (n - load * (1 - load * acc.1 / (n + load * acc.1)))
                          * exp(-(n - load) * target / aht),
                      0.),
                   acc.3)),
            range(1, loop_length + 1),
            (1., toUInt64(0), 0.)) AS erlang
    FROM
    (
        SELECT
            interval_start,
            tenant_id,
            channel,
            queue,
            sum(offered) AS offered,
            sum(sl_met) AS sl_met,
            sum(sl_missed) AS sl_missed,
            sum(handled) AS handled,
            sum(handle_s) AS handle_s_sum,
            groupArray(target_s) AS targets,
            sum(abandoned) AS abandoned,
            sum(queue_time_s) AS queue_time_s,
            uniqExact(agent_id) AS agents_actual
        FROM
        (
            -- Arrivals and the observed service level: the one-minute windows, every shard.
            SELECT
                toStartOfInterval(window_start, INTERVAL 15 MINUTE) AS interval_start,
                tenant_id,
                channel,
                queue,
                toUInt64(offered) AS offered,
                toUInt64(sl_met) AS sl_met,
                toUInt64(sl_missed) AS sl_missed,
                toUInt64(0) AS handled,
                0. AS handle_s,
                CAST(NULL, 'Nullable(UInt32)') AS target_s,
                toUInt64(0) AS abandoned,
                0. AS queue_time_s,
                CAST(NULL, 'Nullable(String)') AS agent_id
            FROM sqm.sla_1m FINAL
            UNION ALL
            -- One scan of the contacts, each giving up to four facts, each by its own time:
            -- a handle time when its handling ended (resolved), its target when it queued, its
            -- wait when answered, or its time in queue and an abandon when it abandoned (the
            -- waits and abandons estimate patience: docs/staffing.md).
            SELECT
                toStartOfInterval(toDateTime(assumeNotNull(fact.1), 'UTC'), INTERVAL 15 MINUTE),
                tenant_id,
                channel,
                queue,
                toUInt64(0),
                toUInt64(0),
                toUInt64(0),
                toUInt64(fact.2),
                fact.3,
                fact.4,
                toUInt64(fact.5),
                fact.6,
                CAST(NULL, 'Nullable(String)')
            FROM sqm.contacts FINAL
            ARRAY JOIN arrayFilter(f -> f.1 IS NOT NULL, [
                (if(handle_s IS NULL, NULL, resolved_at), 1, toFloat64(ifNull(handle_s, 0)), CAST(NULL, 'Nullable(UInt32)'), 0, 0.),
                (queued_at, 0, 0., toNullable(sla_target_s), 0, 0.),
                (if(wait_s IS NULL, NULL, answered_at), 0, 0., NULL, 0, toFloat64(ifNull(wait_s, 0))),
                (if(is_abandoned AND queued_at IS NOT NULL, abandoned_at, NULL), 0, 0., NULL, 1,
                 greatest(dateDiff('millisecond', assumeNotNull(queued_at), assumeNotNull(abandoned_at)), 0) / 1000)
            ]) AS fact
            UNION ALL
            -- Agents handling: every human agent who was assigned a contact of the queue or
            -- wrote in one (a message, public or not) during the interval.
            SELECT
                toStartOfInterval(toDateTime(e.occurred_at, 'UTC'), INTERVAL 15 MINUTE),
                e.tenant_id,
                c.channel,
                c.queue,
                toUInt64(0),
                toUInt64(0),
                toUInt64(0),
                toUInt64(0),
                0.,
                CAST(NULL, 'Nullable(UInt32)'),
                toUInt64(0),
                0.,
                e.agent_id
            FROM sqm.events AS e FINAL
            INNER JOIN
            (
                SELECT tenant_id, contact_id, channel, queue FROM sqm.contacts FINAL
            ) AS c ON c.tenant_id = e.tenant_id AND c.contact_id = e.contact_id
            WHERE e.agent_id IS NOT NULL
              AND ((e.type = 'message.sent' AND e.sender = 'agent')
                   OR (e.type = 'contact.assigned' AND JSONExtractString(e.raw, 'agent_kind') = 'human'))
        )
        GROUP BY interval_start, tenant_id, channel, queue
    )
);
