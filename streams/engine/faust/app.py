"""The Faust application: topics, the state tables, the agents and the ingest consumer, wired
from Settings.

`build_app` is a factory (no module-level app), so tests, `sqm replay`, `sqm demo` and
`sqm worker` each get their own app bound to their broker and store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import faust

from sqm.sinks.archive import ClickHouseArchive
from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.app_config import load_alert_config
from sqm.streams.config import Settings
from sqm.streams.core.stages.customers import PreparedCustomers
from sqm.streams.engine.faust.alerts import AlertAgent
from sqm.streams.engine.faust.broker import EMBEDDED_FAUST_SETTINGS
from sqm.streams.engine.faust.customers import CustomerAgent
from sqm.streams.engine.faust.ingest import IngestStage
from sqm.streams.engine.faust.ingest_consumer import IngestConsumer, consumer_config
from sqm.streams.engine.faust.paced_take import acknowledge, take_paced
from sqm.streams.engine.faust.record_batches import RecordBatches, faust_producer
from sqm.streams.engine.faust.recovery import OrderedTableManager, TansuTableManager
from sqm.streams.engine.faust.router_service import RouterService
from sqm.streams.gc_policy import GcPolicy
from sqm.streams.ingest_pool import IngestRouter
from sqm.streams.kafka_auth import changelog_config, faust_auth, replication_factor
from sqm.streams.stats import PipelineStats

STATE_TABLE = "sqm-state"
ALERT_STATE_TABLE = "sqm-alert-state"
log = logging.getLogger(__name__)


@dataclass
class Pipeline:
    app: faust.App
    settings: Settings
    stats: PipelineStats
    ingest: IngestStage
    ingest_consumer: IngestConsumer
    customers: CustomerAgent
    alerts: AlertAgent
    gc: GcPolicy
    extras: dict[str, Any] = field(default_factory=dict)


Guarded = Callable[[str, Any, Any], Awaitable[Any]]


@dataclass(frozen=True)
class _Topics:
    by_customer: faust.TopicT
    dead_letters: faust.TopicT
    alert_inputs: faust.TopicT
    alerts: faust.TopicT
    state: Any  # the customer stage's table
    alert_state: Any  # the alert stage's table


def build_app(settings: Settings, bootstrap: str, writer: ClickHouseWriter) -> Pipeline:
    """The app, its topics and tables, the stages, and the agents and timers that run them."""
    app = _faust_app(settings, bootstrap)
    stats = PipelineStats()
    topics = _topics(app, settings)
    router = IngestRouter(settings.ingest_processes)
    ingest = IngestStage(settings, writer, stats, topics.by_customer, topics.dead_letters, router)
    # One gatherer per stage: a stage's send() must not deliver another's half-built records.
    producer = faust_producer(app)
    customers = CustomerAgent(settings, writer, stats, topics.state, topics.dead_letters,
                              topics.alert_inputs, RecordBatches(producer, stats.produced),
                              ClickHouseArchive(writer.client, writer.retrying))
    alerting = AlertAgent(
        load_alert_config(settings), writer, stats, topics.alert_state, topics.alerts,
        RecordBatches(producer, stats.produced),
        event_clock=settings.alert_clock == "event", grace_s=settings.alert_grace_s,
        lateness_s=settings.lateness_s,
    )
    guarded = _guard(app)
    ingest_consumer = _ingest_consumer(app, settings, bootstrap, ingest, router)
    _customer_agent(app, settings, topics.by_customer, customers, guarded)
    _alert_agent(app, settings, topics.alert_inputs, alerting, guarded)
    gc_policy = _timers(app, settings, stats)
    return Pipeline(app, settings, stats, ingest, ingest_consumer, customers, alerting, gc_policy)


def _faust_app(settings: Settings, bootstrap: str) -> faust.App:
    conf: dict[str, Any] = {
        "broker": f"kafka://{bootstrap}",
        "store": "memory://",
        "processing_guarantee": "at_least_once",
        "topic_partitions": settings.partitions,
        "topic_disable_leader": True,
        "web_enabled": False,
        # web_enabled=False alone still bound 0.0.0.0:6066 (shared/notes/embedded-broker.md).
        "web_bind": "127.0.0.1",
        "web_port": settings.web_port,
        "producer_max_request_size": 4 * 1024 * 1024,
        # Per partition. Faust's 16 KiB default made a send wait for a round trip every few
        # dozen alert messages or changelog records (aiokafka blocks on a full batch).
        "producer_max_batch_size": 1024 * 1024,
        "consumer_max_fetch_size": 4 * 1024 * 1024,
        "stream_buffer_maxsize": max(settings.batch_max * 2, 4096),
        # Faust's own recovery drops messages fetched while it starts the streams (see there).
        "TableManager": OrderedTableManager,
    }
    if settings.tansu:
        conf.update(EMBEDDED_FAUST_SETTINGS)
        conf["TableManager"] = TansuTableManager  # also corrects Tansu's end offsets
    # TLS/SASL for Faust's clients and the ingest consumer; replicas of the changelogs.
    conf.update(faust_auth(settings), topic_replication_factor=replication_factor(settings))
    return faust.App(settings.app_id, **conf)


def _topics(app: faust.App, settings: Settings) -> _Topics:
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw"}
    # bytes key/value types make Faust use the raw codec: the stages encode their own values.
    tables: dict[str, Any] = {"partitions": settings.partitions, "key_type": bytes,
                              "value_type": bytes, "default": None,
                              "extra_topic_configs": changelog_config(settings)}
    return _Topics(
        by_customer=app.topic(settings.by_customer_topic, partitions=settings.partitions,
                              internal=False, **raw),
        dead_letters=app.topic(settings.dead_letter_topic, **raw),
        alert_inputs=app.topic(settings.alert_inputs_topic, partitions=settings.partitions,
                               **raw),
        alerts=app.topic(settings.alerts_topic, **raw),
        state=app.Table(STATE_TABLE, **tables),
        alert_state=app.Table(ALERT_STATE_TABLE, **tables),
    )


def _guard(app: faust.App) -> Guarded:
    async def guarded(stage: str, handle: Any, events: Any) -> Any:
        try:
            return await handle(events)
        except Exception as exc:
            # Stop the worker rather than run on with a dead agent: the batch is not
            # acknowledged, so a restarted worker recovers its state and processes it again.
            log.error("%s stage failed, stopping the worker: %s", stage, exc)
            await app.crash(exc)
            raise

    return guarded


def _ingest_consumer(app: faust.App, settings: Settings, bootstrap: str, ingest: IngestStage,
                     router: IngestRouter) -> IngestConsumer:
    # The input topic is read by a plain batch consumer, not an agent: one message per event
    # is more than Faust's per-message path can take (ingest_consumer.py).
    consumer = IngestConsumer(
        settings.input_topic, ingest.handle, consumer_config(app.conf, bootstrap, settings.app_id),
        batch_max=settings.batch_max, within_s=settings.batch_within_s, on_crash=app.crash,
        previous_group=settings.app_id,  # where the Faust ingest agent of older versions read
        progress=ingest.progress, heartbeat=ingest.heartbeat,
    )
    # Started with the app's own services, so its group join overlaps Faust's ...
    app.add_dependency(consumer)
    app.add_dependency(RouterService(router))  # its children, if any, start with the app

    @app.task
    async def start_ingest() -> None:
        consumer.begin()  # ... but it reads only once the worker is ready.

    async def stop_ingest(_app: Any, /, *_args: Any, **_kwargs: Any) -> None:
        # Before Faust flushes and stops its producer: the batch in hand is forwarded with it.
        await consumer.stop()
        router.close()

    app.on_before_shutdown.connect(stop_ingest)
    return consumer


def _customer_agent(app: faust.App, settings: Settings, topic: faust.TopicT,
                    customers: CustomerAgent, guarded: Guarded) -> None:
    async def prepare(events: Any) -> PreparedCustomers:
        return customers.prepare(events)

    async def finish(stream: Any, prepared: PreparedCustomers, events: Any) -> None:
        await customers.finish(prepared, partial(acknowledge, stream, events))

    @app.agent(topic, name="sqm.customers")
    async def customers_agent(stream: Any) -> None:  # a faust.Stream
        # A batch's writes (the ClickHouse insert runs on the other core) overlap the
        # preparing of the next one; one batch finishes at a time, in order, and is
        # acknowledged only when it is done.
        finishing: asyncio.Future[None] | None = None
        try:
            # Messages here carry up to a batch of events each, so take fewer of them.
            async for events in take_paced(stream, 64, settings.batch_within_s, ack=False):
                prepared = await guarded("customer", prepare, events)
                if finishing is not None:
                    await finishing
                finishing = asyncio.ensure_future(guarded(
                    "customer", partial(finish, stream, prepared), events))
        finally:
            if finishing is not None and not finishing.done():
                # Stopping: let the batch in hand finish (or give up on it: not acknowledged,
                # it is processed again after a restart).
                await asyncio.wait({finishing}, timeout=10)
                finishing.cancel()


def _alert_agent(app: faust.App, settings: Settings, topic: faust.TopicT, alerting: AlertAgent,
                 guarded: Guarded) -> None:
    @app.agent(topic, name="sqm.alerts")
    async def alerts_agent(stream: Any) -> None:  # a faust.Stream
        # Acknowledged by the stage, after its changelog (streams/core/stages/settle.py).
        async for events in take_paced(stream, 256, settings.alert_batch_within_s, ack=False):
            await guarded("alert", partial(alerting.handle, ack=partial(acknowledge, stream,
                                                                          events)), events)

    @app.timer(interval=settings.alert_tick_s)
    async def alert_clock() -> None:
        # Live only (a no-op on the event clock): a queue with no new events must still warn.
        mine = [tp.partition for tp in app.consumer.assignment()
                if tp.topic == settings.alert_inputs_topic]
        if mine:
            await guarded("alert", alerting.tick, mine)


def _timers(app: faust.App, settings: Settings, stats: PipelineStats) -> GcPolicy:
    gc_policy = GcPolicy(settings.gc_freeze_s, settings.gc_full_interval_s)
    if gc_policy.enabled:
        @app.timer(interval=settings.gc_freeze_s)
        async def gc_freeze() -> None:
            gc_policy.tick()  # a no-op until the runtime installs the policy

    @app.timer(interval=settings.progress_interval_s)
    async def log_progress() -> None:
        log.info("progress", extra={"fields": stats.as_dict()})

    return gc_policy
