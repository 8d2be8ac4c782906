"""Wires the metrics, the health probes and their HTTP server onto a built pipeline."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqm.streams.engine.faust.health import LoopSampler
from sqm.streams.observe.metrics import Metrics
from sqm.streams.observe.server import MetricsServer, wsgi_app

if TYPE_CHECKING:
    from sqm.streams.engine.faust.app import Pipeline

log = logging.getLogger(__name__)
HEARTBEAT_S = 1.0


def serve_observability(pipeline: Pipeline) -> MetricsServer | None:
    """Start serving `/metrics`, `/healthz` and `/readyz` (None when SQM_METRICS_PORT is 0, or
    when the port cannot be bound: the worker runs on, unobserved, and says so in one line)."""
    settings = pipeline.settings
    if settings.metrics_port == 0:
        return None
    metrics = Metrics(pipeline)
    sampler = LoopSampler(pipeline, metrics.snapshot, settings.health_stall_s)

    @pipeline.app.timer(interval=HEARTBEAT_S)
    async def observe_heartbeat() -> None:
        await sampler.beat()

    app = wsgi_app(metrics.registry, sampler.liveness, sampler.readiness)
    try:
        server = MetricsServer(settings.metrics_host, settings.metrics_port, app)
    except OSError as exc:
        log.error("metrics and health endpoints not served: cannot listen on %s:%d (%s)",
                  settings.metrics_host, settings.metrics_port, exc.strerror or exc)
        return None
    log.info("metrics on http://%s:%d/metrics, health on /healthz and /readyz",
             settings.metrics_host, server.port)
    return server
