"""One HTTP server per worker process: `/metrics` (Prometheus exposition, prometheus-client's
own WSGI app), `/healthz` (liveness) and `/readyz` (readiness), each 200 or 503 with one line.

It runs in a daemon thread, so a blocked event loop cannot stop it answering: that is what
lets `/healthz` say the loop is stuck.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

from sqm.streams.engine.faust.health import Answer

log = logging.getLogger(__name__)

Probe = Callable[[], Answer]
StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not worth a log line


def wsgi_app(registry: CollectorRegistry, live: Probe, ready: Probe) -> Callable[..., Any]:
    metrics = make_wsgi_app(registry)
    probes = {"/healthz": live, "/readyz": ready}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        probe = probes.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        answer = probe()
        start_response("200 OK" if answer.ok else "503 Service Unavailable",
                       [("Content-Type", "text/plain; charset=utf-8")])
        return [answer.text.encode() + b"\n"]

    return app


class MetricsServer:
    """Serves `app` on host:port from a daemon thread until `close`."""

    def __init__(self, host: str, port: int, app: Callable[..., Any]) -> None:
        self.httpd = make_server(host, port, app, ThreadingWSGIServer,
                                 handler_class=_QuietHandler)
        self.port = self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="sqm-metrics",
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
