"""Configurable TTLs (sinks/retention.py) on the real engine (chDB): set from the settings,
idempotent, changed and removed by migrating again, and rows older than the TTL gone after a
merge while newer ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks.retention import RetentionError, apply_ttls, plan
from sqm.streams.config import ConfigError, load_settings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)



def show_create(client: Client, table: str) -> str:
    return str(client.query(f"SHOW CREATE TABLE sqm.{table}").result_rows[0][0])


def ttl_of(client: Client, table: str) -> str | None:
    """The TTL clause as the server prints it, or None: read from SHOW CREATE TABLE."""
    lines = [ln.strip() for ln in show_create(client, table).splitlines()]
    ttl = [ln.removeprefix("TTL ") for ln in lines if ln.startswith("TTL ")]
    return ttl[0] if ttl else None


def add_events(client: Client, ages_days: list[int]) -> None:
    rows = [(f"e{age}", NOW - timedelta(days=age), "t1", f"c{age}", "{}") for age in ages_days]
    client.insert("sqm.events", rows,
                  column_names=["event_id", "occurred_at", "tenant_id", "contact_id", "raw"])


def test_settings_become_ttls_and_migrating_again_sends_nothing(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQM_RAW_TTL_DAYS", "30")
    monkeypatch.setenv("SQM_TABLE_TTL_DAYS", '{"contacts": 400, "alerts": 90}')
    settings = load_settings()
    ttls = plan(settings.raw_ttl_days, settings.table_ttl_days)
    assert apply_ttls(client, ttls) == [
        "events: 30 days", "dead_letters: 30 days", "contacts: 400 days", "alerts: 90 days"]
    assert ttl_of(client, "events") == "toDateTime(occurred_at) + toIntervalDay(30)"
    assert ttl_of(client, "dead_letters") == "toDateTime(received_at) + toIntervalDay(30)"
    assert ttl_of(client, "contacts") == "toDateTime(last_event_at) + toIntervalDay(400)"
    assert ttl_of(client, "alerts") == "toDateTime(started_at) + toIntervalDay(90)"
    assert ttl_of(client, "sla_1m") is None  # group "windows" not named: forever
    assert ttl_of(client, "schema_migrations") is None
    assert apply_ttls(client, ttls) == []  # idempotent

    # Changed and removed by the next migration.
    assert apply_ttls(client, plan(45, {"contacts": 400})) == [
        "events: 45 days", "dead_letters: 45 days", "alerts: forever"]
    assert ttl_of(client, "events") == "toDateTime(occurred_at) + toIntervalDay(45)"
    assert ttl_of(client, "alerts") is None
    assert apply_ttls(client, plan(0, {})) == [
        "events: forever", "dead_letters: forever", "contacts: forever"]
    assert all(ttl_of(client, t) is None for t in ("events", "dead_letters", "contacts"))


def test_rows_older_than_the_ttl_vanish_at_the_merge_newer_stay(client: Client) -> None:
    client.command("TRUNCATE TABLE sqm.events")
    add_events(client, [40, 31])  # before the TTL exists: the modify materializes it
    apply_ttls(client, plan(30, {}))
    add_events(client, [100, 29, 1])  # written under the TTL
    client.command("OPTIMIZE TABLE sqm.events FINAL")
    left = client.query("SELECT event_id FROM sqm.events ORDER BY event_id").result_rows
    assert [r[0] for r in left] == ["e1", "e29"]
    apply_ttls(client, plan(0, {}))


def test_missing_table_is_one_line(client: Client) -> None:
    client.command("RENAME TABLE sqm.alerts TO sqm.alerts_away")
    try:
        with pytest.raises(RetentionError, match=r"^table sqm.alerts does not exist: run"):
            apply_ttls(client, plan(0, {"alerts": 10}))
    finally:
        client.command("RENAME TABLE sqm.alerts_away TO sqm.alerts")


@pytest.mark.parametrize("env", [
    {"SQM_RAW_TTL_DAYS": "8"},  # state 8 days + lateness 1 h
    {"SQM_TABLE_TTL_DAYS": '{"contacts": 5}'},
    {"SQM_TABLE_TTL_DAYS": '{"windows": 8}'},
    {"SQM_RAW_TTL_DAYS": "20", "SQM_STATE_TTL_DAYS": "30"},
])
def test_ttls_shorter_than_the_state_are_refused(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=r"must be 0 \(forever\) or at least state_ttl_days"):
        load_settings()


def test_ttls_that_outlive_the_state_or_are_unarchived_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQM_RAW_TTL_DAYS", "9")
    monkeypatch.setenv("SQM_TABLE_TTL_DAYS", '{"alerts": 1, "scorecard": 1, "windows": 0}')
    assert load_settings().table_ttl_days == {"alerts": 1, "scorecard": 1, "windows": 0}


def sqm_migrate(store: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`sqm migrate` in a process of its own (chDB allows one store per process)."""
    return subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "migrate", "--store", str(store)],
        capture_output=True, text=True, timeout=300,
        env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC",
             "PYTHONPATH": str(Path(__file__).parents[2]), **env})


def test_sqm_migrate_sets_the_ttls_once_and_refuses_short_ones(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = sqm_migrate(store, {"SQM_RAW_TTL_DAYS": "30"})
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "ttl: events: 30 days, dead_letters: 30 days"
    again = sqm_migrate(store, {"SQM_RAW_TTL_DAYS": "30"})
    assert again.stdout == "schema is up to date\n"
    short = sqm_migrate(store, {"SQM_RAW_TTL_DAYS": "3"})
    assert short.returncode == 1
    assert short.stderr.count("\n") == 1
    assert "raw_ttl_days (3) must be 0 (forever) or at least state_ttl_days" in short.stderr


def test_sqm_migrate_on_a_cluster_chdb_lacks_is_one_line(tmp_path: Path) -> None:
    run = sqm_migrate(tmp_path / "store", {"SQM_CLICKHOUSE_CLUSTER": "sqm_cluster"})
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1, run.stderr
    assert run.stderr.startswith("error: migration 0001_init failed on `CREATE DATABASE IF NOT "
                                 "EXISTS sqm ON CLUSTER sqm_cluster`")
    assert "CLUSTER_DOESNT_EXIST" in run.stderr or "not found" in run.stderr
