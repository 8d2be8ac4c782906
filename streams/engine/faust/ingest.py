"""Ingest: parse and validate raw events, dead-letter the bad ones, re-key the rest by customer.

Stateless. Valid events go to `sqm.by-customer`, packed as one message per target partition
(chunked by size) so the next stage pays Faust's per-message cost once per chunk, not per event.
The validating and packing (`streams/core/ingest_batch.py`) runs where the `IngestRouter` says:
in a child process in a worker (`SQM_INGEST_PROCESSES`), in the event loop by default here.
Sends are awaited before `handle` returns; the caller (`streams/engine/faust/ingest_consumer.py`)
commits the input offsets only after that: at-least-once, never at-most-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

import faust

from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.config import Settings
from sqm.streams.core.input_progress import InputProgress
from sqm.streams.core.ports import ChangelogRecord, OutRecord, Rows
from sqm.streams.core.stages.ingest import IngestBatch
from sqm.streams.core.stages.ingest import IngestStage as CoreIngestStage
from sqm.streams.core.stages.settle import settle
from sqm.streams.ingest_pool import IngestRouter, Routing
from sqm.streams.observe.reasons import reason_category
from sqm.streams.stats import PipelineStats

log = logging.getLogger(__name__)

def record_time(timestamp: float | None) -> datetime:
    """The Kafka record's timestamp: the same on every re-delivery, unlike the wall clock, so a
    replayed dead letter lands in the same partition and FINAL merges it."""
    if not timestamp:
        return datetime.now(UTC)
    return datetime.fromtimestamp(round(timestamp, 3), UTC)


def kafka_time(timestamp_ms: int | None) -> datetime:
    """`record_time` of a Kafka record's timestamp (milliseconds; -1 or None when absent)."""
    return record_time(timestamp_ms / 1000 if timestamp_ms and timestamp_ms > 0 else None)


class InputRecord(Protocol):
    """What the stage reads of an input record; aiokafka's `ConsumerRecord` is one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int | None: ...  # epoch milliseconds, as Kafka stores it
    @property
    def value(self) -> bytes | None: ...


class TopicOutbox:
    """The ingest stage's outbox: its few large messages through Faust's topics (in order,
    each awaited into the producer, then all awaited delivered), dead-letter rows through the
    writer. Nothing to acknowledge here: the ingest consumer commits the batch's offsets once
    `IngestStage.handle`'s delivery returned, i.e. after `settle`."""

    def __init__(self, writer: ClickHouseWriter, topics: dict[str, faust.TopicT]) -> None:
        self.writer = writer
        self.topics = topics

    async def write_rows(self, rows: Rows) -> None:
        if rows:
            await self.writer.write_async(rows)

    async def produce(self, records: Sequence[OutRecord]) -> None:
        sends = [await self.topics[r.topic].send(key=r.key, value=r.value, partition=r.partition)
                 for r in records]
        if sends:
            await asyncio.gather(*sends)  # delivered before these events are acknowledged

    async def write_changelog(self, records: Sequence[ChangelogRecord]) -> None:
        assert not records, "the ingest stage keeps no state"

    async def acknowledge(self) -> None:
        pass


class IngestStage:
    on_batch: Callable[[int], None] | None = None  # told each batch's size (the metrics)

    def __init__(
        self,
        settings: Settings,
        writer: ClickHouseWriter,
        stats: PipelineStats,
        by_customer: faust.TopicT,
        dead_letters: faust.TopicT,
        router: IngestRouter | None = None,
    ) -> None:
        self.settings = settings
        self.router = router or IngestRouter(0)  # 0: validate in the event loop
        self.stats = stats
        names = (settings.by_customer_topic, settings.dead_letter_topic)
        self.outbox = TopicOutbox(writer, dict(zip(names, (by_customer, dead_letters),
                                                   strict=True)))
        self.stage = CoreIngestStage(settings.partitions, by_customer_topic=names[0],
                                     dead_letter_topic=names[1])
        # What every shard is told of the input partitions after each batch (the event clock).
        self.progress = InputProgress(settings.idle_partition_s or None)

    def handle(self, records: Sequence[InputRecord]) -> Awaitable[None]:
        """Start validating `records` now (in the router's child process, if it has one) and
        return their delivery, to await: the ingest consumer reads ahead, so the next batches
        are validated while this one's sends are in flight."""
        # A far-future timestamp would drag its partition's watermark ahead and make every
        # later event look late, so it is refused, against the wall clock (taken here: the
        # router may run in a child process).
        horizon_ms = int(time.time() * 1000) + self.settings.max_future_s * 1000
        routing = self.router.submit(
            [msg.value for msg in records], [msg.partition for msg in records],
            self.settings.partitions, horizon_ms, self.settings.max_future_s,
            self.settings.max_past_days)
        return self._deliver(records, routing)

    async def _deliver(self, records: Sequence[InputRecord], routing: Routing) -> None:
        routed = await IngestRouter.result(routing)
        # Delivered in order, so this report covers exactly what was delivered so far; sent
        # after the batch's events on each partition, so no shard hears of it before them.
        next_offsets: dict[int, int] = {}
        for msg in records:
            if msg.offset >= next_offsets.get(msg.partition, 0):
                next_offsets[msg.partition] = msg.offset + 1
        self.progress.deliver(next_offsets, routed.marks)
        prepared = self.stage.prepare(IngestBatch(
            routed, [msg.value for msg in records], records[0].topic if records else "",
            [msg.partition for msg in records], [msg.offset for msg in records],
            datetime.now(UTC), [msg.timestamp for msg in records],
            progress=self.progress.report(time.monotonic())))
        await settle(self.outbox, prepared)
        self.stats.read += len(records)
        self.stats.forwarded += prepared.forwarded
        self.stats.dead_lettered += prepared.dead
        self.stats.dead_reasons.update(reason_category(r.reason) for _, r in routed.rejections)
        if self.on_batch is not None:
            self.on_batch(len(records))
        if prepared.dead:
            log.warning("dead-lettered %d of %d events; first reason: %s",
                        prepared.dead, len(records), prepared.first_reason)

    async def heartbeat(self) -> None:
        """Between batches: tell the shards when a partition turned idle or the input ended
        (a replay's last batch may be delivered before its producer is done)."""
        if self.progress.heartbeat_due(time.monotonic()):
            progress = self.progress.report(time.monotonic())
            if progress is not None:
                await self.outbox.produce(self.stage.progress_records(progress))
