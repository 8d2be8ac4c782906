"""`sqm whatif` against a replayed store: recomputing a period under the policy that wrote it
gives back exactly what the pipeline stored (contact rows, one-minute windows, at-risk
warnings, scorecard indicators) for any period; the command only reads the store; its
mistakes are one line. Real chDB, the real CLI, no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sqm.streams.config import load_settings
from sqm.streams.core.alerting import AtRiskConfig
from sqm.streams.core.rollup import COUNTER_NAMES
from sqm.streams.scorecard_report import measure as stored_indicators
from sqm.streams.whatif import source
from sqm.streams.whatif.command import Request, bounds, recompute_period, run
from sqm.streams.whatif.indicators import measure
from sqm.streams.whatif.policies import current_side
from sqm.streams.whatif.recompute import period_windows

pytestmark = pytest.mark.integration

# Business hours, a holiday, next-response and resolution targets, bot handoffs and bot
# replies, the service-level variants and a 72 h repeat window, over simulated tenants.
POLICY = """
version: "whatif-test-1"
calendars:
  cn:
    timezone: Asia/Shanghai
    hours: {mon: ["09:00-12:00", "13:00-18:00"], tue: "09:00-18:00", wed: "09:00-18:00",
            thu: "09:00-18:00", fri: "09:00-18:00"}
    holidays: [2026-03-04]
default:
  targets:
    chat: {next_response: 60s}
    email: {resolution: 2d}
tenants:
  shop-1:
    calendar: cn
    targets:
      email:
        first_response: {target: 4h, clock: business}
        next_response: {target: 8h, clock: business}
        resolution: {target: 27h, clock: business}
    service_level: {abandons: met_within_threshold, short_abandon_s: 10}
  shop-2:
    clock: {start: bot_handoff, stop_on_bot_reply: true}
    service_level: {abandons: exclude, comparison: lt}
    queues:
      returns: {targets: {chat: {first_response: 45s}}}
