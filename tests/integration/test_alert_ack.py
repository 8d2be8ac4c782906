"""`sqm alerts ack`: the acknowledgement reaches every partition of `sqm.alert-inputs` on a real
(embedded) broker, in the form the alert stage applies, and a running worker turns it into the
acknowledged version of the alert (topic and table), once; no broker is one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from sqm.sinks.clickhouse import connect
from sqm.streams.core.alerting import AlertMonitor, WaitingContact, parse_config
from sqm.streams.core.alerting.partition import PartitionAlerts
from sqm.streams.core.wire import alert_partition
from sqm.streams.engine.faust.broker import EmbeddedBroker, ensure_topics, free_port
from tests.workers import TopicReader, Worker, produce, worker_env

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters", "sqm.alert-inputs", "sqm.alerts"]
# Live, the clock is the wall clock: an alert driven by data that is true now. One contact
# waiting in a queue is a backlog of 1 > 0, which fires at the next tick and lasts until the
# contact is answered. Nothing else raises alerts (no at-risk warnings, no anomalies).
POLICY = """
at_risk: {enabled: false}
anomalies: []
rules:
  - id: queue-waiting
    metric: backlog
    scope: {tenant: "*", channel: "*", queue: "*"}
    comparison: ">"
    threshold: 0
    severity: warning
