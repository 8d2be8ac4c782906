"""A real worker serves /metrics, /healthz and /readyz: `sqm worker` on a Tansu broker started
here, writing to chDB, fed tests/data/messy.jsonl; scraped over HTTP and parsed with
prometheus-client's own parser.

Expected values are counted by hand from the file (26 lines: 1 invalid JSON, 1 without a
tenant, 1 dated 2099, 1 without a time zone; 22 valid events, 2 of them a re-delivery), as
`sqm replay` reports it in the README. The alert gauge: a live rule that fires on one waiting
contact and resolves when it is answered.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sqm.streams.engine.faust.broker import EmbeddedBroker, free_port
from tests.workers import Worker, produce, worker_env

pytestmark = pytest.mark.integration

TOPICS = ["sqm.events", "sqm.by-customer", "sqm.dead-letters"]
MESSY = Path(__file__).resolve().parents[1] / "data" / "messy.jsonl"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {sorted labels: value} of every sample, as Prometheus would store them."""
    status, text = get(base + "/metrics")
    assert status == 200
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_worker_serves_metrics_and_probes(broker: EmbeddedBroker, tmp_path: Path) -> None:
    lines = [line for line in MESSY.read_bytes().splitlines() if line.strip()]
    assert len(lines) == 26
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # All in before the worker starts: its first fetch holds every partition's events. (Input
    # partition 0 gets no valid event of this file; idle after a second, it stops holding the
    # event clock at 0. Produced later, the events of a partition read after another one
    # turned idle and moved the clock on could be late.)
    produce(broker.bootstrap, lines)
    worker = Worker(worker_env(broker.bootstrap, tmp_path / "store",
                               SQM_METRICS_PORT=str(port), SQM_METRICS_HOST="127.0.0.1",
                               SQM_IDLE_PARTITION_S="1"))
    # Readiness, polled from the worker's start: the first answers are 503 with a reason
    # (starting, joining ...), and only later 200.
    answers: list[tuple[int, str]] = []
    deadline = time.monotonic() + 120
    while not answers or answers[-1][0] != 200:
        assert time.monotonic() < deadline, f"never ready: {answers[-3:]}, {worker.errors[-3:]}"
        assert worker.proc.poll() is None, worker.errors[-3:]
        with contextlib.suppress(OSError):  # not listening yet
            answers.append(get(base + "/readyz"))
        time.sleep(0.1)
    not_ready = [text for code, text in answers if code == 503]
    assert not_ready, "ready from the first answer"
    assert all(len(text.strip().splitlines()) == 1 for text in not_ready)
    assert {code for code, _ in answers} == {200, 503}
    assert get(base + "/healthz") == (200, "ok\n")

    worker.wait_for(lambda p: p["settled"] >= 26, timeout=120)
    worker.wait_idle(timeout=60)

    # Lag is read on the event loop once a second: give it a few beats.
    deadline = time.monotonic() + 15
    while True:
        m = scrape(base)
        lag = m.get("sqm_consumer_lag", {})
        if (lag and not any(lag.values())) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert m["sqm_events_read_total"] == {(): 26}
    assert m["sqm_events_stored_total"] == {(): 22}
    dead = {labels[0][1]: n for labels, n in m["sqm_events_dead_lettered_total"].items()}
    assert {r: n for r, n in dead.items() if n} == {
        "json": 1, "missing_field": 1, "future": 1, "invalid_field": 1}
    assert set(dead) == {"encoding", "json", "duplicate_key", "schema_version", "event_type",
                         "missing_field", "invalid_field", "future", "too_old", "late"}
    assert m["sqm_corrections_dropped_total"] == {(): 0}
    # Every partition of both groups is reported, and everything was consumed and committed.
    assert set(lag) == {
        *((("group", "sqm-ingest"), ("partition", str(p)), ("topic", "sqm.events"))
          for p in range(4)),
        *((("group", "sqm"), ("partition", str(p)), ("topic", "sqm.by-customer"))
          for p in range(4)),
        *((("group", "sqm"), ("partition", str(p)), ("topic", "sqm.alert-inputs"))
          for p in range(4)),
    }, sorted(lag)
    assert not any(lag.values()), lag
    # One batch of 26 read events at least; every stored event went through a customer batch.
    assert m["sqm_batch_events_sum"][(("stage", "ingest"),)] == 26
    assert m["sqm_batch_events_sum"][(("stage", "customer"),)] == 22
    assert m["sqm_clickhouse_insert_seconds_count"][(("table", "events"),)] >= 1
    assert m["sqm_clickhouse_failures_total"] == {(): 0}
    # messy.jsonl: 6 contacts of 4 customers (A/u1, A/u2, A/u3, B/u1).
    assert m["sqm_state_contacts"] == {(): 6}
    assert m["sqm_state_customers"] == {(): 4}
    assert m["sqm_state_windows"][()] > 0
    # The shards' clocks are the event times of the file (2026-03-02), far behind the wall.
    clocks = m["sqm_event_clock_seconds"]
    assert clocks and all(1772409600 <= v < 1772409600 + 86400 for v in clocks.values()), clocks
    assert all(d > 86400 for d in m["sqm_event_clock_delay_seconds"].values())
    assert m["sqm_alert_evaluations_total"][()] > 0

    worker.stop()
    assert worker.proc.returncode == 0, worker.errors[-3:]


