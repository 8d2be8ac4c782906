"""Panel constructors with the SQM house style, so the board modules read as a list of queries.

Every panel has a fixed id (the boards pass them explicitly: links and alert rules point at
panels by id) and one ClickHouse target per query. Tables carry no per-column overrides: the
Grafana JSON Schemas type override values as objects, so units live in the column names instead
(`..._pct`, `..._s`).
"""

from __future__ import annotations

from sqm.dashboards.query import ClickHouseQuery, Format, datasource_ref
from sqm.dashboards.sdk import cb, cm, db, dm, stat, table, timeseries

__all__ = [
    "grid",
    "limit_thresholds",
    "stat_panel",
    "table_panel",
    "target_thresholds",
    "timeseries_panel",
]


def grid(x: int, y: int, w: int, h: int) -> dm.GridPos:
    """A position on Grafana's 24-column layout."""
    return dm.GridPos(h=h, w=w, x=x, y=y)


def _thresholds(*steps: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


def target_thresholds(target: float) -> db.ThresholdsConfig:
    """Below target is bad: red up to the target, green from it."""
    return _thresholds((None, "red"), (target, "green"))


def limit_thresholds(limit: float) -> db.ThresholdsConfig:
    """Above the limit is bad."""
    return _thresholds((None, "green"), (limit, "red"))


def _time_series(query: ClickHouseQuery) -> ClickHouseQuery:
    if query.format is not Format.TIME_SERIES:
        raise ValueError(f"time series panel needs Format.TIME_SERIES, got {query.format!r}")
    return query


def timeseries_panel(
    panel_id: int,
    title: str,
    description: str,
    query: ClickHouseQuery,
    position: dm.GridPos,
    *,
    unit: str,
    thresholds: db.ThresholdsConfig | None = None,
    percent: bool = False,
    bars: bool = False,
) -> timeseries.Panel:
    """A time series; with `thresholds`, the first non-base step is drawn as a dashed line."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(_time_series(query))
        .grid_pos(position)
        .unit(unit)
        .draw_style(cm.GraphDrawStyle.BARS if bars else cm.GraphDrawStyle.LINE)
        .fill_opacity(60 if bars else 10)
        .show_points(cm.VisibilityMode.NEVER)
        # Empty buckets come back as NULL ratios (no traffic): show gaps, do not draw zeros.
        .span_nulls(False)
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
    )
    if percent:
        panel.min(0).max(1)
    if thresholds is not None:
        panel.thresholds(thresholds).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    return panel


def stat_panel(
    panel_id: int,
    title: str,
    description: str,
    query: ClickHouseQuery,
    position: dm.GridPos,
    *,
    unit: str,
    thresholds: db.ThresholdsConfig | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query)
        .grid_pos(position)
        .unit(unit)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .no_value("no traffic")
    )
    if thresholds is not None:
        panel.thresholds(thresholds)
    return panel


def table_panel(
    panel_id: int,
    title: str,
    description: str,
    query: ClickHouseQuery,
    position: dm.GridPos,
) -> table.Panel:
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(datasource_ref())
        .with_target(query)
        .grid_pos(position)
        .show_header(True)
        .filterable(True)
    )
