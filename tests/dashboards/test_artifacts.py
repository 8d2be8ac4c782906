"""The committed Grafana files: up to date, valid against Grafana's JSON Schemas, and every
ClickHouse target well-formed for the plugin.

The schemas are Grafana's own (grafana-foundation-sdk's `jsonschema/`), kept outside the
project at ../shared/grafana-jsonschema/ relative to the repository root; that layer is skipped
when the folder is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sqm.dashboards import alerts, pipeline
from sqm.dashboards.build import PROJECT_ROOT, render
from sqm.dashboards.prometheus import PROMETHEUS_TYPE, PROMETHEUS_UID
from sqm.dashboards.query import DATASOURCE_TYPE, DATASOURCE_UID
from tests.dashboards.schemas import SCHEMA_DIR, errors, needs_schemas
from tests.dashboards.targets import (
    Target,
    all_targets,
    committed_alerts,
    committed_boards,
    panels,
    prometheus_targets,
)

BOARDS = committed_boards()
ALERTS = committed_alerts()
TARGETS = all_targets()
CH_REF = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
PROM_REF = {"type": PROMETHEUS_TYPE, "uid": PROMETHEUS_UID}


# --- the committed files are a fresh build ---------------------------------------------------


def test_committed_files_equal_a_fresh_build() -> None:
    stale = [
        str(path)
        for path, text in render().items()
        if not (PROJECT_ROOT / path).is_file() or (PROJECT_ROOT / path).read_text() != text
    ]
    assert not stale, f"stale generated files, run `sqm dashboards build`: {stale}"


def test_board_uids_titles_and_panel_ids_are_fixed_and_unique() -> None:
    assert sorted(BOARDS) == ["sqm-analyst", "sqm-ops", "sqm-scorecard"]
    for uid, board in BOARDS.items():
        assert board["uid"] == uid and board.get("id") is None  # never an instance-local id
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), uid
        names = [v["name"] for v in board["templating"]["list"]]
        assert names[:3] == ["tenant", "channel", "queue"]


# --- JSON Schemas ----------------------------------------------------------------------------


@needs_schemas
@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_board_validates_against_dashboard_schema(uid: str) -> None:
    assert errors("dashboard", None, BOARDS[uid]) == []


@needs_schemas
@pytest.mark.parametrize("uid", sorted(BOARDS))
def test_panel_options_validate_against_their_panel_schema(uid: str) -> None:
    checked = 0
    rows = [p for p in panels(BOARDS[uid]) if p["type"] == "row"]  # the dashboard schema's
    for panel in panels(BOARDS[uid]):
        if panel["type"] == "row":
            continue
        kind = panel["type"]
        assert (SCHEMA_DIR / f"{kind}.jsonschema.json").is_file(), f"no schema for {kind}"
        assert errors(kind, "Options", panel.get("options", {})) == [], (uid, panel["id"])
        custom = panel["fieldConfig"]["defaults"].get("custom")
        if custom is not None:
            assert errors(kind, "FieldConfig", custom) == [], (uid, panel["id"])
        checked += 1
    assert checked + len(rows) == len(list(panels(BOARDS[uid])))


def _api_rule(group: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
    """File-provisioning rule → the HTTP API's rule, which the alerting schema describes."""
    api = {k: v for k, v in rule.items() if k not in ("dashboardUid", "panelId")}
    api["annotations"] = {
        **rule["annotations"],
        "__dashboardUid__": rule["dashboardUid"],
        "__panelId__": str(rule["panelId"]),
    }
    scope = {"orgID": group["orgId"], "folderUID": alerts.FOLDER_UID, "ruleGroup": group["name"]}
    return api | scope


def _file_rules() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(group, rule) for group in ALERTS["groups"] for rule in group["rules"]]


