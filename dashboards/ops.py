"""Ops live board (uid `sqm-ops`): is the floor meeting its service level right now?

Below it, the "Pipeline health" row (dashboards/ops_pipeline.py).

Service level and abandonment come from `sqm.sla_1m FINAL` summed over shards; waits, backlog
and the per-contact state from `sqm.contacts FINAL`; alerts from `sqm.alerts FINAL` (latest
state per alert). Every query is scoped by the tenant/channel/queue variables.
"""

from __future__ import annotations

from sqm.dashboards.frame import new_dashboard
from sqm.dashboards.ops_pipeline import pipeline_row
from sqm.dashboards.panels import (
    grid,
    limit_thresholds,
    stat_panel,
    table_panel,
    target_thresholds,
    timeseries_panel,
)
from sqm.dashboards.query import ClickHouseQuery, Format, datasource_ref
from sqm.dashboards.sdk import db
from sqm.dashboards.sql import (
    ABANDON_RATE,
    ABANDON_RATE_LIMIT,
    ALERT_SCOPE,
    CONTACT_SCOPE,
    SERVICE_LEVEL,
    SERVICE_LEVEL_TARGET,
    SLA_SCOPE,
    STAFFING_SCOPE,
)

__all__ = ["UID", "build"]

UID = "sqm-ops"

# Still waiting for a human: queued, no answer, not abandoned, not resolved (e.g. by a bot).
# FINAL is applied before WHERE, so a contact answered since is judged by its latest row.
_OPEN = "answered_at IS NULL AND NOT is_abandoned AND resolved_at IS NULL"


def _sla_total(expression: str, alias: str) -> ClickHouseQuery:
    return ClickHouseQuery(
        f"""SELECT {expression} AS {alias}
FROM sqm.sla_1m FINAL
WHERE $__timeFilter(window_start)
  AND {SLA_SCOPE}"""
    )


def _sla_by(dimension: str, expression: str, alias: str) -> ClickHouseQuery:
    return ClickHouseQuery(
        f"""SELECT
    $__timeInterval(window_start) AS time,
    {dimension},
    {expression} AS {alias}
FROM sqm.sla_1m FINAL
WHERE $__timeFilter(window_start)
  AND {SLA_SCOPE}
GROUP BY time, {dimension}
ORDER BY time, {dimension}""",
        format=Format.TIME_SERIES,
    )


WAIT_QUANTILES = ClickHouseQuery(
    f"""SELECT
    assumeNotNull($__timeInterval(answered_at)) AS time,
    quantileExactInclusive(0.5)(toFloat64(assumeNotNull(wait_s))) AS p50,
    quantileExactInclusive(0.9)(toFloat64(assumeNotNull(wait_s))) AS p90
FROM sqm.contacts FINAL
WHERE $__timeFilter(answered_at)
  AND {CONTACT_SCOPE}
GROUP BY time
ORDER BY time""",
    format=Format.TIME_SERIES,
)

OPEN_CONTACTS = ClickHouseQuery(
    f"""SELECT count() AS open_contacts
FROM sqm.contacts FINAL
WHERE $__timeFilter(queued_at)
  AND {_OPEN}
  AND {CONTACT_SCOPE}"""
)

BACKLOG = ClickHouseQuery(
    f"""SELECT
    tenant_id,
    channel,
    queue,
    count() AS open_contacts,
    assumeNotNull(min(queued_at)) AS oldest_queued_at
FROM sqm.contacts FINAL
WHERE $__timeFilter(queued_at)
  AND {_OPEN}
  AND {CONTACT_SCOPE}
GROUP BY tenant_id, channel, queue
ORDER BY open_contacts DESC, tenant_id, channel, queue"""
)

# Erlang C's agents needed against the agents seen handling contacts, per queue, summed over the
# selected tenants and channels (each its own pool of agents), for complete 15-minute intervals
# only: the one in progress has a fraction of its arrivals and of its agents' activity. A sum
# with an unknown part (arrivals but no handle time yet) is unknown, not an undercount.
STAFFING = ClickHouseQuery(
    f"""SELECT
    interval_start AS time,
    queue,
    if(count() = count(agents_needed), sum(agents_needed), NULL) AS needed,
    sum(agents_actual) AS handling
FROM sqm.staffing_15m
WHERE $__timeFilter(interval_start)
  AND interval_start <= $__toTime - INTERVAL 15 MINUTE
  AND {STAFFING_SCOPE}
GROUP BY time, queue
ORDER BY time, queue""",
    format=Format.TIME_SERIES,
)

FIRING_COUNT = ClickHouseQuery(
    f"""SELECT count() AS firing
FROM sqm.alerts FINAL
WHERE state = 'firing'
  AND {ALERT_SCOPE}"""
)

