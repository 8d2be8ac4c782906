"""The workers' own metrics in Prometheus: data source, metric names and PromQL.

Every worker serves its metrics on port 9108 at `/metrics`; Prometheus scrapes them under job
`sqm-worker` and Grafana reads Prometheus through the data source provisioned with the fixed uid
`sqm-prometheus` (deploy/grafana/provisioning/datasources/prometheus.yaml). The names below are
the one place the boards and rules spell them, so a rename is a one-line change here.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.models import prometheus as pm

from sqm.dashboards.sdk import cm

__all__ = [
    "CLOCK_DELAY",
    "EVENTS_PER_SECOND",
    "INSERT_P95",
    "JOB",
    "LAG",
    "PROMETHEUS_TYPE",
    "PROMETHEUS_UID",
    "WORKERS_UP",
    "alert_query",
    "panel_query",
    "prometheus_ref",
]

PROMETHEUS_TYPE = "prometheus"
PROMETHEUS_UID = "sqm-prometheus"
JOB = "sqm-worker"

# Messages behind the newest offset, per consumer group and partition. `max` rather than `sum`
# over workers: during a rebalance two workers may both report a partition for a moment.
LAG = "max by (group, topic, partition) (sqm_consumer_lag)"
# How far each worker's event clock (the low watermark) is behind the wall clock.
CLOCK_DELAY = "max by (instance) (sqm_event_clock_delay_seconds)"
# One series per scrape target: 1 while Prometheus can scrape it, 0 when it cannot.
WORKERS_UP = f'up{{job="{JOB}"}}'
EVENTS_PER_SECOND = "sum(rate(sqm_events_read_total[$__rate_interval]))"
# Seconds per ClickHouse insert, a histogram; p95 over all workers.
INSERT_P95 = (
    "histogram_quantile(0.95, "
    "sum by (le) (rate(sqm_clickhouse_insert_seconds_bucket[$__rate_interval])))"
)


def prometheus_ref() -> cm.DataSourceRef:
    return cm.DataSourceRef(type_val=PROMETHEUS_TYPE, uid=PROMETHEUS_UID)


def panel_query(expr: str, legend: str, ref_id: str = "A") -> pb.Dataquery:
    """A range query for a time series panel."""
    return (
        pb.Dataquery()
        .datasource(prometheus_ref())
        .expr(expr)
        .range()
        .legend_format(legend)
        .editor_mode(pm.QueryEditorMode.CODE)
        .ref_id(ref_id)
    )


def alert_query(expr: str) -> pb.Dataquery:
    """An instant query for an alert rule: one value per series, at evaluation time."""
    return (
        pb.Dataquery()
        .datasource(prometheus_ref())
        .expr(expr)
        .instant()
        .editor_mode(pm.QueryEditorMode.CODE)
        .interval_ms(60_000)
        .max_data_points(43_200)
        .ref_id("A")
    )
