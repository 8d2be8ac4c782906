"""Every board, variable, annotation and alert query, expanded like Grafana and the ClickHouse
plugin expand them (tests/dashboards/macros.py) and run on chDB against the seeded store of
tests/dashboards/seed.py, whose docstring derives the service-level numbers by hand.

chDB runs one engine per process on one data directory: the module shares one store and closes
it at the end, so other modules can open theirs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import load_migrations, migrate
from sqm.sinks.writer import ClickHouseWriter
from tests.dashboards import seed
from tests.dashboards.expected import CASES, COLUMNS, EVERYTHING, Case
from tests.dashboards.macros import Context, Value, expand
from tests.dashboards.seed import BEFORE, FROM, at
from tests.dashboards.targets import Target, all_targets, committed_alerts

pytestmark = pytest.mark.integration

TARGETS = {t.key: t for t in all_targets()}
ALERT_NOW = at(0, 35)  # alert rules evaluate "now" = 00:35 (expected.py's alert cases)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    client = connect(f"chdb://{tmp_path_factory.mktemp('chdb-dashboards')}")
    try:
        assert migrate(client) == [m.name for m in load_migrations()]
        ClickHouseWriter(client).write(seed.BATCH)
        yield client
    finally:
        client.close()  # frees the engine for other modules' directories


def _context(target: Target, variables: Mapping[str, Value],
             now: datetime = ALERT_NOW) -> Context:
    if target.relative_time_range is not None:  # alert: Grafana's backend, no variables
        span = target.relative_time_range
        interval = (target.json or {}).get("intervalMs", 1000) / 1000
        return Context(
            now - timedelta(seconds=span["from"]),
            now - timedelta(seconds=span["to"]),
            interval,
        )
    # All expands to every option the variable query offers (only outside $__conditionalAll).
    options = {"tenant": ["t1", "t2"], "channel": ["chat", "email", "phone"],
               "queue": ["billing", "general", "support"]}
    return Context(FROM, seed.TO, 3600, variables, options)


def _run(store: Client, target: Target, variables: Mapping[str, Value],
         now: datetime = ALERT_NOW) -> Any:
    return store.query(expand(target.sql, _context(target, variables, now)))


# --- columns and types, for every query ------------------------------------------------------


def test_every_query_has_expected_columns() -> None:
    assert sorted(COLUMNS) == sorted(TARGETS)


@pytest.mark.parametrize("key", sorted(TARGETS))
def test_query_columns_and_types(store: Client, key: str) -> None:
    result = _run(store, TARGETS[key], EVERYTHING)
    actual = list(zip(result.column_names, [t.name for t in result.column_types], strict=True))
    assert actual == COLUMNS[key]


# --- values, worked out by hand (seed.py, expected.py) ---------------------------------------


def test_every_query_has_a_hand_computed_case() -> None:
    assert {case.key for case in CASES} == set(TARGETS)


def _same(actual: Sequence[Sequence[Any]], expected: Sequence[Sequence[Any]]) -> bool:
    if len(actual) != len(expected):
        return False
    for got_row, want_row in zip(actual, expected, strict=True):
        if len(got_row) != len(want_row):
            return False
        for got, want in zip(got_row, want_row, strict=True):
            if isinstance(want, float) and isinstance(got, float):
                if not math.isclose(got, want, rel_tol=1e-12):
                    return False
            elif got != want or (type(got) is not type(want) and want is not None):
                return False
    return True


@pytest.mark.parametrize("case", CASES, ids=str)
def test_query_returns_hand_computed_rows(store: Client, case: Case) -> None:
    rows = _run(store, TARGETS[case.key], case.variables, case.now or ALERT_NOW).result_rows
    assert _same(rows, case.rows), f"{case.why}\n got: {rows}\nwant: {case.rows}"


def test_outside_rows_are_really_in_the_store(store: Client) -> None:
    """The filters above are tested, not vacuous: the out-of-range rows exist."""
    assert store.command("SELECT count() FROM sqm.sla_1m FINAL WHERE window_start < "
                         "{t:DateTime('UTC')}", parameters={"t": FROM}) == 1
    assert store.command("SELECT count() FROM sqm.dead_letters WHERE received_at = "
                         "{t:DateTime64(3, 'UTC')}", parameters={"t": BEFORE}) == 1


# --- alert rules end to end: query, then the file's reduce and threshold ---------------------


def _evaluate(rule: dict[str, Any], rows: list[tuple[Any, ...]], names: list[str]) -> set[Any]:
    """Which label sets fire: reduce B (last, dropNN) then threshold C, as in the file."""
    reduce, threshold = rule["data"][1]["model"], rule["data"][2]["model"]
    assert (reduce["reducer"], reduce["settings"]["mode"]) == ("last", "dropNN")
    evaluator = threshold["conditions"][0]["evaluator"]
    value_index = len(names) - 1
    labels = [i for i, n in enumerate(names) if n != "time" and i != value_index]
    last: dict[tuple[Any, ...], float] = {}
    for row in rows:  # ordered by time
        if row[value_index] is not None:
            last[tuple(row[i] for i in labels)] = row[value_index]
    compare = {"gt": float.__gt__, "lt": float.__lt__}[evaluator["type"]]
    return {key for key, value in last.items() if compare(float(value), evaluator["params"][0])}


@pytest.mark.parametrize(
    ("uid", "firing"),
    [
        ("sqm-service-level-low", {("t1", "chat"), ("t2", "email"), ("t1", "phone")}),
        ("sqm-abandon-rate-high", {("t1", "chat")}),  # 1/3 > 10%; the others abandon nothing
        ("sqm-critical-alerts-firing", {("t1",)}),
        ("sqm-understaffed", {("t1", "chat", "billing")}),  # support is +1, t2 unknown
    ],
)
def test_alert_rule_fires_for_hand_computed_series(
    store: Client, uid: str, firing: set[Any]
) -> None:
    rule = next(r for g in committed_alerts()["groups"] for r in g["rules"] if r["uid"] == uid)
    result = _run(store, TARGETS[f"alert/{uid}/A"], {})
    assert _evaluate(rule, result.result_rows, list(result.column_names)) == firing


@pytest.mark.parametrize(
    ("uid", "now", "firing"),
    [
        # limit 30 min: at 01:50 t1 wrote 10 min ago, t2 95 min ago; at 02:30, 50 and 135 min
        ("sqm-tenant-stale", at(1, 50), {("t2",)}),
        ("sqm-tenant-stale", at(2, 30), {("t1",), ("t2",)}),
        # limit 15 min: newest event 00:21
        ("sqm-events-stale", at(0, 30), set()),
        ("sqm-events-stale", at(1, 50), {()}),
    ],
)
def test_freshness_rule_fires_for_hand_computed_ages(
    store: Client, uid: str, now: datetime, firing: set[Any]
) -> None:
    rule = next(r for g in committed_alerts()["groups"] for r in g["rules"] if r["uid"] == uid)
    result = _run(store, TARGETS[f"alert/{uid}/A"], {}, now)
    assert _evaluate(rule, result.result_rows, list(result.column_names)) == firing


def test_freshness_rule_sees_an_empty_store_as_stale(store: Client) -> None:
    """Nothing at all in the lookback: the event rule still returns its row, and it fires."""
    rule = next(r for g in committed_alerts()["groups"] for r in g["rules"]
                if r["uid"] == "sqm-events-stale")
    result = _run(store, TARGETS["alert/sqm-events-stale/A"], {}, at(24 * 30, 0))
    assert _evaluate(rule, result.result_rows, list(result.column_names)) == {()}


def test_alerts_table_has_the_specified_columns_and_engine(store: Client) -> None:
    columns = store.query(
        "SELECT name, type FROM system.columns WHERE database = 'sqm' AND table = 'alerts' "
        "ORDER BY position"
    ).result_rows
    assert ", ".join(f"{n} {t}" for n, t in columns) == (
        "alert_id String, rule_id String, kind LowCardinality(String), "
        "severity LowCardinality(String), state LowCardinality(String), "
        "metric LowCardinality(String), tenant_id String, channel String, queue String, "
        "priority String, agent_id String, contact_id Nullable(String), value Float64, "
        "threshold Float64, started_at DateTime64(3, 'UTC'), "
        "ended_at Nullable(DateTime64(3, 'UTC')), message String, version UInt64, "
        "updated_at DateTime64(3, 'UTC')"
    )
    engine = store.command(
        "SELECT engine_full FROM system.tables WHERE database = 'sqm' AND name = 'alerts'"
    )
    assert str(engine).split(" SETTINGS ")[0] == (
        "ReplacingMergeTree(version) PARTITION BY toYYYYMM(started_at) ORDER BY alert_id"
    )
    assert Path(__file__).parents[2].joinpath("schemas/clickhouse/0002_alerts.sql").is_file()
