"""The metrics' parts that need no worker: dead-letter reason categories, the probes' answers
and the HTTP server (a real one on a free port, read with urllib and prometheus-client's
parser). A running worker's metrics: tests/integration/test_worker_metrics.py."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from sqm.streams.config import ConfigError, load_settings
from sqm.streams.core.ingest_batch import route_batch
from sqm.streams.engine.faust.health import LoopSampler
from sqm.streams.observe.metrics import LoopSnapshot
from sqm.streams.observe.reasons import CATEGORIES, reason_category
from sqm.streams.observe.server import MetricsServer, wsgi_app

MESSY = Path(__file__).resolve().parents[1] / "data" / "messy.jsonl"
NOW_MS = int(time.time() * 1000)
VALID = (b'{"event_id":"e1","type":"contact.created","occurred_at":"%s",'
         b'"tenant_id":"A","contact_id":"c1","customer_id":"u1","channel":"chat","queue":"q1"}')


def categories(lines: list[bytes]) -> list[str]:
    """The categories of the lines the ingest stage's own batch function rejects."""
    routed = route_batch(lines, [0] * len(lines), 4, NOW_MS + 86_400_000, 86_400, 3660)
    return [reason_category(r.reason) for _, r in routed.rejections]


def test_the_messy_file_rejections_fall_in_four_categories() -> None:
    lines = [line for line in MESSY.read_bytes().splitlines() if line.strip()]
    # By hand: line 11 is cut short, bad-2 has no tenant_id, bad-4 is dated 2099, bad-3
    # has no time zone.
    assert categories(lines) == ["json", "missing_field", "future", "invalid_field"]


def test_every_category_is_reachable_and_none_other() -> None:
    lines = [
        b"\xff\xfe",
        b"[1, 2]",
        b'{"event_id":"e","event_id":"f"}',
        b'{"schema_version":2,"type":"contact.created"}',
        b'{"event_id":"e1","type":"contact.teleported"}',
        (VALID % b"2026-03-02T01:00:00Z").replace(b'"tenant_id":"A",', b""),
        VALID % b"2026-03-02T01:00:00Z" + b"x",  # trailing garbage: invalid JSON too
        VALID % b"2999-01-01T00:00:00Z",
        VALID % b"1970-01-01T00:00:00Z",
        VALID.replace(b'"channel":"chat"', b'"channel":"pigeon"') % b"2026-03-02T01:00:00Z",
        b'{"event_id":"e1","type":"message.sent","occurred_at":"2026-03-02T01:00:00Z",'
        b'"tenant_id":"A","contact_id":"c1","customer_id":"u1","channel":"chat"}',
    ]
    assert categories(lines) == [
        "encoding", "json", "duplicate_key", "schema_version", "event_type", "missing_field",
        "json", "future", "too_old", "invalid_field", "missing_field"]
    assert reason_category("late: occurred 4000 s before the event clock ...", "late") == "late"
    assert set(categories(lines)) | {"late"} == set(CATEGORIES)


# --- the probes and the server ------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture()
def served() -> Iterator[tuple[str, LoopSampler, Clock, Any]]:
    clock = Clock()
    # Liveness, and readiness before the first heartbeat, read nothing of the pipeline.
    sampler = LoopSampler(None, LoopSnapshot(), stall_s=30, clock=clock)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    counter = Counter("sqm_test_things", "things", registry=registry)
    server = MetricsServer("127.0.0.1", 0, wsgi_app(registry, sampler.liveness,
                                                     sampler.readiness))
    try:
        yield f"http://127.0.0.1:{server.port}", sampler, clock, counter
    finally:
        server.close()


def test_liveness_follows_the_loop_heartbeat(served: Any) -> None:
    base, sampler, clock, _ = served
    status, text = get(base + "/healthz")
    assert status == 200 and text.startswith("starting")  # the loop has not beaten yet
    sampler.last_beat = clock.now
    clock.now += 29
    assert get(base + "/healthz") == (200, "ok\n")
    clock.now += 2  # 31 s without a beat
    assert get(base + "/healthz") == (
        503, "the event loop has not run for 31 s (SQM_HEALTH_STALL_S=30)\n")
    sampler.last_beat = clock.now
    assert get(base + "/healthz") == (200, "ok\n")


def test_not_ready_before_the_first_heartbeat(served: Any) -> None:
    base, *_ = served
    assert get(base + "/readyz") == (503, "starting: the worker has not finished starting\n")


def test_metrics_are_the_prometheus_exposition(served: Any) -> None:
    base, _, _, counter = served
    counter.inc(3)
    status, text = get(base + "/metrics")
    assert status == 200
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["sqm_test_things_total"] == 3


# --- settings -----------------------------------------------------------------------------------


def test_metrics_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SQM_METRICS_PORT", "SQM_METRICS_HOST", "SQM_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.metrics_port, settings.metrics_host) == (9108, "0.0.0.0")
    monkeypatch.setenv("SQM_METRICS_PORT", "0")
    assert load_settings().metrics_port == 0
    monkeypatch.setenv("SQM_METRICS_PORT", "70000")
    with pytest.raises(ConfigError, match=r"^config: metrics_port: Input should be less"):
        load_settings()
