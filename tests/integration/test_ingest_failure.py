"""A failing ingest stage stops the worker (non-zero exit, one error line) and commits nothing,
like a failing agent does: a supervisor restarts it and the input is read again.

Real parts: a Tansu broker started here and `sqm worker` in a subprocess whose ingest stage
is made to fail.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams.agents.ingest_consumer import ingest_group
from streams.broker import EmbeddedBroker, ensure_topics
from tests.workers import produce, worker_env

pytestmark = pytest.mark.integration

FAILING_WORKER = """
import sys
from streams.agents.ingest import IngestStage
from streams.cli import main

async def fail(self, records):
    raise RuntimeError("injected failure")

IngestStage.handle = fail
sys.argv = ["sqm", "worker"]
main()
"""


def test_a_failing_ingest_stage_stops_the_worker(tmp_path: Path) -> None:
    from kafka import KafkaConsumer, TopicPartition

    line = orjson.dumps({
        "event_id": "e1", "type": "contact.queued", "occurred_at": "2026-03-02T09:00:05Z",
        "tenant_id": "t1", "contact_id": "c1", "customer_id": "u1", "channel": "chat",
        "queue": "q1"})
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, ["sqm.events", "sqm.by-customer", "sqm.dead-letters"], 4)
        produce(broker.bootstrap, [line])
        run = subprocess.run([sys.executable, "-c", FAILING_WORKER], capture_output=True,
                             text=True, timeout=120, cwd=Path(__file__).parents[2],
                             env=worker_env(broker.bootstrap, tmp_path / "store"))
        assert run.returncode != 0
        assert "ingest stage failed, stopping the worker: injected failure" in run.stderr
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap,
                                 group_id=ingest_group("sqm"), enable_auto_commit=False)
        try:
            assert not any(consumer.committed(TopicPartition("sqm.events", p))
                           for p in range(4))
        finally:
            consumer.close()