FIRING_ALERTS = ClickHouseQuery(
    f"""SELECT
    started_at, severity, kind, metric, value, threshold, tenant_id, channel, queue,
    priority, agent_id, contact_id, message, alert_id
FROM sqm.alerts FINAL
WHERE state = 'firing'
  AND {ALERT_SCOPE}
ORDER BY severity = 'critical' DESC, started_at DESC, alert_id"""
)

# Every alert overlapping the range, as a region from start to end (a point while open).
# Grafana maps the columns by name: time, timeEnd, title, text, tags (split on commas).
ALERT_ANNOTATIONS = ClickHouseQuery(
    f"""SELECT
    started_at AS time,
    ended_at AS timeEnd,
    concat(severity, ' ', kind, ': ', metric) AS title,
    message AS text,
    concat(severity, ',', kind) AS tags
FROM sqm.alerts FINAL
WHERE started_at <= $__toTime
  AND (ended_at IS NULL OR ended_at >= $__fromTime)
  AND {ALERT_SCOPE}
ORDER BY time, alert_id""",
    ref_id="Anno",
)


def build() -> db.Dashboard:
    target = target_thresholds(SERVICE_LEVEL_TARGET)
    limit = limit_thresholds(ABANDON_RATE_LIMIT)
    board = new_dashboard(
        UID,
        "SQM · Ops live",
        "Service level, waits, abandonment, backlog and firing alerts, live.",
        time_from="now-6h",
    ).refresh("30s")
    panels = [
        stat_panel(
            1,
            "Service level",
            "Answered in SLA / (answered + abandoned − short abandons), whole range.",
            _sla_total(SERVICE_LEVEL, "service_level"),
            grid(0, 0, 6, 4),
            unit="percentunit",
            thresholds=target,
        ),
        stat_panel(
            2,
            "Abandonment rate",
            "Abandons (short ones excluded) / (answered + "
            "abandoned − short abandons), whole range.",
            _sla_total(ABANDON_RATE, "abandon_rate"),
            grid(6, 0, 6, 4),
            unit="percentunit",
            thresholds=limit,
        ),
        stat_panel(
            3,
            "Open contacts",
            "Queued in the range and still waiting for a human.",
            OPEN_CONTACTS,
            grid(12, 0, 6, 4),
            unit="short",
        ),
        stat_panel(
            4,
            "Firing alerts",
            "SQM alerts currently firing.",
            FIRING_COUNT,
            grid(18, 0, 6, 4),
            unit="short",
            thresholds=limit_thresholds(1),
        ),
        timeseries_panel(
            5,
            "Service level by channel",
            "Dashed line: target.",
            _sla_by("channel", SERVICE_LEVEL, "service_level"),
            grid(0, 4, 12, 8),
            unit="percentunit",
            thresholds=target,
            percent=True,
        ).display_name("${__field.labels.channel}"),
        timeseries_panel(
            6,
            "Service level by queue",
            "Dashed line: target.",
            _sla_by("queue", SERVICE_LEVEL, "service_level"),
            grid(12, 4, 12, 8),
            unit="percentunit",
            thresholds=target,
            percent=True,
        ).display_name("${__field.labels.queue}"),
        timeseries_panel(
            7,
            "Wait to first answer, p50 / p90",
            "Of contacts answered in each interval (by answer time).",
            WAIT_QUANTILES,
            grid(0, 12, 12, 8),
            unit="s",
        ),
        timeseries_panel(
            8,
            "Abandonment rate by channel",
            "Dashed line: alert limit.",
            _sla_by("channel", ABANDON_RATE, "abandon_rate"),
            grid(12, 12, 12, 8),
            unit="percentunit",
            thresholds=limit,
            percent=True,
        ).display_name("${__field.labels.channel}"),
        table_panel(
            9,
            "Backlog",
            "Open contacts per queue and the oldest one's queue time.",
            BACKLOG,
            grid(0, 20, 9, 10),
        ),
        table_panel(
            10, "Firing alerts", "Critical first, newest first.", FIRING_ALERTS, grid(9, 20, 15, 10)
        ),
        timeseries_panel(
            11,
            "Agents needed vs handling, by queue",
            "Per complete 15-minute interval: agents Erlang C needs for "
            f"{SERVICE_LEVEL_TARGET:.0%} answered within the first-response target, from the "
            "arrivals and the mean handle time, against "
            "the human agents who were assigned or wrote in the queue's contacts "
            "(docs/staffing.md).",
            STAFFING,
            grid(0, 30, 24, 9),
            unit="short",
        ).display_name("${__field.labels.queue} ${__field.name}"),
    ]
    for panel in panels:
        board.with_panel(panel)
    row, health = pipeline_row()
    board.with_row(row)
    for panel in health:
        board.with_panel(panel)
    return board.annotation(
        db.AnnotationQuery()
        .name("SQM alerts")
        .datasource(datasource_ref())
        .enable(True)
        .hide(False)
        .icon_color("red")
        .target(ALERT_ANNOTATIONS)
    )