# One contact waiting in a queue is a backlog of 1 > 0: live, it fires at the next tick and
# resolves when the contact is answered (as in test_alert_ack.py).
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
  - id: never
    metric: backlog
    scope: {tenant: "*", channel: "*", queue: "*"}
    comparison: ">"
    threshold: 1000
    severity: warning
"""


def event(type_: str, at: datetime, **fields: str) -> bytes:
    return orjson.dumps({
        "event_id": f"c1-{type_}", "type": type_, "occurred_at": at.isoformat(),
        "tenant_id": "shop", "contact_id": "c1", "customer_id": "u1", "channel": "chat",
        **fields})


def test_firing_alerts_by_rule(broker: EmbeddedBroker, tmp_path: Path) -> None:
    policy = tmp_path / "alerts.yaml"
    policy.write_text(POLICY)
    env = worker_env(broker.bootstrap, tmp_path / "store", SQM_ALERTS_CONFIG=str(policy),
                     SQM_METRICS_HOST="127.0.0.1")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = Worker({**env, "SQM_METRICS_PORT": str(port)})
    wait_ready(base, worker)

    def firing() -> dict[str, float]:
        return {labels[0][1]: n for labels, n in scrape(base)["sqm_alerts_firing"].items()}

    wait_until(lambda: firing() == {"queue-waiting": 0, "never": 0}, worker)
    start = datetime.now(UTC)
    produce(broker.bootstrap, [event("contact.created", start, queue="billing"),
                               event("contact.queued", start, queue="billing")])
    wait_until(lambda: firing() == {"queue-waiting": 1, "never": 0}, worker)
    # Restarted, the worker restores the firing alert from its changelog and counts it,
    # although it made no change to it.
    worker.stop()
    assert worker.proc.returncode == 0, worker.errors[-3:]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = Worker({**env, "SQM_METRICS_PORT": str(port), "SQM_WEB_PORT": str(free_port())})
    wait_ready(base, worker)
    wait_until(lambda: firing() == {"queue-waiting": 1, "never": 0}, worker)
    produce(broker.bootstrap, [event("message.sent", datetime.now(UTC), sender="agent",
                                     agent_id="a1")])
    wait_until(lambda: firing() == {"queue-waiting": 0, "never": 0}, worker)
    assert scrape(base)["sqm_alert_evaluations_total"][()] > 0
    worker.stop()
    assert worker.proc.returncode == 0, worker.errors[-3:]


def wait_ready(base: str, worker: Worker) -> None:
    wait_until(lambda: get(base + "/readyz")[0] == 200, worker, timeout=120)


def wait_until(pred: Callable[[], bool], worker: Worker, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert worker.proc.poll() is None, worker.errors[-3:]
        with contextlib.suppress(OSError):
            if pred():
                return
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
