"""The ingest consumer's group against a real broker: a failing stage (ingest, or the customer
stage behind it) stops the worker and commits nothing of what it failed on; a first start after
an upgrade resumes where the Faust agent's group left off.

Real parts: a Tansu broker started here and `sqm worker` subprocesses.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from sqm.streams.engine.faust.broker import EmbeddedBroker, ensure_topics
from sqm.streams.engine.faust.ingest_consumer import ingest_group
from tests.workers import Worker, kill_leftovers, produce, worker_env

pytestmark = pytest.mark.integration

FAILING_WORKER = """
import sys
from sqm.streams.engine.faust.ingest import IngestStage
from sqm.streams.cli import main

async def fail(self, *args):
    raise RuntimeError("injected failure")

IngestStage.handle = fail
sys.argv = ["sqm", "worker"]
main()
"""

FAILING_CUSTOMER_STAGE = FAILING_WORKER.replace(
    "from sqm.streams.engine.faust.ingest import IngestStage",
    "from sqm.streams.engine.faust.customers import CustomerAgent",
).replace("IngestStage.handle", "CustomerAgent.finish")  # its writes fail


@pytest.fixture()
def broker() -> Iterator[EmbeddedBroker]:
    try:
        with EmbeddedBroker() as b:
            ensure_topics(b.bootstrap, ["sqm.events", "sqm.by-customer", "sqm.dead-letters"], 4)
            yield b
    finally:
        kill_leftovers()


def line(i: int) -> bytes:
    return orjson.dumps({
        "event_id": f"e{i}", "type": "contact.queued", "occurred_at": "2026-03-02T09:00:05Z",
        "tenant_id": "t1", "contact_id": f"c{i}", "customer_id": f"u{i}", "channel": "chat",
        "queue": "q1"})


def committed(bootstrap: str, group: str, topic: str = "sqm.events") -> dict[int, int | None]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(4)}
    finally:
        consumer.close()


def test_a_failing_ingest_stage_stops_the_worker(broker: EmbeddedBroker, tmp_path: Path) -> None:
    produce(broker.bootstrap, [line(0)])
    run = subprocess.run([sys.executable, "-c", FAILING_WORKER], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).parents[2],
                         env=worker_env(broker.bootstrap, tmp_path / "store"))
    assert run.returncode != 0
    assert "ingest stage failed, stopping the worker: injected failure" in run.stderr
    assert not any(committed(broker.bootstrap, ingest_group("sqm")).values())


def test_a_failing_customer_stage_stops_the_worker_unacknowledged(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    produce(broker.bootstrap, [line(i) for i in range(8)])
    run = subprocess.run([sys.executable, "-c", FAILING_CUSTOMER_STAGE], capture_output=True,
                         text=True, timeout=120, cwd=Path(__file__).parents[2],
                         env=worker_env(broker.bootstrap, tmp_path / "store"))
    assert run.returncode != 0
    assert "customer stage failed, stopping the worker: injected failure" in run.stderr
    # The failed batch is not acknowledged: a restarted worker processes it again.
    assert not any(committed(broker.bootstrap, "sqm", "sqm.by-customer").values())


def test_first_start_resumes_where_the_faust_agent_left_off(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    for i in range(40):  # ten per partition (Tansu's end offsets are not to be trusted)
        producer.send("sqm.events", value=line(i), partition=i % 4)
    producer.flush()
    producer.close()
    # An older sqm read partition 0 up to offset 3 and partition 2 to its end with a Faust agent
    # in the app's group; partitions 1 and 3 it never committed.
    old = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="sqm",
                        enable_auto_commit=False)
    old.commit({TopicPartition("sqm.events", 0): OffsetAndMetadata(3, "", -1),
                TopicPartition("sqm.events", 2): OffsetAndMetadata(10, "", -1)})
    old.close()

    worker = Worker(worker_env(broker.bootstrap, tmp_path / "store"))
    worker.wait_idle(timeout=120, quiet_reports=6)
    assert worker.progress[-1]["read"] == 40 - 3 - 10
    assert committed(broker.bootstrap, ingest_group("sqm")) == {0: 10, 1: 10, 2: None, 3: 10}
    worker.stop()
    assert worker.proc.returncode == 0, worker.errors[-3:]
