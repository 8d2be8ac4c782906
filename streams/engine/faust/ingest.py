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
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import faust

from sinks.writer import ClickHouseWriter
from streams.config import Settings
from streams.core.input_progress import InputProgress
from streams.core.rows import dead_letter_row
from streams.core.state import Progress
from streams.core.wire import dead_letter_message, encode_progress
from streams.ingest_pool import IngestRouter, Routing
from streams.stats import PipelineStats

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


class IngestStage:
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
        self.writer = writer
        self.stats = stats
        self.by_customer = by_customer
        self.dead_letters = dead_letters
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
        dead: list[dict[str, Any]] = []
        for i, rejection in routed.rejections:
            msg = records[i]
            dead.append(dead_letter_row(
                dl_id=f"{msg.topic}:{msg.partition}:{msg.offset}", stage="ingest",
                reason=rejection.reason, topic=msg.topic, partition=msg.partition,
                offset=msg.offset, raw=msg.value or b"", now=kafka_time(msg.timestamp),
                event_id=rejection.event_id, tenant_id=rejection.tenant_id,
            ))
        if dead:
            await self.writer.write_async({"dead_letters": dead})
        sends = [
            await self.by_customer.send(key=str(target).encode(), value=value, partition=target)
            for target, _source, value in routed.chunks
        ]
        # Delivered in order, so this report covers exactly what was delivered so far; sent
        # after the batch's events on each partition, so no shard hears of it before them.
        next_offsets: dict[int, int] = {}
        for msg in records:
            if msg.offset >= next_offsets.get(msg.partition, 0):
                next_offsets[msg.partition] = msg.offset + 1
        self.progress.deliver(next_offsets, routed.marks)
        sends += await self._send_progress(self.progress.report(time.monotonic()))
        sends += [
            await self.dead_letters.send(key=row["dl_id"].encode(), value=dead_letter_message(row))
            for row in dead
        ]
        if sends:
            await asyncio.gather(*sends)  # delivered before these events are acknowledged
        self.stats.read += len(records)
        self.stats.forwarded += routed.forwarded
        self.stats.dead_lettered += len(dead)
        if dead:
            log.warning("dead-lettered %d of %d events; first reason: %s",
                        len(dead), len(records), dead[0]["reason"])


    async def heartbeat(self) -> None:
        """Between batches: tell the shards when a partition turned idle or the input ended
        (a replay's last batch may be delivered before its producer is done)."""
        if self.progress.heartbeat_due(time.monotonic()):
            sends = await self._send_progress(self.progress.report(time.monotonic()))
            if sends:
                await asyncio.gather(*sends)

    async def _send_progress(self, progress: Progress | None) -> list[Awaitable[Any]]:
        if progress is None:
            return []
        value = encode_progress(progress)
        return [
            await self.by_customer.send(key=str(target).encode(), value=value, partition=target)
            for target in range(self.settings.partitions)
        ]
