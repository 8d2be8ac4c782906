"""`sqm replay` end to end: the real CLI in a subprocess, the embedded Tansu broker, the Faust
agents and chDB; then the store is read from this process, as an analyst would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver import Client

from sqm.sinks.clickhouse import connect
from sqm.streams.core.records import EventRecord
from sqm.streams.core.validate import validate
from sqm.streams.simulate import SimConfig, history
from tests import reference

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent.parent / "data"


def sqm(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", *args], capture_output=True, text=True,
        timeout=timeout, env={"TZ": "UTC", "PATH": "/usr/bin:/bin", "SQM_LOG_LEVEL": "WARNING"},
    )


@contextmanager
def opened(store: Path) -> Iterator[Client]:
    client = connect(f"chdb://{store}")
    try:
        yield client
    finally:
        client.close()


def q(client: Client, sql: str) -> list[tuple]:
    return [tuple(r) for r in client.query(sql).result_rows]


@pytest.fixture(scope="module")
def messy_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("messy") / "store"
    run = sqm("replay", str(DATA / "messy.jsonl"), "--store", str(store), "--no-progress")
    assert run.returncode == 0, run.stderr
    return store, run.stdout


def test_summary_line_counts_every_event(messy_store: tuple[Path, str]) -> None:
    _, stdout = messy_store
    # 26 lines: 3 invalid, 1 dated 2099, 22 valid of which 2 are re-deliveries; 6 contacts.
    assert "replayed 26 events" in stdout
    assert "22 stored (20 distinct, 2 duplicates merged), 4 dead-lettered, 6 contacts" in stdout


def test_messy_file_gives_hand_computed_results(messy_store: tuple[Path, str]) -> None:
    store, _ = messy_store
    with opened(store) as c:
        contacts = {
            r[0]: r[1:] for r in q(c, """
                SELECT tenant_id || '/' || contact_id, wait_s, answered_in_sla, is_abandoned,
                       is_short_abandon, is_repeat, bot_contained, created_at IS NULL, csat
                FROM sqm.contacts FINAL""")
        }
        assert contacts == {
            "A/c1": (Decimal("18.000"), True, False, False, False, False, False, None),
            "A/c4": (Decimal("40.000"), False, False, False, False, False, True, None),
            "A/c3": (Decimal("15000.000"), False, False, False, False, False, False, None),
            "A/c2": (None, None, True, True, True, False, False, None),
            "B/d1": (None, None, True, False, False, False, False, None),
            "B/d2": (None, None, False, False, True, True, False, 4),
        }
        windows = q(c, """
            SELECT tenant_id, channel, queue, priority, formatDateTime(window_start, '%H:%i'),
                   sum(offered), sum(answered), sum(answered_in_sla), sum(wait_s_sum),
                   sum(abandoned), sum(short_abandoned), sum(created), sum(repeat_contacts)
            FROM sqm.sla_1m FINAL GROUP BY ALL
            HAVING sum(offered + answered + abandoned + created) > 0 ORDER BY ALL""")
        assert windows == [
            ("A", "chat", "q1", "normal", "01:00", 1, 1, 1, Decimal("18"), 0, 0, 1, 0),
            ("A", "chat", "q1", "normal", "01:05", 1, 1, 0, Decimal("40"), 0, 0, 0, 0),
            ("A", "email", "q2", "normal", "01:10", 1, 0, 0, Decimal("0"), 0, 0, 1, 0),
            ("A", "email", "q2", "normal", "05:20", 0, 1, 0, Decimal("15000"), 0, 0, 0, 0),
            ("A", "phone", "q1", "normal", "01:30", 1, 0, 0, Decimal("0"), 1, 1, 1, 1),
            ("B", "app", "bots", "normal", "01:41", 0, 0, 0, Decimal("0"), 0, 0, 1, 1),
            ("B", "chat", "q1", "high", "01:40", 1, 0, 0, Decimal("0"), 1, 0, 1, 0),
        ]
        # Service level per tenant = in SLA / (answered + abandoned − short abandoned).
        sl = dict(q(c, """
            SELECT tenant_id, sum(answered_in_sla) / (sum(answered) + sum(abandoned)
                   - sum(short_abandoned)) FROM sqm.sla_1m FINAL GROUP BY tenant_id"""))
        assert sl == {"A": 1 / 3, "B": 0.0}
        assert q(c, "SELECT count(), uniqExact(event_id) FROM sqm.events FINAL") == [(20, 20)]
        reasons = sorted(r[0] for r in q(c, "SELECT reason FROM sqm.dead_letters FINAL"))
        assert len(reasons) == 4
        assert any("tenant_id" in r for r in reasons)
        assert any("offset" in r for r in reasons)
        assert any("in the future" in r for r in reasons)
        # Times are stored in UTC whatever offset they arrived with.
        assert q(c, """SELECT toString(created_at) FROM sqm.contacts FINAL
                       WHERE contact_id = 'c1'""") == [("2026-03-02 01:00:00.000",)]


def test_simulated_messy_history_matches_the_reference(tmp_path: Path) -> None:
    import orjson

    path = tmp_path / "sim.jsonl"
    lines = [e.encode() if isinstance(e, str) else orjson.dumps(e) for e in history(
        400, datetime_start(), 4.0, SimConfig(seed=11), messy=True)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    records = [r for r in map(validate, lines) if isinstance(r, EventRecord)]
    invalid = len(lines) - len(records)
    store = tmp_path / "store"
    run = sqm("replay", str(path), "--store", str(store), "--no-progress")
    assert run.returncode == 0, run.stderr
    ref_contacts = reference.contacts(records)
    ref_windows = reference.windows(records)
    with opened(store) as c:
        got = {
            (r[0], r[1]): r[2:] for r in q(c, """
                SELECT tenant_id, contact_id, toUnixTimestamp64Milli(answered_at), is_repeat,
                       is_abandoned, is_short_abandon, bot_contained, answered_in_sla,
                       toInt64OrNull(toString(first_resolution_s * 1000)),
                       toInt64OrNull(toString(resolution_s * 1000)), reopen_count, transfer_count
                FROM sqm.contacts FINAL""")
        }
        assert got == {
            k: (v["answered_at"], v["is_repeat"], v["abandoned_at"] is not None, v["short"],
                v["bot_contained"], v["in_sla"], v["first_resolution_ms"], v["resolution_ms"],
                v["reopen_count"], v["transfer_count"])
            for k, v in ref_contacts.items()
        }
        rows = q(c, """
            SELECT toUnixTimestamp(window_start) * 1000, tenant_id, channel, queue, priority,
                   sum(offered), sum(answered), sum(answered_in_sla),
                   toInt64(sum(wait_s_sum) * 1000), sum(abandoned), sum(short_abandoned),
                   sum(created), sum(repeat_contacts), sum(sl_met), sum(sl_missed),
                   sum(csat_count), sum(csat_sum), sum(csat_good)
            FROM sqm.sla_1m FINAL GROUP BY ALL""")
        names = ("offered", "answered", "answered_in_sla", "wait_ms_sum", "abandoned",
                 "short_abandoned", "created", "repeat_contacts", "sl_met", "sl_missed",
                 "csat_count", "csat_sum", "csat_good")
        got_windows = {r[:5]: dict(zip(names, r[5:], strict=True)) for r in rows
                       if any(r[5:])}
        assert got_windows == ref_windows
        assert q(c, "SELECT count() FROM sqm.dead_letters FINAL") == [(invalid,)]
        assert q(c, "SELECT count() FROM sqm.events FINAL") == [
            (len({r.event_id for r in records}),)
        ]


def test_replay_refuses_a_store_that_holds_data(messy_store: tuple[Path, str]) -> None:
    store, _ = messy_store
    run = sqm("replay", str(DATA / "messy.jsonl"), "--store", str(store), "--no-progress")
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].startswith("error: the store already holds 20")
    assert "Traceback" not in run.stderr


def datetime_start() -> datetime:
    return datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
