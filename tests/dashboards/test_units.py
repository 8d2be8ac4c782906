"""Unit tests of the pieces: the ClickHouse query model, the test macro expander (against the
plugin's own expected expansions), the schema validator, and secrets kept out of reprs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sqm.dashboards.build import dashboard_json
from sqm.dashboards.query import ClickHouseQuery, Format, QueryType, register
from sqm.dashboards.sdk import JSONEncoder, dm, timeseries
from sqm.sinks.grafana import GrafanaTarget
from tests.dashboards.macros import ALL, Context, ExpansionError, expand
from tests.dashboards.schemas import errors, needs_schemas

# --- query model -----------------------------------------------------------------------------


def test_query_json_is_what_the_plugin_saves() -> None:
    query = ClickHouseQuery("SELECT 1", ref_id="B", format=Format.TIME_SERIES)
    assert query.to_json() == {
        "datasource": {"type": "grafana-clickhouse-datasource", "uid": "sqm-clickhouse"},
        "editorType": "sql",
        "format": 0,
        "pluginVersion": "4.20.0",
        "queryType": "timeseries",
        "rawSql": "SELECT 1",
        "refId": "B",
    }
    assert ClickHouseQuery("SELECT 1").query_type is QueryType.TABLE
    assert [int(f) for f in Format] == [0, 1, 2, 3]  # sqlutil.FormatQueryOption order


def test_query_is_its_own_sdk_builder_and_round_trips() -> None:
    query = ClickHouseQuery("SELECT 2", format=Format.TIME_SERIES, hide=True, interval_ms=60000)
    assert query.build() is query
    panel = timeseries.Panel().with_target(query).with_target(query.with_ref_id("B")).build()
    targets = json.loads(json.dumps(panel.targets, cls=JSONEncoder))
    assert [t["refId"] for t in targets] == ["A", "B"] and targets[0]["hide"] is True
    assert ClickHouseQuery.from_json(targets[0]) == query
    with pytest.raises(ValueError, match="not a ClickHouse query"):
        ClickHouseQuery.from_json({"datasource": {"type": "prometheus"}, "expr": "up"})


def test_sdk_decodes_committed_boards_into_the_model() -> None:
    register()
    board = dashboard_json("sqm-ops")
    target = dm.Dashboard.from_json(board).panels[0].targets[0]  # type: ignore[index,union-attr]
    assert isinstance(target, ClickHouseQuery)
    assert target.raw_sql == board["panels"][0]["targets"][0]["rawSql"]


def test_grafana_target_never_shows_the_token() -> None:
    target = GrafanaTarget("https://user:pw@grafana.example.com:3000/sub/", "s3cret")
    assert target.shown_url == "https://grafana.example.com:3000/sub"
    assert "s3cret" not in repr(target) and "pw" not in repr(target)
    assert GrafanaTarget.from_env({"SQM_GRAFANA_URL": "http://g"}) is None
    assert GrafanaTarget.from_env({"SQM_GRAFANA_URL": "http://g", "SQM_GRAFANA_TOKEN": "t"}) == (
        GrafanaTarget("http://g", "t")
    )


# --- the macro expander agrees with the plugin -----------------------------------------------

# Range and expected strings of the plugin's pkg/macros/macros_test.go (TestInterpolate).
PLUGIN = Context(
    datetime(2014, 11, 12, 11, 45, 26, 123000, tzinfo=UTC),
    datetime(2015, 11, 12, 11, 45, 26, 456000, tzinfo=UTC),
    interval_s=20,
)


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("select * from foo where $__timeFilter(cast(sth as timestamp) )",
         "select * from foo where cast(sth as timestamp) >= toDateTime(1415792726) AND "
         "cast(sth as timestamp) <= toDateTime(1447328726)"),
        ("select * from foo where $__timeFilter_ms(cast(sth as timestamp))",
         "select * from foo where cast(sth as timestamp) >= fromUnixTimestamp64Milli("
         "1415792726123) AND cast(sth as timestamp) <= fromUnixTimestamp64Milli(1447328726456)"),
        ("select * from foo where ( date >= $__fromTime ) and ( date <= $__toTime ) limit 100",
         "select * from foo where ( date >= toDateTime(1415792726) ) and "
         "( date <= toDateTime(1447328726) ) limit 100"),
        ("select $__timeInterval(col) from foo",
         "select toStartOfInterval(toDateTime(col), INTERVAL 20 second) from foo"),
        ("select $__timeInterval_ms(col) from foo",
         "select toStartOfInterval(toDateTime64(col, 3), INTERVAL 20000 millisecond) from foo"),
        ("select toStartOfInterval(col, INTERVAL $__interval_s second) AS time from foo",
         "select toStartOfInterval(col, INTERVAL 20 second) AS time from foo"),
        ("select * from foo where $__dateFilter(dateCol)",
         "select * from foo where dateCol >= toDate('2014-11-12') AND dateCol <= "
         "toDate('2015-11-12')"),
    ],
)
def test_backend_macros_expand_like_the_plugin(sql: str, expanded: str) -> None:
    assert expand(sql, PLUGIN) == expanded


def _vars(**values: str | list[str]) -> Context:
    return Context(PLUGIN.time_from, PLUGIN.time_to, 20, values, {"t": ["a", "b"]})


@pytest.mark.parametrize(
    ("sql", "context", "expanded"),
    [
        # All (or empty) removes the condition; nested brackets are kept whole
        ("WHERE $__conditionalAll(x IN (${t:singlequote}), $t)", _vars(t=[ALL]), "WHERE 1=1"),
        ("WHERE $__conditionalAll(x IN (${t:singlequote}), $t)", _vars(t=""), "WHERE 1=1"),
        ("WHERE $__conditionalAll((x = '' OR x IN (${t:singlequote})), $t)", _vars(t=["a"]),
         "WHERE (x = '' OR x IN ('a'))"),
        ("WHERE $__conditionalAll(f(x, y) = 1, $t)", _vars(t="a"), "WHERE f(x, y) = 1"),
        # singlequote escapes quotes; the plugin's default format joins lists unescaped
        ("IN (${t:singlequote})", _vars(t=["a", "o'b"]), "IN ('a','o\\'b')"),
        ("IN ($t)", _vars(t=["a", "b"]), "IN ('a','b')"),
        ("INTERVAL 1 ${t}", _vars(t="day"), "INTERVAL 1 day"),
        # All outside $__conditionalAll: every option's value
        ("IN (${t:singlequote})", _vars(t=[ALL]), "IN ('a','b')"),
    ],
)
def test_frontend_expansion_like_grafana_and_the_plugin(
    sql: str, context: Context, expanded: str
) -> None:
    assert expand(sql, context) == expanded


@pytest.mark.parametrize(
    "sql", ["SELECT $unknown", "SELECT $__timeGroup(x, '1m')", "SELECT $__timeFilter(a, b)"]
)
def test_expander_refuses_what_would_reach_clickhouse_unexpanded(sql: str) -> None:
    with pytest.raises(ExpansionError):
        expand(sql, _vars())


# --- the schema check is not vacuous ---------------------------------------------------------


@needs_schemas
def test_validator_rejects_broken_boards_and_rules() -> None:
    board = dashboard_json("sqm-ops")
    board["panels"][0]["gridPos"]["w"] = 30  # wider than the 24-column grid
    board["templating"]["list"][0]["refresh"] = 7
    board["bogus"] = True
    found = errors("dashboard", None, board)
    assert any("bogus" in e for e in found) and len(found) >= 3
    rule = {"title": "x", "condition": "C", "data": [{"refId": "A", "relativeTimeRange": {
        "from": "10m"}}]}
    assert errors("alerting", "Rule", rule)  # missing fields, from must be seconds
    assert errors("expr", None, {"type": "reduce", "expression": "A", "reducer": "avg"})