@needs_schemas
def test_alert_rules_validate_against_alerting_and_expression_schemas() -> None:
    assert ALERTS["apiVersion"] == 1
    for group, rule in _file_rules():
        assert errors("alerting", "Rule", _api_rule(group, rule)) == [], rule["uid"]
        for query in rule["data"]:
            assert errors("alerting", "Query", query) == [], (rule["uid"], query["refId"])
            if query["datasourceUid"] == "__expr__":
                assert errors("expr", None, query["model"]) == [], (rule["uid"], query["refId"])
    for rule in alerts.rules():  # the SDK's API-shaped rules, before the file layout
        assert errors("alerting", "Rule", rule) == [], rule["uid"]


# --- alert rules: shape Grafana's backend needs ----------------------------------------------


def test_alert_rules_are_query_reduce_threshold_with_explicit_ranges() -> None:
    uids = [rule["uid"] for _, rule in _file_rules()]
    assert uids == [
        "sqm-service-level-low",
        "sqm-abandon-rate-high",
        "sqm-critical-alerts-firing",
        "sqm-understaffed",
        "sqm-tenant-stale",
        "sqm-events-stale",
        "sqm-consumer-lag-high",
        "sqm-event-clock-delay-high",
        "sqm-worker-down",
    ]
    for group, rule in _file_rules():
        assert (group["orgId"], group["name"], group["folder"]) == (1, "sqm", "SQM")
        assert re.fullmatch(r"\d+[smh]", group["interval"])
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        a, b, c = rule["data"]
        assert [q["refId"] for q in rule["data"]] == ["A", "B", "C"] and rule["condition"] == "C"
        assert a["datasourceUid"] in (DATASOURCE_UID, PROMETHEUS_UID)
        assert a["model"]["datasource"]["uid"] == a["datasourceUid"]
        assert a["relativeTimeRange"]["from"] > 0
        assert a["relativeTimeRange"]["to"] == 0 and a["model"]["intervalMs"] == 60_000
        assert b["model"]["type"] == "reduce" and b["model"]["expression"] == "A"
        assert c["model"]["type"] == "threshold" and c["model"]["expression"] == "B"
        assert rule["dashboardUid"] == "sqm-ops" and isinstance(rule["panelId"], int)
        # Grafana expands ${VAR} in provisioned annotations and $VAR in titles/labels.
        assert "${" not in json.dumps(rule["annotations"])
        assert "$" not in rule["title"] + json.dumps(rule["labels"])


def test_no_rule_is_silently_ok_without_data_or_on_errors() -> None:
    """A rule that cannot see its data never reads as healthy (docs/dashboards.md, "No data")."""
    states = {rule["uid"]: (rule["noDataState"], rule["execErrState"]) for _, rule in _file_rules()}
    assert all(no_data != "OK" and err != "OK" for no_data, err in states.values()), states
    pipeline = ("sqm-tenant-stale", "sqm-events-stale", "sqm-consumer-lag-high",
                "sqm-event-clock-delay-high", "sqm-worker-down")
    assert {states[uid] for uid in pipeline} == {("Alerting", "Error")}
    assert states["sqm-critical-alerts-firing"] == ("Alerting", "Error")
    for uid in ("sqm-service-level-low", "sqm-abandon-rate-high", "sqm-understaffed"):
        assert states[uid] == ("KeepLast", "Error"), uid


def test_pipeline_rules_link_to_the_pipeline_row_and_use_its_limits() -> None:
    rules = {rule["uid"]: rule for _, rule in _file_rules()}
    row = {p["id"]: p for p in panels(BOARDS["sqm-ops"])}
    expected = {
        "sqm-tenant-stale": ("Freshness per tenant", pipeline.TENANT_STALE_LIMIT_S, "gt"),
        "sqm-events-stale": ("Newest event, age", pipeline.EVENT_AGE_LIMIT_S, "gt"),
        "sqm-consumer-lag-high": ("Consumer lag", pipeline.LAG_LIMIT, "gt"),
        "sqm-event-clock-delay-high": ("Event clock delay", pipeline.CLOCK_DELAY_LIMIT_S, "gt"),
        "sqm-worker-down": ("Workers scraped", 1, "lt"),
    }
    for uid, (title, limit, op) in expected.items():
        assert row[rules[uid]["panelId"]]["title"] == title, uid
        evaluator = rules[uid]["data"][2]["model"]["conditions"][0]["evaluator"]
        assert (evaluator["type"], evaluator["params"]) == (op, [limit]), uid
    assert (pipeline.TENANT_STALE_LIMIT_S, pipeline.EVENT_AGE_LIMIT_S) == (1800, 900)
    assert (pipeline.LAG_LIMIT, pipeline.CLOCK_DELAY_LIMIT_S) == (10_000, 600)


