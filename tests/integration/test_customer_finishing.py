"""The customer stage finishes a batch (rows, sends, changelog) in the background while the next
one is applied; its messages are acknowledged only once it is finished.

Real parts: a Tansu broker started here and an `sqm worker` subprocess whose finishing step
fails after a delay longer than Faust's commit interval: had the messages been acknowledged
when `handle` returned, their offsets would be committed by then.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.broker import EmbeddedBroker
from tests.workers import produce, worker_env

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters", "sqm.alert-inputs", "sqm.alerts"]

FAILING_WORKER = """
import asyncio
import sys
from streams.agents.customers import CustomerStage
from streams.cli import main

async def fail(self, prepared, previous, events):
    await asyncio.sleep(6)  # Faust commits acknowledged offsets every 2.8 s
    raise RuntimeError("injected failure")

CustomerStage._finish = fail
sys.argv = ["sqm", "worker"]
main()
"""


def line(i: int) -> bytes:
    return orjson.dumps({
        "event_id": f"e{i}", "type": "contact.queued", "occurred_at": "2026-03-02T09:00:05Z",
        "tenant_id": "t1", "contact_id": f"c{i}", "customer_id": f"u{i}", "channel": "chat",
        "queue": "q1"})


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(4)}
    finally:
        consumer.close()


def test_a_batch_failing_to_finish_stops_the_worker_and_commits_nothing(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    produce(broker.bootstrap, [line(i) for i in range(20)])
    run = subprocess.run([sys.executable, "-c", FAILING_WORKER], capture_output=True,
                         text=True, timeout=180, cwd=Path(__file__).parents[2],
                         env=worker_env(broker.bootstrap, tmp_path / "store"))
    assert run.returncode != 0
    assert ("customer stage failed finishing a batch, stopping the worker: injected failure"
            in run.stderr)
    # The ingest stage forwarded the events (its offsets may be committed); the customer
    # stage's input offsets must not be: nothing of those batches was written.
    assert not any(committed(broker.bootstrap, "sqm", "sqm.by-customer").values())
