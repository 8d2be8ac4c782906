"""`sqm scorecard` on a seeded chDB store: indicator values and FCR worked out by hand
(docs/scorecard.md), then the CLI's JSON. Real chDB, no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate
from sqm.streams.scorecard_report import measure

pytestmark = pytest.mark.integration

D = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
WEEK_MS = 7 * 86_400_000
COLS = ("tenant_id, contact_id, customer_id, channel, queue, first_agent_id, created_at, "
        "answered_at, wait_s, answered_in_sla, is_abandoned, is_short_abandon, is_repeat, "
        "resolved_at, resolution_s, reopen_count, csat, ratings, last_event_at, version")


def row(cid: str, customer: str, day: float, *, agent: str | None = "a1", wait: float | None = None,
        in_sla: bool | None = None, abandoned: bool = False, repeat: bool = False,
        resolution: float | None = None, reopens: int = 0, csat: int | None = None,
        ratings: dict[str, int] | None = None) -> str:
    created = D + timedelta(days=day)
    answered = created + timedelta(seconds=wait) if wait is not None else None
    resolved = created + timedelta(seconds=resolution) if resolution is not None else None

    def q(v: Any) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, datetime):
            return f"'{v:%Y-%m-%d %H:%M:%S}'"
        if isinstance(v, dict):
            return "map(" + ", ".join(f"'{k}', {n}" for k, n in v.items()) + ")"
        if isinstance(v, bool):
            return "true" if v else "false"
        return f"'{v}'" if isinstance(v, str) else str(v)

    values = ["t1", cid, customer, "chat", "q", agent, created, answered, wait, in_sla, abandoned,
              False, repeat, resolved, resolution, reopens, csat, ratings or {}, created, 1]
    return "(" + ", ".join(q(v) for v in values) + ")"


ROWS = [
    # u1's k1 is followed by k2 three days later: not a first-contact resolution.
    row("k1", "u1", 0, wait=20, in_sla=True, resolution=600, csat=5,
        ratings={"professionalism": 5, "patience": 4}),
    # k2 (a repeat) is followed only 17 days later, beyond the 7-day window: FCR.
    row("k2", "u1", 3, wait=40, in_sla=False, repeat=True, resolution=1200, csat=3,
        ratings={"patience": 2}),
    row("k3", "u2", 1, wait=10, in_sla=True, resolution=300, reopens=1, csat=4),  # reopened
    row("k5", "u3", 2, agent=None, abandoned=True),  # abandoned, no agent
    row("k4", "u1", 20, wait=5, in_sla=True),  # outside the period [D, D + 10 days)
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("scorecard")
    client = connect(f"chdb://{path}")
    try:
        migrate(client)
        client.command(f"INSERT INTO sqm.contacts ({COLS}) VALUES {', '.join(ROWS)}")
    finally:
        client.close()
    yield path


def measured(store: Path, by: str) -> dict[str, Any]:
    client = connect(f"chdb://{store}")
    try:
        [(tenant, entity, m, provisional)] = measure(
            client, by, D, D + timedelta(days=10), WEEK_MS)
    finally:
        client.close()
    return {"tenant": tenant, "entity": entity, "provisional": provisional,
            **{k: (None if v.value is None else round(v.value, 6), v.count) for k, v in m.items()}}


def test_team_indicators(store: Path) -> None:
    assert measured(store, "queue") == {
        "tenant": "t1", "entity": "q", "provisional": 0,
        "first_response_s": (round(70 / 3, 6), 3),  # (20 + 40 + 10) / 3
        "response_in_sla": (round(2 / 3, 6), 3),
        "answered_rate": (0.75, 4),  # 3 answered of 3 + 1 abandoned
        "fcr_rate": (0.25, 4),  # only k2
        "resolution_s": (700.0, 3),  # (600 + 1200 + 300) / 3
        "repeat_rate": (0.25, 4),
        "csat_share": (round(2 / 3, 6), 3),  # 5 and 4 of 5, 3, 4
        "csat_mean": (4.0, 3),
        "professionalism": (5.0, 1),  # rated once
        "patience": (3.0, 2),  # (4 + 2) / 2
    }


def test_agent_indicators_have_no_answered_rate(store: Path) -> None:
    got = measured(store, "agent")
    assert got["entity"] == "a1" and "answered_rate" not in got
    assert got["fcr_rate"] == (round(1 / 3, 6), 3) and got["repeat_rate"] == (round(1 / 3, 6), 3)


def test_cli_json_marks_small_samples(store: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "scorecard", "--store", str(store),
         "--by", "queue", "--goal", "satisfaction", "--period", "10d",
         "--end", "2026-03-12T10:00:00Z",
         "--format", "json"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC"})
    assert run.returncode == 0, run.stderr
    [r] = orjson.loads(run.stdout)
    # Every indicator has 3 or 4 contacts, under the default minimums: nothing is scored.
    assert r["score"] is None and r["coverage"] == 0.0
    assert r["fcr_rate"] == 0.25 and r["fcr_rate_n"] == 4 and r["fcr_rate_status"] == "small"


def test_cli_refuses_an_unknown_grouping_in_one_line(store: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "scorecard", "--store", str(store),
         "--by", "team"],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert run.returncode == 2  # a usage error, as typer's own
    assert run.stderr.strip() == "error: --by: 'team' is not one of agent, queue, channel"


def test_cli_scores_a_goal_from_the_policy_file(store: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("""version: "v1"
scorecard:
  indicators:
    fcr_rate: {target: 0.5, min_count: 3}
    csat_share: {target: 0.8, min_count: 3}
  goals:
    quality: {fcr_rate: 1, csat_share: 1}