def test_alert_queries_use_no_dashboard_variables() -> None:
    for target in TARGETS:
        if target.origin == "alert":
            assert not re.search(r"\$(?!__)\w+|\$\{|\$__conditionalAll", target.sql), target.key


# --- every ClickHouse target, strictly -------------------------------------------------------

_ALLOWED_KEYS = {
    "datasource", "editorType", "format", "pluginVersion", "queryType", "rawSql", "refId", "hide"
}
_QUERY_TYPE = {0: "timeseries", 1: "table", 2: "logs", 3: "traces"}


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.key)
def test_clickhouse_target_is_well_formed(target: Target) -> None:
    assert target.sql.strip() == target.sql and target.sql.upper().startswith("SELECT")
    if target.json is not None:
        alert_only = {"intervalMs", "maxDataPoints"} if target.origin == "alert" else set()
        allowed = _ALLOWED_KEYS | alert_only
        assert set(target.json) <= allowed, set(target.json) - allowed
        assert target.json["datasource"] == CH_REF
        assert target.json["editorType"] == "sql"
        assert target.json["pluginVersion"].startswith("4.")  # else migrated as a v3 query
        assert target.json["format"] in _QUERY_TYPE
        assert target.json["queryType"] == _QUERY_TYPE[target.json["format"]]
        assert isinstance(target.json["refId"], str) and target.json["refId"]
    expected_format = {"timeseries": 0, "stat": 1, "table": 1}
    if target.panel_type is not None:
        assert target.format == expected_format[target.panel_type]
    # Filters on variables are quoted by Grafana, never pasted raw into SQL.
    assert not re.search(r"IN \(\$\w+\)|IN \(\$\{\w+\}\)", target.sql)


def test_ref_ids_are_unique_per_panel_and_datasources_fixed() -> None:
    for uid, board in BOARDS.items():
        for panel in panels(board):
            if panel["type"] == "row":
                assert "targets" not in panel and not panel.get("panels"), (uid, panel["id"])
                continue
            refs = [t["refId"] for t in panel.get("targets", [])]
            assert refs and len(refs) == len(set(refs)), (uid, panel["id"])
            assert panel["datasource"] in (CH_REF, PROM_REF), (uid, panel["id"])
            assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                assert variable["datasource"] == CH_REF and isinstance(variable["query"], str)
                assert variable["current"]["value"] == ["$__all"] and variable["includeAll"]
        assert "${datasource}" not in json.dumps(board)
    for _, rule in _file_rules():
        refs = [q["refId"] for q in rule["data"]]
        assert len(refs) == len(set(refs))


