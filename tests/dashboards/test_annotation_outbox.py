"""Annotations leave the pipeline's path: the stages offer alert changes to a bounded queue and
never wait on Grafana. No Grafana server can run on these machines: a listener on the loopback
that accepts connections and never answers stands in for a stuck one, and the Grafana stub
(tests/dashboards/stub.py) for a working one, whose exact requests are checked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from typing import Any

from sqm.sinks.annotation_outbox import AnnotationOutbox
from sqm.sinks.grafana import GrafanaTarget
from sqm.sinks.grafana_annotations import push_alert_annotation
from tests.dashboards.stub import GrafanaStub, Request
from tests.dashboards.test_grafana_client import (  # noqa: F401  (the fixture)
    ANNOTATIONS_QUERY,
    BEARER,
    TOKEN,
    _alert,
    stub,
)


def test_a_stuck_grafana_never_holds_the_caller_and_overflow_is_counted() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)  # accepts (the kernel does) and never answers
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    target = GrafanaTarget(url, "t", timeout_s=30)
    started = threading.Event()

    def push(row: Mapping[str, Any]) -> object:
        started.set()
        return push_alert_annotation(row, target=target)

    outbox = AnnotationOutbox(push, maxsize=3)
    try:
        assert outbox.offer([_alert()]) == 0
        assert started.wait(10)  # the pushing thread holds the first, waiting on Grafana
        # Offered while that push hangs: 3 fit in the queue, 5 are dropped, at once.
        assert outbox.offer([_alert() for _ in range(8)]) == 5
        assert (outbox.offered, outbox.dropped, outbox.pushed) == (9, 5, 0)
    finally:
        server.close()


def test_offered_changes_are_pushed_in_order(stub: GrafanaStub) -> None:  # noqa: F811
    stub.route("GET", ANNOTATIONS_QUERY, 200, [])
    stub.route("POST", "/api/annotations", 200, {"message": "Annotation added", "id": 17})
    target = GrafanaTarget(stub.url, TOKEN, timeout_s=5)
    outbox = AnnotationOutbox(lambda row: push_alert_annotation(row, target=target))
    assert outbox.offer([_alert(), _alert()]) == 0
    assert outbox.flush(20)
    assert outbox.pushed == 2
    assert [(r.method, r.path, r.authorization) for r in stub.requests] == [
        ("GET", ANNOTATIONS_QUERY, BEARER), ("POST", "/api/annotations", BEARER)] * 2
    assert isinstance(stub.requests[1], Request) and stub.requests[1].body["tags"][0] == "sqm"
