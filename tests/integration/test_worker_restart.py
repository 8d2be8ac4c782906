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
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from sinks.clickhouse import connect
from streams.broker import EmbeddedBroker, ensure_topics, free_port
from streams.core.records import EventRecord
from streams.core.validate import validate
from streams.simulate import SimConfig, history
from tests import reference

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters"]


class Worker:
    """`sqm worker` in a subprocess; its JSON progress lines are parsed as they arrive."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self.progress: list[dict[str, Any]] = []
        self.errors: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.errors.append(line.decode(errors="replace"))
                continue
            if entry.get("msg") == "progress":
                self.progress.append(entry)
            elif entry.get("level") in ("error", "critical"):
                self.errors.append(entry.get("msg", ""))

    def wait_for(self, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.progress and pred(self.progress[-1]):
                return self.progress[-1]
            assert self.proc.poll() is None, f"worker exited: {self.errors[-3:]}"
            time.sleep(0.1)
        raise AssertionError(f"timed out; last progress {self.progress[-1:]}, {self.errors[-3:]}")

    def wait_idle(self, timeout: float, quiet_reports: int = 4) -> None:
        """Until the counters stop moving for a few reports (after having moved)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tail = self.progress[-quiet_reports:]
            if (len(tail) == quiet_reports and tail[-1]["processed"] > 0
                    and len({orjson.dumps({k: v for k, v in t.items() if k not in ("ts",)})
                             for t in tail}) == 1):
                return
            assert self.proc.poll() is None, f"worker exited: {self.errors[-3:]}"
            time.sleep(0.2)
        raise AssertionError(f"never idle; last progress {self.progress[-1:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        ensure_topics(b.bootstrap, TOPICS, 4)
        yield b


def test_sigkill_and_restart_never_double_counts(broker: EmbeddedBroker, tmp_path: Path) -> None:
    lines = [e.encode() if isinstance(e, str) else orjson.dumps(e) for e in history(
        600, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 5.0, SimConfig(seed=5), messy=True)]
    records = [r for r in map(validate, lines) if isinstance(r, EventRecord)]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for line in lines:
        rec = validate(line)
        key = rec.contact_id.encode() if isinstance(rec, EventRecord) else None
        producer.send("sqm.events", value=line, key=key)
    producer.flush()
    producer.close()

    store = tmp_path / "store"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC",
        "SQM_KAFKA_BOOTSTRAP": broker.bootstrap, "SQM_BROKER_PROFILE": "tansu",
        "SQM_CLICKHOUSE_URL": f"chdb://{store}", "SQM_LOG_LEVEL": "INFO",
        "SQM_PROGRESS_INTERVAL_S": "0.5", "SQM_BATCH_MAX": "40", "SQM_BATCH_WITHIN_S": "0.05",
        "SQM_WEB_PORT": str(free_port()),
    }
    first = Worker(env)
    first.wait_for(lambda p: p["batches"] >= 3, timeout=120)
    first.stop(signal.SIGKILL)  # no flush, no commit: the hard case
    killed_at = first.progress[-1]["settled"]
    assert killed_at < len(lines), "the worker finished before it could be killed"

    second = Worker({**env, "SQM_WEB_PORT": str(free_port())})
    second.wait_idle(timeout=240, quiet_reports=20)
    # The restarted worker re-read what the first had not committed.
    assert second.progress[-1]["settled"] > 0
    second.stop()
    assert second.proc.returncode == 0, second.errors[-3:]

    client = connect(f"chdb://{store}")
    try:
        rows = client.query("""
            SELECT toUnixTimestamp(window_start) * 1000, tenant_id, channel, queue, priority,
                   sum(offered), sum(answered), sum(answered_in_sla),
                   toInt64(sum(wait_s_sum) * 1000), sum(abandoned), sum(short_abandoned),
                   sum(created), sum(repeat_contacts)
            FROM sqm.sla_1m FINAL GROUP BY ALL""").result_rows
        names = ("offered", "answered", "answered_in_sla", "wait_ms_sum", "abandoned",
                 "short_abandoned", "created", "repeat_contacts")
        got = {tuple(r[:5]): dict(zip(names, r[5:], strict=True)) for r in rows if any(r[5:])}
        assert got == reference.windows(records)
        n_contacts = client.command("SELECT count() FROM sqm.contacts FINAL")
        assert int(n_contacts) == len(reference.contacts(records))
        repeats = client.command("SELECT countIf(is_repeat) FROM sqm.contacts FINAL")
        assert int(repeats) == sum(c["is_repeat"] for c in reference.contacts(records).values())
        assert int(client.command("SELECT count() FROM sqm.events FINAL")) == len(
            {r.event_id for r in records})
        assert int(client.command("SELECT count() FROM sqm.dead_letters FINAL")) == (
            len(lines) - len(records))
    finally:
        client.close()
