"""`sqm alerts ack`: the acknowledgement reaches every partition of `sqm.alert-inputs` on a real
(embedded) broker, in the form the alert stage applies; no broker is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.broker import EmbeddedBroker, ensure_topics, free_port

pytestmark = pytest.mark.integration


def ack(bootstrap: str, alert_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "alerts", "ack", alert_id],
        capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", ""), "SQM_KAFKA_BOOTSTRAP": bootstrap})


def test_ack_goes_to_every_alert_partition() -> None:
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, ["sqm.alert-inputs"], 4)
        run = ack(broker.bootstrap, "eb268433761cf974dbdc9582")
        assert run.returncode == 0, run.stderr
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=3000,
                                 auto_offset_reset="earliest")
        tps = [TopicPartition("sqm.alert-inputs", p) for p in range(4)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got = sorted((m.partition, orjson.loads(m.value)["ack"]) for m in consumer)
        consumer.close()
    assert got == [(p, "eb268433761cf974dbdc9582") for p in range(4)]


def test_no_broker_is_one_line() -> None:
    run = ack(f"127.0.0.1:{free_port()}", "x")
    assert run.returncode == 1
    assert run.stderr.strip().startswith("error: could not send the acknowledgement to 127.0.0.1")
    assert "Traceback" not in run.stderr