"""


def ack(bootstrap: str, alert_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "alerts", "ack", alert_id],
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
    line = run.stderr.strip()
    assert line.startswith("error: could not send the acknowledgement: Kafka at 127.0.0.1"), line
    assert "unreachable" in line and "SQM_KAFKA_BOOTSTRAP" in line, line
    assert "Traceback" not in run.stderr


def event(type_: str, at: datetime, **fields: str) -> bytes:
    return orjson.dumps({
        "event_id": f"c1-{type_}", "type": type_, "occurred_at": at.isoformat(),
        "tenant_id": "shop", "contact_id": "c1", "customer_id": "u1", "channel": "chat",
        **fields,
    })


def versions(messages: list[dict[str, Any]], alert: str) -> list[tuple[str, int]]:
    return [(m["state"], m["version"]) for m in messages if m["alert_id"] == alert]


def stored(store: Path, alert: str) -> list[tuple[Any, ...]]:
    """(state, version, updated_at ms) of the alert under FINAL, then its raw (alert_id,
    version) pairs; read once the worker has stopped (one process per chDB store)."""
    client = connect(f"chdb://{store}")
    try:
        final = client.query(
            "SELECT state, version, toUnixTimestamp64Milli(updated_at) FROM sqm.alerts FINAL "
            "WHERE alert_id = {a:String}", parameters={"a": alert}).result_rows
        raw = client.query("SELECT alert_id, version FROM sqm.alerts").result_rows
    finally:
        client.close()
    assert len(raw) == len(set(raw)), f"duplicate (alert_id, version) rows: {raw}"
    return [tuple(r) for r in final]


def test_a_running_worker_acknowledges_once_and_keeps_it_across_a_restart(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    policy = tmp_path / "alerts.yaml"
    policy.write_text(POLICY)
    store = tmp_path / "store"
    env = worker_env(broker.bootstrap, store, SQM_ALERTS_CONFIG=str(policy))
    worker = Worker(env)
    alerts = TopicReader(broker.bootstrap, "sqm.alerts")
    try:
        start = datetime.now(UTC)
        produce(broker.bootstrap, [event("contact.created", start, queue="billing"),
                                   event("contact.queued", start, queue="billing")])
        firing = lambda ms: any(m["state"] == "firing" for m in ms)  # noqa: E731
        [fire] = alerts.wait_for(firing, timeout=60, worker=worker)
        assert (fire["rule_id"], fire["queue"], fire["version"]) == ("queue-waiting", "billing", 1)
        alert = fire["alert_id"]

        assert ack(broker.bootstrap, alert).returncode == 0
        acked = lambda ms: ("acknowledged", 2) in versions(ms, alert)  # noqa: E731
        ack_change = alerts.wait_for(acked, timeout=30, worker=worker)[-1]
        assert ack_change["started_at"] == fire["started_at"] and ack_change["ended_at"] is None
        assert ack_change["message"] == fire["message"] + " (acknowledged)"

        # A second acknowledgement: the worker applies it (its counter of alert inputs done
        # covers the customer stage's messages and both acknowledgements on all 4 partitions),
        # then a clean stop flushes anything it would have written.
        assert ack(broker.bootstrap, alert).returncode == 0
        worker.wait_for(lambda p: p["alert_inputs_done"] == p["alert_inputs_sent"] + 2 * 4,
                        timeout=30)
        worker.stop()
        assert worker.proc.returncode == 0, worker.errors[-3:]
        assert versions(alerts.drain(), alert) == [("firing", 1), ("acknowledged", 2)]
        # The table holds the acknowledged version written by the first acknowledgement (a
        # second write of version 2 would win under FINAL with its later updated_at).
        assert stored(store, alert) == [("acknowledged", 2, ack_change["updated_at"])]

        # Restarted, the worker restores the acknowledgement from its changelog: a third one
        # changes nothing. It is applied before the answer (same partition, sent first), and
        # the answer empties the queue: the acknowledged alert resolves by itself.
        worker = Worker({**env, "SQM_WEB_PORT": str(free_port())})
        assert ack(broker.bootstrap, alert).returncode == 0
        produce(broker.bootstrap, [event("message.sent", datetime.now(UTC), sender="agent",
                                         agent_id="a1")])
        resolved = lambda ms: ("resolved", 3) in versions(ms, alert)  # noqa: E731
        alerts.wait_for(resolved, timeout=60, worker=worker)
        worker.stop()
        assert worker.proc.returncode == 0, worker.errors[-3:]
        assert versions(alerts.drain(), alert) == [
            ("firing", 1), ("acknowledged", 2), ("resolved", 3)]
        assert [m["state"] for m in alerts.messages] == ["firing", "acknowledged", "resolved"]
        [(state, version, _)] = stored(store, alert)
        assert (state, version) == ("resolved", 3)
    finally:
        alerts.close()


def test_a_worker_upgraded_in_place_restores_the_single_record_state(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """The alert state as sqm wrote it before the parts layout (one changelog record per
    partition, key b"<p>"): a new worker restores it, so the acknowledged alert it holds is
    not acknowledged again, and resolves when its contact is answered."""
    import yaml
    from kafka import KafkaProducer

    config = parse_config(yaml.safe_load(POLICY))
    now = int(datetime.now(UTC).timestamp() * 1000)
    monitor = AlertMonitor(config)
    monitor.waiting.record(WaitingContact("shop", "c1", "chat", "billing", "normal", now - 9000,
                                          30), None)
    [fire] = monitor.evaluate(now - 5000)
    assert monitor.acknowledge(fire.alert_id, now - 4000) is not None
    p = alert_partition("shop", 4)
    changelog = "sqm-sqm-alert-state-changelog"
    ensure_topics(broker.bootstrap, [changelog], 4)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(changelog, key=str(p).encode(), partition=p,
                  value=PartitionAlerts(monitor, {0: now - 5000}).encode()).get(timeout=10)
    producer.close()

    policy = tmp_path / "alerts.yaml"
    policy.write_text(POLICY)
    store = tmp_path / "store"
    worker = Worker(worker_env(broker.bootstrap, store, SQM_ALERTS_CONFIG=str(policy)))
    alerts = TopicReader(broker.bootstrap, "sqm.alerts")
    try:
        # Sent before the worker has even joined: applied after the restore, before the answer.
        assert ack(broker.bootstrap, fire.alert_id).returncode == 0
        start = datetime.fromtimestamp((now - 9000) / 1000, UTC)
        produce(broker.bootstrap, [
            event("contact.created", start, queue="billing"),
            event("contact.queued", start, queue="billing"),
            event("message.sent", datetime.now(UTC), sender="agent", agent_id="a1")])
        alerts.wait_for(lambda ms: ("resolved", 3) in versions(ms, fire.alert_id), timeout=60,
                        worker=worker)
        worker.stop()
        assert worker.proc.returncode == 0, worker.errors[-3:]
        assert [(m["alert_id"], m["state"], m["version"]) for m in alerts.drain()] == [
            (fire.alert_id, "resolved", 3)]
    finally:
        alerts.close()
