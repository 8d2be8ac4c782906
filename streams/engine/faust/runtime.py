"""Runs the pipeline in this process: broker (embedded or real), ClickHouse, Faust worker.

`sqm replay`, `sqm demo` and `sqm worker` all go through `run_pipeline`, so the embedded mode
and production share one code path; only where the broker and the store come from differs.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path

import faust
from clickhouse_connect.driver.client import Client

from sqm.sinks.writer import ClickHouseWriter, RetryPolicy
from sqm.streams.config import Settings
from sqm.streams.engine.faust.app import Pipeline, build_app
from sqm.streams.engine.faust.broker import EmbeddedBroker, ensure_topics
from sqm.streams.engine.faust.observability import serve_observability
from sqm.streams.engine.faust.stop_guard import StopGuard
from sqm.streams.kafka_auth import client_auth, replication_factor, topic_config
from sqm.streams.store import open_store

log = logging.getLogger(__name__)

Main = Callable[[Pipeline], Awaitable[int]]


def run_pipeline(
    settings: Settings,
    main: Main | None = None,
    *,
    reset_store: bool = False,
    before_start: Callable[[Client, str], None] | None = None,
    broker_log: Path | None = None,
    serve_metrics: bool = False,
) -> int:
    """Start everything, run the Faust worker until `main` returns (or forever), then stop.

    Returns `main`'s exit code (0 when the worker is stopped by a signal). `serve_metrics`:
    serve /metrics, /healthz and /readyz on SQM_METRICS_PORT (`sqm worker`, `sqm demo`).
    """
    with ExitStack() as stack:
        if settings.embedded:
            broker = stack.enter_context(EmbeddedBroker(log_file=broker_log))
            bootstrap = broker.bootstrap
        else:
            bootstrap = str(settings.kafka_bootstrap)
        ensure_topics(
            bootstrap,
            [settings.input_topic, settings.by_customer_topic, settings.dead_letter_topic,
             settings.alert_inputs_topic, settings.alerts_topic],
            settings.partitions, replication=replication_factor(settings),
            config=topic_config(settings), auth=client_auth(settings),
        )
        client = open_store(settings, reset=reset_store)
        stack.callback(client.close)
        if before_start is not None:
            before_start(client, bootstrap)
        writer = ClickHouseWriter(client, retry=RetryPolicy(outage_s=settings.clickhouse_outage_s))
        pipeline = build_app(settings, bootstrap, writer)
        writer.stats = pipeline.stats
        pipeline.extras["writer"] = writer
        pipeline.extras["bootstrap"] = bootstrap
        pipeline.extras["client"] = client
        if settings.embedded:
            pipeline.extras["broker_pid"] = broker.pid
        if serve_metrics:
            server = serve_observability(pipeline)
            if server is not None:
                stack.callback(server.close)
        # A stop forced after the grace period skips the cleanup below: stop the broker then.
        guard = StopGuard(settings.stop_grace_s, broker.stop if settings.embedded else None)
        pipeline.extras["stop_guard"] = guard
        return _run_worker(pipeline, main, guard)
    return 1  # pragma: no cover  (mypy: ExitStack may swallow exceptions)


class _Worker(faust.Worker):
    """A Faust worker whose stop on SIGTERM or Ctrl-C is bounded (`stop_guard.py`)."""

    guard: StopGuard | None = None

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        if self.guard is not None:
            self.guard.arm()  # over the loop's handlers, which it keeps working


def _run_worker(pipeline: Pipeline, main: Main | None, guard: StopGuard | None = None) -> int:
    app = pipeline.app
    result = {"code": 0}
    worker = _Worker(
        app, loglevel=pipeline.settings.log_level, quiet=True, redirect_stdouts=False,
        override_logging=False,
    )
    worker.guard = guard

    if main is not None:
        @app.task
        async def _main() -> None:
            try:
                result["code"] = await main(pipeline)
            except Exception as exc:
                log.error("pipeline stopped: %s", exc)
                result["code"] = 1
                raise
            finally:
                # Same path as Ctrl-C: a clean worker stop (flushes producer, closes consumer).
                # mode's Worker has no public stop-from-a-task that runs the signal path's
                # cleanup; `_schedule_shutdown(signal)` is checked by test_engine_internals.
                worker._schedule_shutdown(signal.SIGTERM)

    pipeline.gc.install()  # process-wide: undone below, whatever happens
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (None, 0) and result["code"] == 0:
            result["code"] = int(exc.code) if isinstance(exc.code, int) else 1
    finally:
        pipeline.gc.uninstall()
    return result["code"]
