"""Alert rules on the pipeline itself: stopped writing, stopped receiving, lagging, down.

Each one treats silence as a failure: no rows (or no series) is Alerting, a failing query is
an Error, so a dead pipeline, a dead Prometheus or a wrong data source never looks healthy.
"""

from __future__ import annotations

from sqm.dashboards import prometheus as prom
from sqm.dashboards.pipeline import (
    CLOCK_DELAY_LIMIT_S,
    EVENT_AGE_LIMIT_S,
    EVENT_LOOKBACK_S,
    LAG_LIMIT,
    LOOKBACK_S,
    PANEL_IDS,
    TENANT_STALE_LIMIT_S,
    event_age_query,
    tenant_freshness_query,
)
from sqm.dashboards.query import DATASOURCE_UID
from sqm.dashboards.rule_spec import RuleSpec

__all__ = ["SPECS"]


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min"


SPECS = (
    RuleSpec(
        uid="sqm-tenant-stale",
        title="SQM pipeline stale for a tenant",
        query=tenant_freshness_query(),
        datasource_uid=DATASOURCE_UID,
        lookback_s=LOOKBACK_S,  # the SQL bounds itself from $__toTime; alerting wants a range
        reducer="last",  # one number per tenant already
        op="gt",
        limit=TENANT_STALE_LIMIT_S,
        pending="5m",
        severity="warning",
        summary="Nothing written for tenant {{ $labels.tenant_id }} for "
        "{{ humanizeDuration $values.B.Value }} (limit "
        f"{_minutes(TENANT_STALE_LIMIT_S)}): the pipeline is stopped, stuck, or the tenant "
        "sends nothing.",
        panel_id=PANEL_IDS["freshness"],
        no_data="Alerting",  # no tenant wrote anything for LOOKBACK_S
    ),
    RuleSpec(
        uid="sqm-events-stale",
        title="SQM no new events",
        query=event_age_query(),
        datasource_uid=DATASOURCE_UID,
        lookback_s=EVENT_LOOKBACK_S,
        reducer="last",
        op="gt",
        limit=EVENT_AGE_LIMIT_S,
        pending="5m",
        severity="critical",
        summary="The newest event stored is {{ humanizeDuration $values.B.Value }} old (limit "
        f"{_minutes(EVENT_AGE_LIMIT_S)}): producers, Kafka or the workers have stopped.",
        panel_id=PANEL_IDS["newest_event"],
        no_data="Alerting",  # cannot happen (one row always); if it does, it is a fault
    ),
    RuleSpec(
        uid="sqm-consumer-lag-high",
        title="SQM consumer lag high",
        query=prom.alert_query(prom.LAG),
        datasource_uid=prom.PROMETHEUS_UID,
        lookback_s=10 * 60,
        reducer="last",
        op="gt",
        limit=LAG_LIMIT,
        pending="10m",
        severity="warning",
        summary="{{ $labels.group }} is {{ $values.B.Value }} messages behind on "
        "{{ $labels.topic }}[{{ $labels.partition }}] (limit "
        f"{LAG_LIMIT:,}).",
        panel_id=PANEL_IDS["lag"],
        no_data="Alerting",  # no lag series: no worker reports metrics
    ),
    RuleSpec(
        uid="sqm-event-clock-delay-high",
        title="SQM event clock behind",
        query=prom.alert_query(prom.CLOCK_DELAY),
        datasource_uid=prom.PROMETHEUS_UID,
        lookback_s=10 * 60,
        reducer="last",
        op="gt",
        limit=CLOCK_DELAY_LIMIT_S,
        pending="5m",
        severity="warning",
        summary="The event clock of {{ $labels.instance }} is "
        "{{ humanizeDuration $values.B.Value }} behind the wall clock (limit "
        f"{_minutes(CLOCK_DELAY_LIMIT_S)}).",
        panel_id=PANEL_IDS["clock_delay"],
        no_data="Alerting",
    ),
    RuleSpec(
        uid="sqm-worker-down",
        title="SQM worker down",
        query=prom.alert_query(prom.WORKERS_UP),
        datasource_uid=prom.PROMETHEUS_UID,
        lookback_s=10 * 60,
        reducer="last",
        op="lt",
        limit=1,  # up is 0 or 1
        pending="2m",
        severity="critical",
        summary="Prometheus cannot scrape worker {{ $labels.instance }} (job "
        f"{prom.JOB}); with no worker scraped at all, this rule reports no data as Alerting.",
        panel_id=PANEL_IDS["workers_up"],
        no_data="Alerting",  # `up` absent: no worker is scraped at all
    ),
)