""")
    for _ in range(2):  # saved twice: the second replaces the first
        run = subprocess.run(
            [sys.executable, "-m", "sqm.streams.cli", "scorecard", "--store", str(store), "--by",
             "queue", "--goal", "quality", "--policy", str(policy), "--period", "10d",
             "--end", "2026-03-12T18:00:00+08:00", "--format", "json", "--save"],
            capture_output=True, text=True, timeout=120,
            env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC"})
        assert run.returncode == 0, run.stderr
        assert run.stderr.strip() == "saved 1 score to sqm.scorecard_scores"
    [r] = orjson.loads(run.stdout)
    # FCR 0.25 against 0.5 scores 0.5; CSAT 4-5 share 2/3 against 0.8 scores 0.8333;
    # equal weights: (0.5 + 0.8333) / 2.
    assert r["fcr_rate_score"] == 0.5 and r["csat_share_score"] == pytest.approx(0.8333, abs=1e-4)
    assert r["score"] == pytest.approx(0.6667, abs=1e-4) and r["coverage"] == 1.0
    client = connect(f"chdb://{store}")
    try:
        saved = client.query("""
            SELECT toString(period_start), toString(period_end), goal, entity_kind, entity,
                   indicator, value, n, target, indicator_score, status, round(score, 4),
                   coverage, policy_version
            FROM sqm.scorecard_scores FINAL ORDER BY indicator""").result_rows
        assert client.query("SELECT count() FROM sqm.scorecard_scores").result_rows[0][0] in (2, 4)
    finally:
        client.close()
    period = ("2026-03-02 10:00:00.000", "2026-03-12 10:00:00.000", "quality", "queue", "q")
    assert saved == [
        (*period, "csat_share", pytest.approx(2 / 3), 3, 0.8, pytest.approx(5 / 6), "scored",
         0.6667, 1.0, "v1"),
        (*period, "fcr_rate", 0.25, 4, 0.5, 0.5, "scored", 0.6667, 1.0, "v1"),
    ]


def test_a_store_from_an_older_sqm_gets_a_one_line_hint(tmp_path: Path) -> None:
    from sqm.sinks.migrations import _run, load_migrations

    old = tmp_path / "old"
    client = connect(f"chdb://{old}")
    try:
        for m in load_migrations()[:2]:  # what an sqm before the scorecard had applied
            for statement in m.statements:
                _run(client, m, statement)
            _run(client, m, "INSERT INTO sqm.schema_migrations (version, name, checksum, "
                 "applied_at) VALUES ({v:UInt32}, {n:String}, {c:String}, now64(3, 'UTC'))",
                 {"v": m.version, "n": m.name, "c": m.checksum})
    finally:
        client.close()
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "scorecard", "--store", str(old)],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert run.returncode == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("error: the store lacks schema migrations 0003_windows")
    assert "sqm migrate" in line


def test_sql_on_a_store_from_an_older_sqm_names_the_missing_migrations(tmp_path: Path) -> None:
    from sqm.sinks.migrations import _run, load_migrations

    old = tmp_path / "old"
    client = connect(f"chdb://{old}")
    try:
        for m in load_migrations()[:7]:  # an sqm before SLA policies (0008)
            for statement in m.statements:
                _run(client, m, statement)
            _run(client, m, "INSERT INTO sqm.schema_migrations (version, name, checksum, "
                 "applied_at) VALUES ({v:UInt32}, {n:String}, {c:String}, now64(3, 'UTC'))",
                 {"v": m.version, "n": m.name, "c": m.checksum})
    finally:
        client.close()
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "sql", "--store", str(old),
         "SELECT sum(sl_met) FROM sqm.sla_1m"],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert run.returncode == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("error: the store lacks schema migrations 0008_sla_policy")
    assert "sqm migrate" in line and "Traceback" not in run.stderr
    # A mistake in the query itself on an up-to-date store stays ClickHouse's one line.
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "migrate", "--store", str(old)],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert run.returncode == 0, run.stderr
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "sql", "--store", str(old),
         "SELECT no_such_column FROM sqm.sla_1m"],
        capture_output=True, text=True, timeout=60, env={"PATH": os.environ.get("PATH", "")})
    assert run.returncode == 1
    [line] = run.stderr.strip().splitlines()
    assert line.startswith("error: ClickHouse:") and "no_such_column" in line
