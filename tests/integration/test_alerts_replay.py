"""Alerts end to end: a replayed hour in which one queue breaches its service level and
recovers, beside a calm queue. Real CLI, embedded broker, the Faust agents, chDB.

Expected by hand (default rules, docs/alerting.md): one contact every 20 s per queue, chat
(target 30 s, at-risk at 80 % = 24 s). Calm: every answer after 10 s. Hot: contacts queued
from 20:00 to 34:59 wait 60 s (misses), all others 10 s. The 15-minute service level of the hot
queue falls below 0.8 a few minutes after 20:00 and, with the 2-minute `for`, fires once; it
recovers to ≥ 0.85 a few minutes after the slow period leaves the 15-minute window and resolves
once. Each slow contact first raises an at-risk warning at 24 s, before any breach.

`sqm replay` checks the table; the same scenario through `sqm worker` on the event clock,
against a broker the test owns, checks the messages on the `sqm.alerts` topic as well.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from sqm.sinks.clickhouse import connect
from sqm.streams.engine.faust.broker import EmbeddedBroker
from tests.workers import TopicReader, Worker, produce, worker_env

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters", "sqm.alert-inputs", "sqm.alerts"]

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def scenario() -> list[bytes]:
    lines: list[tuple[datetime, bytes]] = []
    n = 0
    for queue in ("hot", "calm"):
        for i in range(180):  # 60 minutes, one contact every 20 s
            n += 1
            start = T0 + timedelta(seconds=20 * i)
            slow = queue == "hot" and 20 * 60 <= 20 * i < 35 * 60
            answer = start + timedelta(seconds=60 if slow else 10)
            base = {"tenant_id": "shop", "contact_id": f"{queue}-{i}",
                    "customer_id": f"cust-{n}", "channel": "chat"}
            for k, (at, fields) in enumerate([
                (start, {"type": "contact.created", "queue": queue}),
                (start, {"type": "contact.queued", "queue": queue}),
                (answer, {"type": "message.sent", "sender": "agent", "agent_id": "a1"}),
                (answer + timedelta(seconds=30), {"type": "contact.resolved",
                                                  "resolved_by": "human"}),
            ]):
                event = {"event_id": f"{queue}-{i}-{k}", "occurred_at": at.isoformat(), **base,
                         **fields}
                lines.append((at, orjson.dumps(event)))
    lines.sort(key=lambda x: x[0])
    return [line for _, line in lines]


def test_breach_and_recovery_fire_once_with_a_warning_first(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(scenario()) + b"\n")
    store = tmp_path / "store"
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "replay", str(events), "--store", str(store),
         "--no-progress"], capture_output=True, text=True, timeout=300,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    client = connect(f"chdb://{store}")
    try:
        rows = client.query("""
            SELECT rule_id, kind, state, queue, toUnixTimestamp64Milli(started_at),
                   toUnixTimestamp64Milli(ended_at)
            FROM sqm.alerts FINAL ORDER BY started_at""").result_rows
    finally:
        client.close()
    breaches = [r for r in rows if r[1] != "at_risk"]
    assert [(r[0], r[2], r[3]) for r in breaches] == [("service-level-low", "resolved", "hot")]
    _, _, _, _, started, ended = breaches[0]
    t0 = int(T0.timestamp() * 1000)
    assert t0 + 20 * 60_000 < started < t0 + 30 * 60_000
    assert t0 + 35 * 60_000 < ended < t0 + 55 * 60_000
    warnings = [r for r in rows if r[1] == "at_risk"]
    assert warnings and all(r[3] == "hot" for r in warnings)
    # The first slow contact (queued 20:00) is warned at 20:24, before the breach fires.
    assert min(r[4] for r in warnings) == t0 + 20 * 60_000 + 24_000 < started
    assert len(warnings) == 45  # one per slow contact, each resolved
    assert all(r[2] == "resolved" for r in warnings)


def replay_alerts(events: Path, store: Path, batch_max: int) -> list[tuple[object, ...]]:
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "replay", str(events), "--store", str(store),
         "--no-progress"], capture_output=True, text=True, timeout=300,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin", "SQM_BATCH_MAX": str(batch_max)})
    assert run.returncode == 0, run.stderr
    client = connect(f"chdb://{store}")
    try:
        return client.query("""
            SELECT alert_id, rule_id, state, started_at, ended_at, updated_at, value,
                   contact_id
            FROM sqm.alerts FINAL ORDER BY alert_id""").result_rows
    finally:
        client.close()


def test_replays_batched_differently_raise_the_same_alerts(tmp_path: Path) -> None:
    """The scenario and, three quiet hours later, ten more minutes of the hot queue's slow
    answers: replayed in batches of 40 and of 5,000 events, the alert rows are identical (the
    event clock evaluates every rule at every whole minute, once no event can change it, and
    skips none, docs/alerting.md)."""
    late = T0 + timedelta(hours=4)
    tail = []
    for i in range(200):  # a contact every 3 s, each answered after 60 s: service level 0
        start = late + timedelta(seconds=3 * i)
        base = {"tenant_id": "shop", "contact_id": f"late-{i}", "customer_id": f"late-{i}",
                "channel": "chat"}
        for k, (at, fields) in enumerate([
            (start, {"type": "contact.created", "queue": "hot"}),
            (start, {"type": "contact.queued", "queue": "hot"}),
            (start + timedelta(seconds=60),
             {"type": "message.sent", "sender": "agent", "agent_id": "a1"}),
        ]):
            tail.append(orjson.dumps({"event_id": f"late-{i}-{k}", "occurred_at": at.isoformat(),
                                      **base, **fields}))
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(scenario() + sorted(
        tail, key=lambda x: orjson.loads(x)["occurred_at"])) + b"\n")
    small = replay_alerts(events, tmp_path / "small", 40)
    large = replay_alerts(events, tmp_path / "large", 5000)
    assert small == large
    rules = Counter((r[1], r[2]) for r in small)
    assert rules[("service-level-low", "resolved")] == 1  # the scenario's breach
    assert rules[("service-level-low", "firing")] == 1  # the tail's, still firing at its end
    warned = Counter(str(r[7]).startswith("late-") for r in small if r[1] == "contact-at-risk")
    # Every slow contact, the tail's last ones too: at the end of the input the clock closes
    # at the latest event time read, and the last minutes are evaluated.
    assert warned[False] == 45 and warned[True] == 200


def test_the_alerts_topic_holds_one_firing_and_one_resolve(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """The scenario through `sqm worker` on the event clock, fed ten minutes of event time at a
    time (each settled before the next), so the alerts are raised over several evaluations and
    written by several inserts, as live; then the messages on the `sqm.alerts` topic."""
    store = tmp_path / "store"
    # Each chunk's minutes are final once its input partitions turn idle (1 s of silence).
    worker = Worker(worker_env(broker.bootstrap, store, SQM_ALERT_CLOCK="event",
                               SQM_IDLE_PARTITION_S="1"))
    chunks: list[list[bytes]] = [[] for _ in range(6)]
    for line in scenario():  # the last answers and resolves fall after 01:59: in the last one
        at = datetime.fromisoformat(orjson.loads(line)["occurred_at"])
        chunks[min(int((at - T0) / timedelta(minutes=10)), 5)].append(line)
    sent = 0
    for part in chunks:
        produce(broker.bootstrap, part)
        sent += len(part)
        # Every event sent so far settled (the customer stage has sent its alert inputs by
        # then), the alert stage has applied them all, and every input partition turned idle,
        # so every minute read was evaluated.
        worker.wait_for(lambda p, n=sent: p["settled"] == n
                        and p["alert_inputs_done"] == p["alert_inputs_sent"]
                        and p["alert_partitions_closed"] == 4, timeout=60)
    worker.stop()  # a clean stop flushes the producer: every change is on the topic
    assert worker.proc.returncode == 0, worker.errors[-3:]
    reader = TopicReader(broker.bootstrap, "sqm.alerts")
    try:
        messages = reader.drain()
    finally:
        reader.close()

    changes = Counter((m["alert_id"], m["version"]) for m in messages)
    assert max(changes.values()) == 1, "a change was sent twice"
    breaches = [m for m in messages if m["kind"] != "at_risk"]
    assert [(m["rule_id"], m["queue"], m["state"]) for m in sorted(
        breaches, key=lambda m: m["version"])] == [
        ("service-level-low", "hot", "firing"), ("service-level-low", "hot", "resolved")]
    fire, resolve = sorted(breaches, key=lambda m: m["version"])
    assert fire["alert_id"] == resolve["alert_id"]
    assert fire["started_at"] == resolve["started_at"] < resolve["ended_at"]
    assert not [m for m in messages if m["queue"] == "calm"]
    warnings = [m for m in messages if m["kind"] == "at_risk"]
    firing = [m for m in warnings if m["state"] == "firing"]
    resolved = {m["alert_id"] for m in warnings if m["state"] == "resolved"}
    assert len(firing) == 45 and {m["alert_id"] for m in firing} == resolved
    assert all(m["queue"] == "hot" for m in warnings)
    t0 = int(T0.timestamp() * 1000)
    # Warned before the breach: the first slow contact at 20:24, the service level later.
    assert min(m["started_at"] for m in firing) == t0 + 20 * 60_000 + 24_000 < fire["started_at"]

    # The table: what the topic says, each change written once. Without FINAL a change written
    # twice shows as two rows only while they sit in different parts: ClickHouse collapses
    # them within one insert (optimize_on_insert) and in a merge, so the topic is the exact
    # check and this one catches what was written again by a later batch and not yet merged.
    client = connect(f"chdb://{store}")
    try:
        raw = client.query("SELECT alert_id, version FROM sqm.alerts").result_rows
        final = client.query("SELECT alert_id, version FROM sqm.alerts FINAL").result_rows
    finally:
        client.close()
    assert len(raw) == len(set(raw)), "a change was written twice"
    assert set(raw) <= set(changes)
    latest: dict[str, int] = {}
    for alert, version in changes:
        latest[alert] = max(version, latest.get(alert, 0))
    assert dict(final) == latest

