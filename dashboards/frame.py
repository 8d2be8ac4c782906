"""What every SQM board shares: template variables, the dashboard frame, cross-links.

Variables are ClickHouse queries (string form, which every plugin version accepts) refreshed
when the time range changes, multi-valued with an "All" option that panels turn into `1=1`
through `$__conditionalAll`. Channel depends on tenant and queue on both, so the drop-downs only
offer combinations that have traffic in the range.
"""

from __future__ import annotations

from sqm.dashboards.query import datasource_ref
from sqm.dashboards.sdk import cm, db, dm
from sqm.dashboards.sql import in_filter

__all__ = ["ALL", "DASHBOARD_TAGS", "bucket_variable", "new_dashboard", "scope_variables"]

ALL = dm.VariableOption(text=["All"], value=["$__all"], selected=True)
DASHBOARD_TAGS = ["sqm"]


def _scope_variable(name: str, label: str, sql: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .label(label)
        .datasource(datasource_ref())
        .query(sql)
        .definition(sql)
        .multi(True)
        .include_all(True)
        .current(ALL)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )


def _distinct(column: str, *filters: str) -> str:
    # sqm.sla_1m has a row for every (tenant, channel, queue) with traffic in a minute; DISTINCT
    # needs no FINAL (replaced rows carry the same key values).
    where = " AND ".join(("$__timeFilter(window_start)", *filters))
    return f"SELECT DISTINCT {column} FROM sqm.sla_1m WHERE {where} ORDER BY {column}"


def scope_variables() -> list[db.QueryVariable]:
    """Fresh builders (builders are mutable, so boards never share one)."""
    tenant = in_filter("tenant_id", "tenant")
    return [
        _scope_variable("tenant", "Tenant", _distinct("tenant_id")),
        _scope_variable("channel", "Channel", _distinct("channel", tenant)),
        _scope_variable(
            "queue", "Queue", _distinct("queue", tenant, in_filter("channel", "channel"))
        ),
    ]


def bucket_variable() -> db.CustomVariable:
    """Trend granularity of the analyst board: its SQL buckets by `INTERVAL 1 ${bucket}`."""
    return (
        db.CustomVariable("bucket")
        .label("Bucket")
        .values("hour,day")
        .current(dm.VariableOption(text="day", value="day", selected=True))
        .options(
            [
                dm.VariableOption(text="hour", value="hour", selected=False),
                dm.VariableOption(text="day", value="day", selected=True),
            ]
        )
    )


def new_dashboard(uid: str, title: str, description: str, *, time_from: str) -> db.Dashboard:
    """A board with the SQM defaults: UTC, shared crosshair, scope variables, board links."""
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(DASHBOARD_TAGS)
        .timezone("utc")  # the store is UTC; local-day views are built in SQL where needed
        .time(time_from, "now")
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .readonly()  # provisioned from code: edits in the UI would be overwritten
        .annotation(
            # Grafana's own annotations and alert-rule state changes (built in, as Grafana adds).
            db.AnnotationQuery()
            .name("Annotations & Alerts")
            .datasource(cm.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .enable(True)
            .hide(True)
            .icon_color("rgba(0, 211, 255, 1)")
            .type("dashboard")
            .built_in(1)
        )
        .link(
            db.DashboardLink("SQM boards")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(DASHBOARD_TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
    for variable in scope_variables():
        board.with_variable(variable)
    return board