def test_boards_and_rules_cover_the_required_content() -> None:
    ops = {p["title"] for p in panels(BOARDS["sqm-ops"])}
    assert {"Service level by channel", "Service level by queue", "Backlog", "Firing alerts",
            "Abandonment rate by channel", "Wait to first answer, p50 / p90"} <= ops
    names = [a["name"] for a in BOARDS["sqm-ops"]["annotations"]["list"]]
    assert names == ["Annotations & Alerts", "SQM alerts"]
    analyst = {p["title"] for p in panels(BOARDS["sqm-analyst"])}
    assert {"Offered and answered", "Service level", "Repeat-contact rate", "Bot containment",
            "Satisfied (CSAT 4–5)", "CSAT by tenant and channel",
            "Dead letters by reason"} <= analyst
    row = [p for p in BOARDS["sqm-ops"]["panels"] if p["type"] == "row"]
    assert [(r["title"], r["collapsed"]) for r in row] == [("Pipeline health", False)]
    below = [p for p in BOARDS["sqm-ops"]["panels"] if p["gridPos"]["y"] > row[0]["gridPos"]["y"]]
    assert {p["title"] for p in below} == {
        "Freshness per tenant", "Newest event, age", "Dead letters per minute, by reason",
        "Dropped corrections", "Consumer lag", "Event clock delay",
        "ClickHouse insert latency, p95", "Events read per second", "Workers scraped"}
    assert all(p["gridPos"]["y"] < row[0]["gridPos"]["y"]
               for p in BOARDS["sqm-ops"]["panels"] if p not in below and p is not row[0])
    sl_panel = next(p for p in panels(BOARDS["sqm-ops"]) if p["id"] == 5)
    steps = sl_panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[1]["value"] == 0.8
    assert sl_panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_provisioning_files_point_at_the_generated_artifacts() -> None:
    import yaml

    base = PROJECT_ROOT / "deploy/grafana/provisioning"
    ds = yaml.safe_load((base / "datasources/clickhouse.yaml").read_text())["datasources"]
    assert [(d["uid"], d["type"]) for d in ds] == [(DATASOURCE_UID, DATASOURCE_TYPE)]
    prom = yaml.safe_load((base / "datasources/prometheus.yaml").read_text())["datasources"]
    assert [(d["uid"], d["type"], d["url"]) for d in prom] == [
        (PROMETHEUS_UID, "prometheus", "${SQM_GRAFANA_PROMETHEUS_URL}")]
    assert not prom[0]["isDefault"]
    assert ds[0]["jsonData"]["username"] == "${SQM_GRAFANA_CH_USER}"
    assert ds[0]["secureJsonData"]["password"] == "${SQM_GRAFANA_CH_PASSWORD}"
    assert ds[0]["jsonData"]["host"] == "${SQM_GRAFANA_CH_HOST}"
    provider = yaml.safe_load((base / "dashboards/sqm.yaml").read_text())["providers"][0]
    assert (provider["folder"], provider["folderUid"]) == (alerts.FOLDER, alerts.FOLDER_UID)
    assert Path(provider["options"]["path"]).name == "sqm"


# --- Prometheus queries: shape and text only (no Prometheus runs here) ------------------------

PROM_EXPECTED = {
    "sqm-ops/panel/17/A": "max by (group, topic, partition) (sqm_consumer_lag)",
    "sqm-ops/panel/18/A": "max by (instance) (sqm_event_clock_delay_seconds)",
    "sqm-ops/panel/19/A": "histogram_quantile(0.95, sum by (le) "
    "(rate(sqm_clickhouse_insert_seconds_bucket[$__rate_interval])))",
    "sqm-ops/panel/20/A": "sum(rate(sqm_events_read_total[$__rate_interval]))",
    "sqm-ops/panel/21/A": 'up{job="sqm-worker"}',
    "alert/sqm-consumer-lag-high/A": "max by (group, topic, partition) (sqm_consumer_lag)",
    "alert/sqm-event-clock-delay-high/A": "max by (instance) (sqm_event_clock_delay_seconds)",
    "alert/sqm-worker-down/A": 'up{job="sqm-worker"}',
}


def test_prometheus_queries_are_exactly_these() -> None:
    found = prometheus_targets()
    assert {key: query["expr"] for key, query in found.items()} == PROM_EXPECTED
    for key, query in found.items():
        assert query["datasource"] == PROM_REF, key
        alert = key.startswith("alert/")
        # Rules read one value per series at evaluation time; panels draw ranges.
        assert (query["instant"], query["range"]) == ((True, False) if alert else (False, True))
        assert "$__rate_interval" not in query["expr"] or not alert, key


@needs_schemas
def test_prometheus_queries_validate_against_the_prometheus_schema() -> None:
    for key, query in prometheus_targets().items():
        assert errors("prometheus", "Dataquery", query) == [], key
