"""The pipeline's own health, read from ClickHouse: is it still writing, and what did it reject?

Shared by the ops board's "Pipeline health" row and the pipeline alert rules, so a panel and
the rule that links to it compute the same number. Thresholds are here, next to the other rule
thresholds of dashboards/sql.py: Grafana reads provisioned rule queries verbatim (no environment
expansion), so a different limit is a code change and `sqm dashboards build`.
"""

from __future__ import annotations

from sqm.dashboards.query import ClickHouseQuery, Format
from sqm.dashboards.sql import SLA_SCOPE, in_filter

__all__ = [
    "CLOCK_DELAY_LIMIT_S",
    "DEAD_LETTERS_PER_MINUTE",
    "DROPPED_CORRECTIONS",
    "EVENT_AGE_LIMIT_S",
    "EVENT_LOOKBACK_S",
    "FRESHNESS_BY_TENANT",
    "LAG_LIMIT",
    "LOOKBACK_S",
    "NEWEST_EVENT",
    "PANEL_IDS",
    "TENANT_STALE_LIMIT_S",
    "event_age_query",
    "tenant_freshness_query",
]

# A tenant whose pipeline output (sqm.sla_1m) has not changed for this long is stale. Quiet
# tenants (nights, small shops) need a larger value; it is one limit for every tenant.
TENANT_STALE_LIMIT_S = 30 * 60
# No event at all, for any tenant, for this long: the input or the pipeline has stopped.
EVENT_AGE_LIMIT_S = 15 * 60
# Messages behind per partition (Prometheus `sqm_consumer_lag`).
LAG_LIMIT = 10_000
# Event clock behind the wall clock (Prometheus `sqm_event_clock_delay_seconds`).
CLOCK_DELAY_LIMIT_S = 10 * 60
# How far back the freshness query looks: a tenant silent for longer drops out of it (its
# alert resolves as a missing series), i.e. it is taken as gone.
LOOKBACK_S = 7 * 24 * 3600
# How far back the newest-event query looks (daily partitions: one or two are read). Nothing in
# it reads as the epoch, i.e. stale, so it only has to exceed EVENT_AGE_LIMIT_S.
EVENT_LOOKBACK_S = 24 * 3600

# Panel ids of the ops board's "Pipeline health" row (the rules link to them).
PANEL_IDS = {
    "row": 12,
    "freshness": 13,
    "newest_event": 14,
    "dead_letters": 15,
    "dropped": 16,
    "lag": 17,
    "clock_delay": 18,
    "insert_p95": 19,
    "events_per_second": 20,
    "workers_up": 21,
}


def _alert(sql: str) -> ClickHouseQuery:
    # What Grafana's rule editor stores: a 1-minute interval and its default point budget.
    return ClickHouseQuery(sql, format=Format.TABLE, interval_ms=60_000, max_data_points=43_200)


def _freshness_sql(*, panel: bool) -> str:
    # `updated_at` is the wall-clock time of the write, so the newest one is when the pipeline
    # last wrote for the tenant. No FINAL: the newest version carries the newest write time.
    # The window filter bounds the scan (partitioned by month) to the last LOOKBACK_S. The
    # alert has no dashboard variables and only the number: any other column would be a label.
    shown = "\n    max(updated_at) AS newest_write," if panel else ""
    scope = f"\n  AND {in_filter('tenant_id', 'tenant')}" if panel else ""
    return f"""SELECT
    tenant_id,{shown}
    dateDiff('second', max(updated_at), $__toTime) AS age_s
FROM sqm.sla_1m
WHERE window_start >= $__toTime - INTERVAL {LOOKBACK_S} SECOND{scope}
GROUP BY tenant_id
ORDER BY tenant_id"""


def _event_age_sql(*, panel: bool) -> str:
    # One row even when nothing matches: max() of no rows is 1970, so the age is huge and an
    # empty store reads as stale, not as "no data". Events dated after now (a producer's clock
    # running ahead) are left out: they would make a stopped input look current.
    scope = f"\n  AND {in_filter('tenant_id', 'tenant')}" if panel else ""
    return f"""SELECT
    dateDiff('second', max(occurred_at), $__toTime) AS age_s
FROM sqm.events
WHERE occurred_at >= $__toTime - INTERVAL {EVENT_LOOKBACK_S} SECOND
  AND occurred_at <= $__toTime{scope}"""


def tenant_freshness_query() -> ClickHouseQuery:
    """Alert: seconds since the newest write per tenant (labels: tenant_id)."""
    return _alert(_freshness_sql(panel=False))


def event_age_query() -> ClickHouseQuery:
    """Alert: seconds since the newest event time of any tenant (one row, no labels)."""
    return _alert(_event_age_sql(panel=False))


FRESHNESS_BY_TENANT = ClickHouseQuery(_freshness_sql(panel=True))
NEWEST_EVENT = ClickHouseQuery(_event_age_sql(panel=True))

# Rejected input per minute, one series per stage and reason (tenant filter only: rejected
# input may have no tenant). Minutes without rejections are absent, drawn as gaps.
DEAD_LETTERS_PER_MINUTE = ClickHouseQuery(
    f"""SELECT
    toStartOfMinute(received_at) AS time,
    concat(stage, ': ', reason) AS reason,
    count() AS rejected
FROM sqm.dead_letters FINAL
WHERE $__timeFilter(received_at)
  AND {in_filter("tenant_id", "tenant")}
GROUP BY time, reason
ORDER BY time, reason""",
    format=Format.TIME_SERIES,
)

# Corrections to windows already evicted from state, recorded in the range: each makes
# sqm.sla_1m differ from the exact totals until added back (docs/metrics.md). Should be 0.
DROPPED_CORRECTIONS = ClickHouseQuery(
    f"""SELECT count() AS dropped_corrections
FROM sqm.dropped_corrections FINAL
WHERE $__timeFilter(recorded_at)
  AND {SLA_SCOPE}"""
)
