"""Grafana-managed alert rules, written as a file-provisioning document.

Each rule is built with the SDK (`alerting.Rule`, the HTTP API's shape, which is what the JSON
Schema describes) and then laid out in Grafana's file-provisioning format (`groups:` with
`orgId`/`name`/`folder`/`interval`). Every rule is A → B → C: A a ClickHouse (or, for the
pipeline rules of dashboards/pipeline_rules.py, Prometheus) query with an explicit relative time
range, B a server-side `reduce`, C a server-side `threshold`.

Alert queries run in Grafana's backend: no dashboard variables, and the bucket size is spelled
out in SQL (`$__timeInterval` would follow `intervalMs`, which alerting sets per query).
"""

from __future__ import annotations

import json
from typing import Any

from sqm.dashboards import ops, pipeline_rules
from sqm.dashboards.query import DATASOURCE_UID, ClickHouseQuery, Format
from sqm.dashboards.rule_spec import RuleSpec
from sqm.dashboards.sdk import JSONEncoder, ab, am, cm, eb
from sqm.dashboards.sql import ABANDON_RATE, ABANDON_RATE_LIMIT, SERVICE_LEVEL, SERVICE_LEVEL_TARGET

__all__ = ["FOLDER", "FOLDER_UID", "GROUP", "ORG_ID", "SPECS", "provisioning_document", "rules"]

# File provisioning names the folder by title, the API by uid; the dashboards provider
# (deploy/grafana/provisioning/dashboards/sqm.yaml) creates it with both.
FOLDER = "SQM"
FOLDER_UID = "sqm"
GROUP = "sqm"
GROUP_INTERVAL = "1m"
ORG_ID = 1
EXPR = cm.DataSourceRef(type_val="__expr__", uid="__expr__")


def _alert_query(sql: str, fmt: Format) -> ClickHouseQuery:
    # What Grafana's rule editor stores: a 1-minute interval and its default point budget.
    return ClickHouseQuery(sql, format=fmt, interval_ms=60_000, max_data_points=43_200)


def _per_tenant_channel(expression: str, alias: str) -> ClickHouseQuery:
    """`alias` per tenant and channel in 5-minute buckets; labels: tenant_id, channel."""
    return _alert_query(
        f"""SELECT
    toStartOfInterval(window_start, INTERVAL 5 minute) AS time,
    tenant_id,
    channel,
    {expression} AS {alias}
FROM sqm.sla_1m FINAL
WHERE $__timeFilter(window_start)
GROUP BY time, tenant_id, channel
ORDER BY time, tenant_id, channel""",
        Format.TIME_SERIES,
    )


SERVICE_LEVEL_QUERY = _per_tenant_channel(SERVICE_LEVEL, "service_level")
ABANDON_RATE_QUERY = _per_tenant_channel(ABANDON_RATE, "abandon_rate")
# One number per tenant that has alerts ('' = alerts not scoped to a tenant). The '' row is
# always there, so "nothing firing" is a 0 and no rows at all can only mean a broken query.
CRITICAL_FIRING_QUERY = _alert_query(
    """SELECT tenant_id, countIf(state = 'firing' AND severity = 'critical') AS critical_firing
FROM
(
    SELECT tenant_id, state, severity FROM sqm.alerts FINAL
    UNION ALL
    SELECT '' AS tenant_id, '' AS state, '' AS severity
)
GROUP BY tenant_id
ORDER BY tenant_id""",
    Format.TABLE,
)
# Per tenant, channel and queue, the better gap (actual − needed agents) of the last two complete
# 15-minute intervals: below 0 only when both were understaffed, i.e. for 30 minutes. Only where
# both intervals have a gap: no traffic, or no handle time yet, is not understaffing.
UNDERSTAFFED_QUERY = _alert_query(
    """SELECT
    tenant_id,
    channel,
    queue,
    assumeNotNull(max(agents_gap)) AS gap
FROM sqm.staffing_15m
WHERE interval_start >= toStartOfInterval($__toTime, INTERVAL 15 MINUTE) - INTERVAL 30 MINUTE
  AND interval_start < toStartOfInterval($__toTime, INTERVAL 15 MINUTE)
GROUP BY tenant_id, channel, queue
HAVING count(agents_gap) = 2
ORDER BY tenant_id, channel, queue""",
    Format.TABLE,
)


