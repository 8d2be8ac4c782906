"""The ops board's "Pipeline health" row: is the pipeline itself alive, current and clean?

From ClickHouse: freshness per tenant, age of the newest event, rejected input and dropped
corrections (dashboards/pipeline.py). From Prometheus (dashboards/prometheus.py): consumer lag,
event clock delay, ClickHouse insert latency, events read per second, scrape status.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.cog import builder as cogbuilder

from sqm.dashboards import prometheus as prom
from sqm.dashboards.panels import grid, limit_thresholds, stat_panel, table_panel, timeseries_panel
from sqm.dashboards.pipeline import (
    CLOCK_DELAY_LIMIT_S,
    DEAD_LETTERS_PER_MINUTE,
    DROPPED_CORRECTIONS,
    EVENT_AGE_LIMIT_S,
    FRESHNESS_BY_TENANT,
    LAG_LIMIT,
    NEWEST_EVENT,
    PANEL_IDS,
    TENANT_STALE_LIMIT_S,
)
from sqm.dashboards.sdk import cb, cm, db, dm, timeseries

__all__ = ["TOP", "pipeline_row"]

TOP = 39  # the row sits below the last panel of the service-level part of the board


def _prom_timeseries(
    panel_id: int,
    title: str,
    description: str,
    query: pb.Dataquery,
    position: dm.GridPos,
    *,
    unit: str,
    limit: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(prom.prometheus_ref())
        .with_target(query)
        .grid_pos(position)
        .unit(unit)
        .draw_style(cm.GraphDrawStyle.LINE)
        .fill_opacity(10)
        .show_points(cm.VisibilityMode.NEVER)
        .span_nulls(False)
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.NONE))
    )
    if limit is not None:
        panel.thresholds(limit_thresholds(limit)).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    return panel


def pipeline_row() -> tuple[db.Row, list[cogbuilder.Builder[dm.Panel]]]:
    """The row header and its panels (top level, below the header: the row is open)."""
    ids = PANEL_IDS
    row = db.Row("Pipeline health").id(ids["row"]).grid_pos(grid(0, TOP, 24, 1))
    y = TOP + 1
    panels: list[cogbuilder.Builder[dm.Panel]] = [
        table_panel(
            ids["freshness"],
            "Freshness per tenant",
            "Newest write to sqm.sla_1m per tenant and its age in seconds (last 7 days; "
            f"the alert fires above {TENANT_STALE_LIMIT_S} s).",
            FRESHNESS_BY_TENANT,
            grid(0, y, 8, 8),
        ),
        stat_panel(
            ids["newest_event"],
            "Newest event, age",
            "Seconds since the newest event time stored (sqm.events), selected tenants.",
            NEWEST_EVENT,
            grid(8, y, 4, 4),
            unit="s",
            thresholds=limit_thresholds(EVENT_AGE_LIMIT_S),
        ),
        stat_panel(
            ids["dropped"],
            "Dropped corrections",
            "Corrections to windows no longer in state, recorded in the range "
            "(sqm.dropped_corrections); should be 0.",
            DROPPED_CORRECTIONS,
            grid(8, y + 4, 4, 4),
            unit="short",
            thresholds=limit_thresholds(1),
        ),
        timeseries_panel(
            ids["dead_letters"],
            "Dead letters per minute, by reason",
            "Rejected input (sqm.dead_letters) per minute, by stage and reason.",
            DEAD_LETTERS_PER_MINUTE,
            grid(12, y, 12, 8),
            unit="short",
            bars=True,
        ).display_name("${__field.labels.reason}"),
        _prom_timeseries(
            ids["lag"],
            "Consumer lag",
            "Messages behind per consumer group and partition (Prometheus sqm_consumer_lag).",
            prom.panel_query(prom.LAG, "{{group}} {{topic}}[{{partition}}]"),
            grid(0, y + 8, 12, 8),
            unit="short",
            limit=LAG_LIMIT,
        ),
        _prom_timeseries(
            ids["clock_delay"],
            "Event clock delay",
            "How far each worker's event clock is behind the wall clock "
            "(sqm_event_clock_delay_seconds).",
            prom.panel_query(prom.CLOCK_DELAY, "{{instance}}"),
            grid(12, y + 8, 12, 8),
            unit="s",
            limit=CLOCK_DELAY_LIMIT_S,
        ),
        _prom_timeseries(
            ids["insert_p95"],
            "ClickHouse insert latency, p95",
            "95th percentile of seconds per insert, all workers "
            "(sqm_clickhouse_insert_seconds histogram).",
            prom.panel_query(prom.INSERT_P95, "p95"),
            grid(0, y + 16, 8, 8),
            unit="s",
        ),
        _prom_timeseries(
            ids["events_per_second"],
            "Events read per second",
            "All workers (rate of sqm_events_read_total).",
            prom.panel_query(prom.EVENTS_PER_SECOND, "events/s"),
            grid(8, y + 16, 8, 8),
            unit="short",
        ),
        _prom_timeseries(
            ids["workers_up"],
            "Workers scraped",
            f"1 while Prometheus scrapes the worker (job {prom.JOB}), 0 when it cannot.",
            prom.panel_query(prom.WORKERS_UP, "{{instance}}"),
            grid(16, y + 16, 8, 8),
            unit="short",
        ),
    ]
    return row, panels
