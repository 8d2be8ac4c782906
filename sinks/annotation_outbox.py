"""Alert annotations for Grafana, pushed off the pipeline's path through a bounded queue.

Each push is a few HTTP calls with a 10 s timeout; awaited in line, a Grafana that accepts
connections and never answers held the alert stage 10 s per change. Here the stage only offers
its changes (never blocks); one thread pushes them in order. When the queue is full (Grafana
down or slow for long), new changes are dropped and counted: the alerts themselves are in
ClickHouse (`sqm.alerts`) and on the `sqm.alerts` topic either way, annotations are a mirror.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Push = Callable[[Mapping[str, Any]], object]


class AnnotationOutbox:
    def __init__(self, push: Push, maxsize: int = 1000) -> None:
        self._push = push
        self._queue: queue.Queue[Mapping[str, Any] | None] = queue.Queue(maxsize)
        self.offered = 0
        self.pushed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="sqm-annotations", daemon=True)
        self._thread.start()

    def offer(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Queue alert rows for Grafana without waiting; how many were dropped (queue full)."""
        dropped = 0
        for row in rows:
            self.offered += 1
            try:
                self._queue.put_nowait(row)
            except queue.Full:
                dropped += 1
        if dropped:
            self.dropped += dropped
            log.warning("Grafana annotations: %d alert changes dropped, the queue of %d is full "
                        "(%d dropped in all); the alerts are in sqm.alerts", dropped,
                        self._queue.maxsize, self.dropped)
        return dropped

    def flush(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the queue to drain; True when it did."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout_s)

    def _run(self) -> None:
        while True:
            row = self._queue.get()
            try:
                if row is None:
                    return
                self._push(row)  # never raises (push_alert_annotation logs its failures)
                self.pushed += 1
            except Exception as exc:  # a push that raised anyway must not end the thread
                log.warning("Grafana annotation not pushed: %s", exc)
            finally:
                self._queue.task_done()


_outbox: AnnotationOutbox | None = None
_lock = threading.Lock()


def annotation_outbox() -> AnnotationOutbox | None:
    """The process's outbox when Grafana is configured (SQM_GRAFANA_URL and _TOKEN), else None."""
    global _outbox
    from sqm.sinks.grafana import GrafanaTarget

    target = GrafanaTarget.from_env()
    if target is None:
        return None
    with _lock:
        if _outbox is None:
            from sqm.sinks.grafana_annotations import push_alert_annotation

            _outbox = AnnotationOutbox(lambda row: push_alert_annotation(row, target=target))
        return _outbox


def offer_annotations(changes: Iterable[Any]) -> None:
    """Offer alert changes (anything with `to_row()`) to Grafana when it is configured."""
    outbox = annotation_outbox()
    if outbox is not None:
        outbox.offer([c.to_row() for c in changes])