repeat: {window: 72h}
"""
CHAT_20S = POLICY.replace('"whatif-test-1"', '"chat-20s"').replace(
    "chat: {next_response: 60s}", "chat: {next_response: 60s, first_response: 20s}")
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # the simulation's first contact


@dataclass(frozen=True)
class Store:
    path: Path
    policy: Path


def sqm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sqm.streams.cli", *args], capture_output=True,
                          text=True, timeout=300,
                          env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC", "COLUMNS": "200",
                               "PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    tmp = tmp_path_factory.mktemp("whatif")
    (tmp / "policy.yaml").write_text(POLICY)
    (tmp / "chat20.yaml").write_text(CHAT_20S)
    run_ = sqm("simulate", str(tmp / "events.jsonl"), "--days", "7", "--contacts", "2000")
    assert run_.returncode == 0, run_.stderr
    run_ = sqm("replay", str(tmp / "events.jsonl"), "--store", str(tmp / "store"),
               "--policy", str(tmp / "policy.yaml"), "--no-progress")
    assert run_.returncode == 0, run_.stderr
    return Store(tmp / "store", tmp / "policy.yaml")


@pytest.fixture()
def client(store: Store) -> Iterator[Any]:
    c = source.open_read_only(f"chdb://{store.path}")
    try:
        yield c
    finally:
        c.close()


def rows(client: Any, sql: str, start: int, end: int) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql, parameters={"s": start, "e": end}).result_rows]


def between(col: str) -> str:
    return (f"{col} >= fromUnixTimestamp64Milli({{s:Int64}}, 'UTC') AND {col} < "
            "fromUnixTimestamp64Milli({e:Int64}, 'UTC')")


CONTACT_COLUMNS = (
    "tenant_id, contact_id, channel, queue, priority, toUnixTimestamp64Milli(created_at), "
    "toUnixTimestamp64Milli(queued_at), toUnixTimestamp64Milli(answered_at), first_agent_id, "
    "toUnixTimestamp64Milli(abandoned_at), toInt64(wait_s * 1000), sla_target_s, "
    "answered_in_sla, is_abandoned, is_short_abandon, is_repeat, "
    "toUnixTimestamp64Milli(resolved_at), resolved_by, bot_contained, csat, sla_clock, "
    "toUnixTimestamp64Milli(sla_start_at), toUnixTimestamp64Milli(sla_due_at), "
    "toInt64(first_response_s * 1000), sla_outcome, next_response_count, "
    "toInt64(next_response_sum_s * 1000), next_response_missed, resolution_target_s, "
    "resolution_in_sla, toInt64(handle_s * 1000), policy_version, event_count")
VIEW_FIELDS = (
    "tenant_id", "contact_id", "channel", "queue", "priority", "created_at", "queued_at",
    "answered_at", "first_agent_id", "abandoned_at", "wait_ms", "sla_target_s",
    "answered_in_sla", "is_abandoned", "is_short_abandon", "is_repeat", "resolved_at",
    "resolved_by", "bot_contained", "csat", "sla_clock", "sla_start_at", "sla_due_at",
    "first_response_ms", "sla_outcome", "next_response_count", "next_response_sum_ms",
    "next_response_missed", "resolution_target_s", "resolution_in_sla", "handle_ms",
    "policy_version", "event_count")


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(end_min=st.integers(0, 8 * 1440), length_min=st.integers(1, 7 * 1440))
@example(end_min=-1, length_min=7 * 1440)  # --end latest, the whole week
@example(end_min=3 * 1440 + 90, length_min=90)  # 90 minutes in the middle of the week
@example(end_min=10136, length_min=1)  # after the newest event: the alerts' clock stopped there
def test_the_same_policy_gives_the_stored_rows_back(client: Any, store: Store, end_min: int,
                                                    length_min: int) -> None:
    end = "latest" if end_min < 0 else (START + timedelta(minutes=end_min)).isoformat()
    start, stop = bounds(client, f"{length_min}m", end)
    side = current_side(store.policy, load_settings(), AtRiskConfig())
    r = recompute_period(client, start, stop, (side, side))
    views = r.results[0].views
    # Every contact with an event in the period: its row, column by column.
    stored = rows(client, f"SELECT {CONTACT_COLUMNS} FROM sqm.contacts FINAL WHERE "
                          "(tenant_id, contact_id) IN (SELECT tenant_id, contact_id FROM "
                          f"sqm.events WHERE {between('occurred_at')})",
                  start, stop)
    assert stored == [] or r.stored
    for row in stored:
        v = views[(row[0], row[1])]
        assert tuple(getattr(v, f) for f in VIEW_FIELDS) == row
    # The period's one-minute windows, every counter.
    counters = ", ".join("toInt64(wait_s_sum * 1000)" if n == "wait_ms_sum" else f"toInt64({n})"
                         for n in COUNTER_NAMES)
    windows = {(r_[0] * 1000, *r_[1:5]): list(r_[5:]) for r_ in rows(
        client, "SELECT toInt64(toUnixTimestamp(window_start)), tenant_id, channel, queue, "
                f"priority, {counters} FROM sqm.sla_1m_total WHERE {between('window_start')}",
        start, stop)}
    mine = period_windows(views.values(), start, stop)
    assert {k: c for k, c in mine.items() if any(c)} == {k: c for k, c in windows.items() if any(c)}
    # The at-risk warnings the alert stage raised in the period.
    warned = set(rows(client, "SELECT tenant_id, contact_id FROM sqm.alerts FINAL WHERE "
                              f"kind = 'at_risk' AND {between('started_at')}", start, stop))
    assert {k for k, t in r.results[0].at_risk_at.items() if start <= t < stop} == warned
    # The scorecard's indicators per team and channel, as sqm.scorecard_indicators has them.
    created = [v for v in views.values()
               if v.created_at is not None and start <= v.created_at < stop]
    for by in ("queue", "channel"):
        expected = {(t, e): (m, p) for t, e, m, p in stored_indicators(
            client, by, _dt(start), _dt(stop), side.rules.repeat_window_ms)}
        assert {(v.tenant_id, getattr(v, by)) for v in created} == set(expected)
        got = {}
        for tenant, entity in expected:
            group = [v for v in created if v.tenant_id == tenant and getattr(v, by) == entity]
            got[(tenant, entity)] = measure(group, r.results[0].next_created,
                                            side.rules.repeat_window_ms, r.period.horizon_ms)
        assert _rounded(got) == _rounded(expected)


def test_a_period_compared_with_itself_changes_nothing(store: Store) -> None:
    settings_ = load_settings(clickhouse_url=f"chdb://{store.path}")
    r = run(settings_, AtRiskConfig(), Request(store.policy, store.policy, "7d", "latest"))
    assert r.mismatched == 0 and r.changed == []
    assert r.rows and all(g.current == g.proposed and g.changed == 0 for g in r.rows)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _rounded(d: dict[Any, Any]) -> dict[Any, Any]:
    return {k: ({name: (None if m.value is None else round(m.value, 9), m.count)
                 for name, m in measured.items()}, provisional)
            for k, (measured, provisional) in d.items()}


def snapshot(store: Store) -> dict[str, Any]:
    """Every table's row count and content hash, the active parts and the tables' metadata."""
    c = source.open_read_only(f"chdb://{store.path}")
    try:
        tables = c.query("SELECT name, engine, metadata_modification_time FROM system.tables "
                         "WHERE database = 'sqm' ORDER BY name").result_rows
        out: dict[str, Any] = {"tables": tables, "parts": c.query(
            "SELECT table, name, rows, modification_time FROM system.parts "
            "WHERE database = 'sqm' AND active ORDER BY table, name").result_rows}
        for name, engine, _ in tables:
            if engine.endswith("MergeTree"):
                out[name] = c.query(f"SELECT count(), sum(cityHash64(*)) FROM sqm.{name}"
                                    ).result_rows
        return out
    finally:
        c.close()


def test_cli_compares_reads_only_and_writes_the_page(store: Store) -> None:
    before = snapshot(store)
    page = store.path.parent / "whatif.html"
    run_ = sqm("whatif", "--store", str(store.path), "--policy",
               str(store.path.parent / "chat20.yaml"), "--current", str(store.policy),
               "--period", "7d", "--format", "json", "--out", str(page))
    assert run_.returncode == 0, run_.stderr
    assert snapshot(store) == before  # nothing written, merged or altered
    doc = orjson.loads(run_.stdout)
    assert (doc["current"]["version"], doc["proposed"]["version"]) == ("whatif-test-1", "chat-20s")
    assert doc["check"] == {"reproduced": True, "mismatched": 0, "examples": []}
    assert doc["changes"] and {c["channel"] for c in doc["changes"]} == {"chat"}
    # shop-2's returns queue keeps its own 45 s chat target: nothing of it changes.
    assert not [c for c in doc["changes"] if (c["tenant_id"], c["queue"]) == ("shop-2", "returns")]
    for c in doc["changes"]:
        assert c["target_s_proposed"] == 20 and c["target_s_current"] in (30,)
        assert (c["outcome_current"], c["outcome_proposed"]) in (
            ("met", "missed"), ("met", "met"), ("missed", "missed"), ("excluded", "excluded"),
            (None, None))
    for row in doc["summary"]:
        if row["channel"] == "chat" and row["service_level_current"] is not None:
            assert row["service_level_proposed"] <= row["service_level_current"]
            assert row["at_risk_proposed"] >= row["at_risk_current"]
        elif row["channel"] not in ("chat", "(all)"):
            assert row["met_current"] == row["met_proposed"] and row["changed_contacts"] == 0
    html = page.read_text()
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js embedded: offline
    assert doc["changes"][-1]["contact_id"] in html


def test_cli_table_names_both_policies(store: Store) -> None:
    run_ = sqm("whatif", "--store", str(store.path), "--policy",
               str(store.path.parent / "chat20.yaml"), "--period", "2d",
               env={"SQM_POLICY_FILE": str(store.policy)})
    assert run_.returncode == 0, run_.stderr
    assert "current:  policy 'whatif-test-1'" in run_.stdout
    assert "(the settings' policy file)" in run_.stdout
    assert "proposed: policy 'chat-20s'" in run_.stdout
    assert "gives back the stored outcome" in run_.stdout
    assert "met → missed" in run_.stdout


@pytest.mark.parametrize(("args", "fragments"), [
    (["--period", "7x"], ["--period: expected a length like 24h, 7d or 30d, got '7x'"]),
    (["--period", "0d"], ["--period: expected a length like 24h, 7d or 30d, got '0d'"]),
    (["--end", "2026-03-05T00:00:00"], ["--end:", "needs a UTC offset"]),
    (["--end", "2020-01-01T00:00:00Z"], ["no stored events from 2019-12-02"]),
    (["--format", "xml"], ["--format: 'xml' is not one of table, csv, json"]),
    (["--goal", "speed"], ["--goal: 'speed' is not one of"]),
    (["--current", "chat20.yaml"], ["version 'chat-20s'", "derived under 'whatif-test-1'"]),
    ([], ["contract v1's defaults", "version 'default'", "derived under 'whatif-test-1'"]),
    (["--policy", "bad.yaml"], ["policy: ", "version: must be a string"]),
], ids=["bad-period", "empty-period", "naive-end", "no-data", "format", "goal",
        "wrong-current", "default-current", "bad-policy"])
def test_mistakes_are_one_line(store: Store, args: list[str], fragments: list[str]) -> None:
    tmp = store.path.parent
    (tmp / "bad.yaml").write_text("version: 1\n")
    args = [str(tmp / a) if a.endswith(".yaml") else a for a in args]
    policy = [] if "--policy" in args else ["--policy", str(tmp / "chat20.yaml")]
    run_ = sqm("whatif", "--store", str(store.path), *policy, *args)
    assert run_.returncode == 1, (run_.stdout, run_.stderr)
    lines = [line for line in run_.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), run_.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_csv_has_the_summary_then_the_changes(store: Store) -> None:
    run_ = sqm("whatif", "--store", str(store.path), "--policy",
               str(store.path.parent / "chat20.yaml"), "--current", str(store.policy),
               "--period", "1d", "--format", "csv")
    assert run_.returncode == 0, run_.stderr
    summary, changes = run_.stdout.strip().split("\n\n")
    assert summary.splitlines()[0].startswith("tenant_id,channel,queue,service_level_current,")
    assert changes.splitlines()[0].startswith("tenant_id,contact_id,channel,queue,priority,")
    assert all(",chat," in line for line in changes.splitlines()[1:])
