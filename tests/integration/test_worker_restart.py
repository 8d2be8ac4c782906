"""At-least-once in, idempotent out: a worker killed with SIGKILL mid-stream and restarted on
the same broker recovers its state from the changelog, re-processes what was not committed,
and the store still matches the reference exactly.

Real parts only: a Tansu broker started here, `sqm worker` subprocesses, chDB.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sqm.sinks.clickhouse import connect
from sqm.streams.core.records import EventRecord
from sqm.streams.core.validate import validate
from sqm.streams.engine.faust.broker import EmbeddedBroker, free_port, tansu_end_offsets
from sqm.streams.engine.faust.ingest_consumer import ingest_group
from sqm.streams.simulate import SimConfig, history
from tests import reference
from tests.workers import (
    WINDOWS_SQL,
    Worker,
    merged_window_totals,
    produce,
    worker_env,
)

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters"]


def simulated(contacts: int, seed: int) -> tuple[list[bytes], list[EventRecord]]:
    lines = [e.encode() if isinstance(e, str) else orjson.dumps(e) for e in history(
        contacts, datetime(2026, 3, 2, 1, 0, tzinfo=UTC), 5.0, SimConfig(seed=seed), messy=True)]
    return lines, [r for r in map(validate, lines) if isinstance(r, EventRecord)]


def test_sigkill_and_restart_never_double_counts(broker: EmbeddedBroker, tmp_path: Path) -> None:
    lines, records = simulated(600, seed=5)
    head = len(lines) // 4
    produce(broker.bootstrap, lines[:head])
    store = tmp_path / "store"
    env = worker_env(broker.bootstrap, store)
    first = Worker(env)
    first.wait_for(lambda p: p["batches"] >= 1, timeout=120)
    # The rest arrives over ~10 s, so the kill and the restart both happen under load, and
    # the worker cannot finish first (the ingest stage reads everything queued in well under a
    # second).
    feeder = threading.Thread(target=produce_slowly, args=(broker.bootstrap, lines[head:], 20))
    feeder.start()
    first.wait_for(lambda p: p["batches"] >= 3, timeout=60)
    first.stop(signal.SIGKILL)  # no flush, no commit: the hard case
    assert feeder.is_alive(), "the input was all in before the kill"
    assert first.progress[-1]["settled"] < len(lines), "finished before it could be killed"
    # Restarted at once: the group rebalances again when it evicts the dead member (session
    # timeout 10 s), so the worker recovers, starts its streams, and does it all over again.

    expected = reference.windows(records)
    worker = Worker({**env, "SQM_WEB_PORT": str(free_port())})
    feeder.join()
    worker.wait_idle(timeout=240, quiet_reports=20)
    # Every input message was forwarded and its offset committed by the ingest consumer ...
    assert _committed(broker.bootstrap, "sqm.events") == len(lines)
    # ... and every forwarded message was delivered to the customer agent and acknowledged:
    # Faust's recovery used to drop what it fetched while starting the streams, which stalled
    # the commit for good (streams/engine/faust/recovery.py).
    assert _committed(broker.bootstrap, "sqm.by-customer", "sqm") == _end(
        broker.bootstrap, "sqm.by-customer")
    worker.stop()
    assert worker.proc.returncode == 0, worker.errors[-3:]

    client = connect(f"chdb://{store}")
    try:
        assert _windows(client) == expected
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


def test_two_workers_share_the_partitions(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A second worker joins mid-stream; the group rebalances and each processes some shards.

    chDB allows one process per data directory, so each worker writes its own store; the test
    then answers as one shared ClickHouse server would (highest version per key wins)."""
    lines, records = simulated(600, seed=9)
    head = len(lines) // 4
    produce(broker.bootstrap, lines[:head])
    stores = [tmp_path / "a", tmp_path / "b"]
    first = Worker(worker_env(broker.bootstrap, stores[0]))
    first.wait_for(lambda p: p["batches"] >= 2, timeout=120)
    second = Worker(worker_env(broker.bootstrap, stores[1]))
    # The rest arrives over ~20 s, so input keeps coming while the second worker joins (~9 s)
    # and both end up with work, however fast the first one is.
    produce_slowly(broker.bootstrap, lines[head:], 20, pause_s=1)
    second.wait_idle(timeout=240, quiet_reports=20)
    first.wait_idle(timeout=60, quiet_reports=20)
    assert _committed(broker.bootstrap, "sqm.events") == len(lines)  # nothing skipped
    assert _committed(broker.bootstrap, "sqm.by-customer", "sqm") == _end(
        broker.bootstrap, "sqm.by-customer")
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


def produce_slowly(bootstrap: str, lines: list[bytes], steps: int, pause_s: float = 0.5) -> None:
    """`lines` in `steps` slices, `pause_s` apart."""
    step = -(-len(lines) // steps)
    for start in range(0, len(lines), step):
        produce(bootstrap, lines[start:start + step])
        time.sleep(pause_s)


def _windows(client: Any) -> dict[Any, dict[str, int]]:
    return merged_window_totals([[tuple(r) for r in client.query(WINDOWS_SQL).result_rows]])


def _committed(bootstrap: str, topic: str, group: str = ingest_group("sqm")) -> int:
    """Sum of a group's committed offsets over the topic's partitions (by default the ingest
    consumer's group; Faust's own group is the app id, `sqm`)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(4))
    finally:
        consumer.close()


def _end(bootstrap: str, topic: str) -> int:
    """Sum of the topic's end offsets (true ones: Tansu's own are off for batched partitions)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def ends() -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            reported = await consumer.end_offsets([TopicPartition(topic, p) for p in range(4)])
        finally:
            await consumer.stop()
        return await tansu_end_offsets(bootstrap, reported)

    return sum(asyncio.run(ends()).values())
