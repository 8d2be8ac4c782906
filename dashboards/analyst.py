"""Analyst board (uid `sqm-analyst`): how do tenants trend, hour by hour or day by day?

Trends are bucketed by the `bucket` variable (hour or day, UTC). Volumes and service level come
from `sqm.sla_1m FINAL` (summed over shards), per-contact outcomes (bot containment, CSAT) from
`sqm.contacts FINAL` by creation time, rejected input from `sqm.dead_letters FINAL`.
"""

from __future__ import annotations

from sqm.dashboards.frame import bucket_variable, new_dashboard
from sqm.dashboards.panels import grid, table_panel, target_thresholds, timeseries_panel
from sqm.dashboards.query import ClickHouseQuery, Format
from sqm.dashboards.sdk import db
from sqm.dashboards.sql import (
    CONTACT_SCOPE,
    SERVICE_LEVEL,
    SERVICE_LEVEL_TARGET,
    SLA_SCOPE,
    in_filter,
)

__all__ = ["UID", "build"]

UID = "sqm-analyst"

_SLA_BUCKET = "toStartOfInterval(window_start, INTERVAL 1 ${bucket})"
# created_at is NULL until contact.created is seen; $__timeFilter drops those rows already.
_CREATED_BUCKET = "toStartOfInterval(assumeNotNull(created_at), INTERVAL 1 ${bucket})"


def _sla_trend(*columns: str) -> ClickHouseQuery:
    selected = ",\n    ".join(columns)
    return ClickHouseQuery(
        f"""SELECT
    {_SLA_BUCKET} AS time,
    tenant_id,
    {selected}
FROM sqm.sla_1m FINAL
WHERE $__timeFilter(window_start)
  AND {SLA_SCOPE}
GROUP BY time, tenant_id
ORDER BY time, tenant_id""",
        format=Format.TIME_SERIES,
    )


def _contact_trend(expression: str, alias: str) -> ClickHouseQuery:
    return ClickHouseQuery(
        f"""SELECT
    {_CREATED_BUCKET} AS time,
    tenant_id,
    {expression} AS {alias}
FROM sqm.contacts FINAL
WHERE $__timeFilter(created_at)
  AND {CONTACT_SCOPE}
GROUP BY time, tenant_id
ORDER BY time, tenant_id""",
        format=Format.TIME_SERIES,
    )


VOLUMES = _sla_trend("sum(offered) AS offered", "sum(answered) AS answered")
SERVICE_LEVEL_TREND = _sla_trend(f"{SERVICE_LEVEL} AS service_level")
REPEAT_RATE = _sla_trend("sum(repeat_contacts) / nullIf(sum(created), 0) AS repeat_rate")
# Resolved by a bot with no human answer and no transfer, among resolved contacts.
BOT_CONTAINMENT = _contact_trend(
    "countIf(bot_contained) / nullIf(countIf(resolved_at IS NOT NULL), 0)", "bot_containment"
)
SATISFIED_SHARE = _contact_trend("countIf(csat >= 4) / nullIf(count(csat), 0)", "satisfied")

CSAT_TABLE = ClickHouseQuery(
    f"""SELECT
    tenant_id,
    channel,
    count(csat) AS responses,
    round(100 * countIf(csat >= 4) / count(csat), 1) AS satisfied_pct,
    round(avg(csat), 2) AS csat_mean
FROM sqm.contacts FINAL
WHERE $__timeFilter(created_at)
  AND csat IS NOT NULL
  AND {CONTACT_SCOPE}
GROUP BY tenant_id, channel
ORDER BY tenant_id, channel"""
)

# Dead letters carry a tenant only when it could be read; channel and queue do not apply.
DEAD_LETTERS = ClickHouseQuery(
    f"""SELECT
    stage,
    reason,
    count() AS rejected,
    max(received_at) AS last_seen
FROM sqm.dead_letters FINAL
WHERE $__timeFilter(received_at)
  AND {in_filter("tenant_id", "tenant")}
GROUP BY stage, reason
ORDER BY rejected DESC, stage, reason"""
)


def build() -> db.Dashboard:
    board = new_dashboard(
        UID,
        "SQM · Analyst trends",
        "Per-tenant volumes, service level, repeat contacts, bot containment, CSAT and "
        "rejected input, by hour or day (UTC).",
        time_from="now-30d",
    ).with_variable(bucket_variable())
    per_tenant = "${__field.labels.tenant_id}"
    panels = [
        timeseries_panel(
            1,
            "Offered and answered",
            "Contacts offered to agents (by clock start) and answered (by answer time).",
            VOLUMES,
            grid(0, 0, 12, 8),
            unit="short",
            bars=True,
        ).display_name("${__field.name} " + per_tenant),
        timeseries_panel(
            2,
            "Service level",
            "Dashed line: target.",
            SERVICE_LEVEL_TREND,
            grid(12, 0, 12, 8),
            unit="percentunit",
            thresholds=target_thresholds(SERVICE_LEVEL_TARGET),
            percent=True,
        ).display_name(per_tenant),
        timeseries_panel(
            3,
            "Repeat-contact rate",
            "Contacts whose customer had another "
            "contact in the 7 days before, among contacts created.",
            REPEAT_RATE,
            grid(0, 8, 12, 8),
            unit="percentunit",
            percent=True,
        ).display_name(per_tenant),
        timeseries_panel(
            4,
            "Bot containment",
            "Resolved by a bot without a human, among resolved contacts (by creation time).",
            BOT_CONTAINMENT,
            grid(12, 8, 12, 8),
            unit="percentunit",
            percent=True,
        ).display_name(per_tenant),
        timeseries_panel(
            5,
            "Satisfied (CSAT 4–5)",
            "Share of surveyed contacts scoring 4 or 5 (by creation time).",
            SATISFIED_SHARE,
            grid(0, 16, 12, 8),
            unit="percentunit",
            percent=True,
        ).display_name(per_tenant),
        table_panel(
            6,
            "CSAT by tenant and channel",
            "Responses, satisfied share (4–5) and mean score of surveyed contacts.",
            CSAT_TABLE,
            grid(12, 16, 12, 8),
        ),
        table_panel(
            7,
            "Dead letters by reason",
            "Rejected input per stage and reason (ingest: invalid; late: behind the watermark).",
            DEAD_LETTERS,
            grid(0, 24, 24, 8),
        ),
    ]
    for panel in panels:
        board.with_panel(panel)
    return board