SPECS = (
    RuleSpec(
        uid="sqm-service-level-low",
        title="SQM service level below target",
        query=SERVICE_LEVEL_QUERY,
        datasource_uid=DATASOURCE_UID,
        # The latest 5-minute bucket with traffic (dropNN skips empty ones), held for 10 min.
        lookback_s=30 * 60,
        reducer="last",
        op="lt",
        limit=SERVICE_LEVEL_TARGET,
        pending="10m",
        severity="warning",
        summary="Service level {{ humanizePercentage $values.B.Value }} on "
        "{{ $labels.tenant_id }} / {{ $labels.channel }} (target "
        f"{SERVICE_LEVEL_TARGET:.0%}).",
        panel_id=5,
        # No rows: no traffic anywhere in the range (a quiet night) or nothing written. Keep
        # the last state: a firing alert does not resolve because data stopped; a stopped
        # pipeline is the freshness rules' to report.
        no_data="KeepLast",
    ),
    RuleSpec(
        uid="sqm-abandon-rate-high",
        title="SQM abandonment rate high",
        query=ABANDON_RATE_QUERY,
        datasource_uid=DATASOURCE_UID,
        lookback_s=30 * 60,
        reducer="last",
        op="gt",
        limit=ABANDON_RATE_LIMIT,
        pending="10m",
        severity="warning",
        summary="Abandonment rate {{ humanizePercentage $values.B.Value }} on "
        "{{ $labels.tenant_id }} / {{ $labels.channel }} (limit "
        f"{ABANDON_RATE_LIMIT:.0%}).",
        panel_id=8,
        no_data="KeepLast",  # as above
    ),
    RuleSpec(
        uid="sqm-critical-alerts-firing",
        title="SQM critical alerts firing",
        query=CRITICAL_FIRING_QUERY,
        datasource_uid=DATASOURCE_UID,
        lookback_s=10 * 60,  # not used by the SQL (current state), required by alerting
        reducer="last",  # a no-op on a number; keeps every rule A → B → C
        op="gt",
        limit=0,
        pending="0s",
        severity="critical",
        summary="{{ $values.B.Value }} critical SQM alert(s) firing for tenant "
        '"{{ $labels.tenant_id }}" (empty: not tenant-scoped).',
        panel_id=10,
        no_data="Alerting",  # the query always has the '' row
    ),
    RuleSpec(
        uid="sqm-understaffed",
        title="SQM queue understaffed",
        query=UNDERSTAFFED_QUERY,
        datasource_uid=DATASOURCE_UID,
        # The SQL reads the two 15-minute intervals before the current one (up to 45 min back).
        lookback_s=45 * 60,
        reducer="last",  # one number per label set already
        op="lt",
        limit=0,
        pending="0s",  # the query itself asks for 30 minutes understaffed
        severity="warning",
        summary="{{ $labels.tenant_id }} / {{ $labels.channel }} / {{ $labels.queue }}: "
        "fewer agents handling than Erlang C needs for "
        f"{SERVICE_LEVEL_TARGET:.0%} within the target in each of the last two 15-minute "
        "intervals (gap {{ $values.B.Value }}).",
        panel_id=11,
        # No rows: no queue had a known gap in both intervals (no traffic); as above.
        no_data="KeepLast",
    ),
    *pipeline_rules.SPECS,
)


def _rule(spec: RuleSpec) -> ab.Rule:
    reduce = (
        eb.TypeReduce()
        .ref_id("B")
        .datasource(EXPR)
        .expression("A")
        .reducer(spec.reducer)
        .settings(eb.ExprTypeReduceSettings().mode("dropNN"))
    )
    evaluator = eb.ExprTypeThresholdConditionsEvaluator().type(spec.op).params([spec.limit])
    threshold = (
        eb.TypeThreshold()
        .ref_id("C")
        .datasource(EXPR)
        .expression("B")
        .conditions([eb.ExprTypeThresholdConditions().evaluator(evaluator)])
    )
    return (
        ab.Rule(spec.title)
        .uid(spec.uid)
        .org_id(ORG_ID)
        .folder_uid(FOLDER_UID)
        .rule_group(GROUP)
        .condition("C")
        .queries(
            [
                ab.Query("A")
                .datasource_uid(spec.datasource_uid)
                .relative_time_range(am.RelativeTimeRange(from_val=spec.lookback_s, to=0))
                .model(spec.query),
                ab.Query("B").datasource_uid("__expr__").model(reduce),
                ab.Query("C").datasource_uid("__expr__").model(threshold),
            ]
        )
        .for_val(spec.pending)
        # Never OK (docs/dashboards.md, "No data"): each rule says what silence means for it.
        .no_data_state(spec.no_data)
        .exec_err_state(spec.exec_err)
        .labels({"severity": spec.severity, "source": "sqm"})
        .annotations(
            {
                "summary": spec.summary,
                "__dashboardUid__": ops.UID,
                "__panelId__": str(spec.panel_id),
            }
        )
    )


def rules() -> list[dict[str, Any]]:
    """The rules in the HTTP API's shape (validated against alerting.jsonschema.json)."""
    return [_to_json(_rule(spec).build()) for spec in SPECS]


def _to_json(model: object) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return decoded


def _file_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """API shape → file-provisioning shape (pkg/services/provisioning/alerting/rules_types.go)."""
    annotations = dict(rule["annotations"])
    dashboard_uid = annotations.pop("__dashboardUid__")
    panel_id = int(annotations.pop("__panelId__"))
    return {
        "uid": rule["uid"],
        "title": rule["title"],
        "condition": rule["condition"],
        "data": rule["data"],
        "dashboardUid": dashboard_uid,
        "panelId": panel_id,
        "noDataState": rule["noDataState"],
        "execErrState": rule["execErrState"],
        "for": rule["for"],
        "annotations": annotations,
        "labels": rule["labels"],
        "isPaused": False,
    }


def provisioning_document() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": ORG_ID,
                "name": GROUP,
                "folder": FOLDER,
                "interval": GROUP_INTERVAL,
                "rules": [_file_rule(rule) for rule in rules()],
            }
        ],
    }
