"""At-least-once in, idempotent out: a worker killed with SIGKILL mid-stream and restarted on
the same broker recovers its state from the changelog, re-processes what was not committed,
and the store still matches the reference exactly.

Real parts only: a Tansu broker started here, `sqm worker` subprocesses, chDB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sinks.clickhouse import connect
from streams.broker import EmbeddedBroker, ensure_topics, free_port
from streams.core.records import EventRecord
from streams.core.validate import validate
from streams.simulate import SimConfig, history
from tests import reference
from tests.workers import WINDOWS_SQL, Worker, merged_window_totals, produce, worker_env

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters"]


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        ensure_topics(b.bootstrap, TOPICS, 4)
        yield b


def simulated(contacts: int, seed: int) -> tuple[list[bytes], list[EventRecord]]:
    lines = [e.encode() if isinstance(e, str) else orjson.dumps(e) for e in history(
        contacts, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 5.0, SimConfig(seed=seed), messy=True)]
    return lines, [r for r in map(validate, lines) if isinstance(r, EventRecord)]


def test_sigkill_and_restart_never_double_counts(broker: EmbeddedBroker, tmp_path: Path) -> None:
    lines, records = simulated(600, seed=5)
    produce(broker.bootstrap, lines)
    store = tmp_path / "store"
    env = worker_env(broker.bootstrap, store)
    first = Worker(env)
    first.wait_for(lambda p: p["batches"] >= 3, timeout=120)
    first.stop(signal.SIGKILL)  # no flush, no commit: the hard case
    assert first.progress[-1]["settled"] < len(lines), "finished before it could be killed"
    # Restart once the group has evicted the dead member (broker_session_timeout = 10 s), as a
    # supervisor's back-off would. Restarting inside that window means a second rebalance
    # mid-recovery, after which a worker on Tansu was seen to stall (see the issue notes).
    time.sleep(12)

    expected = reference.windows(records)
    # A restarted worker on Tansu sometimes stops consuming part-way (a liveness bug still open,
    # see the issue notes). A supervisor restarts a worker that stalls; so does this test, at
    # most twice. Restarts can only re-process uncommitted input, so a lost or double-counted
    # event would still show below: this tolerates the stall, never a wrong number.
    for _attempt in range(3):
        worker = Worker({**env, "SQM_WEB_PORT": str(free_port())})
        worker.wait_idle(timeout=240, quiet_reports=20)
        worker.stop()
        assert worker.proc.returncode == 0, worker.errors[-3:]
        if _windows(store) == expected:
            break
        time.sleep(12)  # as after the kill: let the group settle before the next start

    client = connect(f"chdb://{store}")
    try:
        assert _windows(store, client) == expected
        ref_contacts = reference.contacts(records)
        assert int(client.command("SELECT count() FROM sqm.contacts FINAL")) == len(ref_contacts)
        repeats = client.command("SELECT countIf(is_repeat) FROM sqm.contacts FINAL")
        assert int(repeats) == sum(c["is_repeat"] for c in ref_contacts.values())
        assert int(client.command("SELECT count() FROM sqm.events FINAL")) == len(
            {r.event_id for r in records})
        assert int(client.command("SELECT count() FROM sqm.dead_letters FINAL")) == (
            len(lines) - len(records))
    finally:
        client.close()


def _windows(store: Path, client: Any = None) -> dict[Any, dict[str, int]]:
    if client is not None:
        return merged_window_totals([[tuple(r) for r in client.query(WINDOWS_SQL).result_rows]])
    # In a subprocess: chDB keeps a directory locked for the life of the process that opened
    # it, and the next worker must be able to open the store.
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "sql", "--store", str(store), "--format", "json",
         WINDOWS_SQL], capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC"})
    assert run.returncode == 0, run.stderr
    return merged_window_totals([[tuple(r.values()) for r in orjson.loads(run.stdout)]])


def test_two_workers_share_the_partitions(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A second worker joins mid-stream; the group rebalances and each processes some shards.

    chDB allows one process per data directory, so each worker writes its own store; the test
    then answers as one shared ClickHouse server would (highest version per key wins)."""
    lines, records = simulated(600, seed=9)
    produce(broker.bootstrap, lines)
    stores = [tmp_path / "a", tmp_path / "b"]
    first = Worker(worker_env(broker.bootstrap, stores[0]))
    first.wait_for(lambda p: p["batches"] >= 2, timeout=120)
    second = Worker(worker_env(broker.bootstrap, stores[1]))
    second.wait_idle(timeout=240, quiet_reports=20)
    first.wait_idle(timeout=60, quiet_reports=20)
    for w in (first, second):
        w.stop()
        assert w.proc.returncode == 0, w.errors[-3:]
    assert second.progress[-1]["processed"] > 0, "the second worker got no partition"

    all_rows = []
    for store in stores:
        client = connect(f"chdb://{store}")
        try:
            all_rows.append([tuple(r) for r in client.query(WINDOWS_SQL).result_rows])
        finally:
            client.close()
    assert merged_window_totals(all_rows) == reference.windows(records)
