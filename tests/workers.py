"""Helpers for tests that run `sqm worker` subprocesses against a broker started by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from sqm.streams.core.records import EventRecord
from sqm.streams.core.validate import validate
from sqm.streams.engine.faust.broker import free_port

COUNTERS = ("offered", "answered", "answered_in_sla", "wait_ms_sum", "abandoned",
            "short_abandoned", "created", "repeat_contacts", "sl_met", "sl_missed",
            "csat_count", "csat_sum", "csat_good")
WINDOWS_SQL = """
    SELECT toUnixTimestamp(window_start) * 1000, tenant_id, channel, queue, priority, shard,
           version, offered, answered, answered_in_sla, toInt64(wait_s_sum * 1000), abandoned,
           short_abandoned, created, repeat_contacts, sl_met, sl_missed, csat_count, csat_sum,
           csat_good
    FROM sqm.sla_1m FINAL"""


STARTED: list[Worker] = []


def kill_leftovers() -> None:
    """SIGKILL every worker a test started and did not stop (a worker whose broker is gone
    may never finish a graceful stop)."""
    while STARTED:
        proc = STARTED.pop().proc
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def worker_env(bootstrap: str, store: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TZ": "UTC",
        "SQM_KAFKA_BOOTSTRAP": bootstrap, "SQM_BROKER_PROFILE": "tansu",
        "SQM_CLICKHOUSE_URL": f"chdb://{store}", "SQM_LOG_LEVEL": "INFO",
        "SQM_PROGRESS_INTERVAL_S": "0.5", "SQM_BATCH_MAX": "40", "SQM_BATCH_WITHIN_S": "0.05",
        "SQM_WEB_PORT": str(free_port()),
        # Not served unless a test asks (SQM_METRICS_PORT in `extra`): workers of one test, or
        # of tests run side by side, would all want the default port.
        "SQM_METRICS_PORT": "0", **extra,
    }


def produce(bootstrap: str, lines: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for line in lines:
        rec = validate(line)
        key = rec.contact_id.encode() if isinstance(rec, EventRecord) else None
        producer.send("sqm.events", value=line, key=key)
    producer.flush()
    producer.close()


def merged_window_totals(
    stores_rows: list[list[tuple[Any, ...]]],
) -> dict[tuple[Any, ...], dict[str, int]]:
    """ReplacingMergeTree FINAL across several stores (highest version per key and shard),
    then the sum over shards: what one shared ClickHouse server would answer."""
    best: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
    for rows in stores_rows:
        for r in rows:
            key, version, counts = r[:6], r[6], tuple(r[7:])
            if key not in best or best[key][0] < version:
                best[key] = (version, counts)
    totals: dict[tuple[Any, ...], list[int]] = {}
    for key, (_, counts) in best.items():
        acc = totals.setdefault(key[:5], [0] * len(COUNTERS))
        for i, x in enumerate(counts):
            acc[i] += x
    return {k: dict(zip(COUNTERS, v, strict=True)) for k, v in totals.items() if any(v)}


# Progress fields that move while idle: the time, and records produced (the live alert clock
# writes each partition's meta record, its clock, on every tick).
MOVING = ("ts", "produced")


class Worker:
    """`sqm worker` in a subprocess; its JSON progress lines are parsed as they arrive.

    Every worker started is remembered in `STARTED` so a fixture can kill what a failed test
    left running (`kill_leftovers`)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sqm.streams.cli", "worker"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        STARTED.append(self)
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
                    and len({orjson.dumps({k: v for k, v in t.items() if k not in MOVING})
                             for t in tail}) == 1):
                return
            assert self.proc.poll() is None, f"worker exited: {self.errors[-3:]}"
            time.sleep(0.2)
        raise AssertionError(f"never idle; last progress {self.progress[-5:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


class TopicReader:
    """Every message of a topic from its start, in arrival order per partition (kafka-python);
    values are parsed as JSON. For topics a worker writes, such as `sqm.alerts`."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 4) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                      auto_offset_reset="earliest")
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.messages: list[dict[str, Any]] = []

    def poll(self, timeout_ms: int = 200) -> list[dict[str, Any]]:
        for records in self.consumer.poll(timeout_ms=timeout_ms).values():
            self.messages.extend(orjson.loads(r.value) for r in records)
        return self.messages

    def drain(self) -> list[dict[str, Any]]:
        """Everything written so far (polls until a poll brings nothing new)."""
        while True:
            n = len(self.messages)
            if len(self.poll(timeout_ms=1000)) == n:
                return self.messages

    def wait_for(self, pred: Any, timeout: float, worker: Worker | None = None
                 ) -> list[dict[str, Any]]:
        """Poll until `pred(messages)` holds; the messages read so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.poll()):
                return self.messages
            if worker is not None:
                assert worker.proc.poll() is None, f"worker exited: {worker.errors[-3:]}"
        raise AssertionError(f"timed out; messages so far: {self.messages[-3:]}")

    def close(self) -> None:
        self.consumer.close()


