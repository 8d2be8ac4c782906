"""Ingest: parse and validate raw events, dead-letter the bad ones, re-key the rest by customer.

Stateless. Valid events go to `sqm.by-customer`, packed as one message per target partition
(chunked by size) so the next stage pays Faust's per-message cost once per chunk, not per event.
Sends are awaited before `handle` returns; the caller (`streams/agents/ingest_consumer.py`)
commits the input offsets only after that: at-least-once, never at-most-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
import orjson

from sinks.writer import ClickHouseWriter
from streams.config import Settings
from streams.core.records import (
    WIRE_CUSTOMER,
    WIRE_EVENT_ID,
    WIRE_TENANT,
    WIRE_TS,
    EventRecord,
)
from streams.core.routing import shard_for
from streams.core.rows import dead_letter_row
from streams.core.validate import Rejection, validate_wire
from streams.stats import PipelineStats

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024  # well under the 1 MiB default message limit of a real Kafka


def record_time(timestamp: float | None) -> datetime:
    """The Kafka record's timestamp: the same on every re-delivery, unlike the wall clock, so a
    replayed dead letter lands in the same partition and FINAL merges it."""
    if not timestamp:
        return datetime.now(UTC)
    return datetime.fromtimestamp(round(timestamp, 3), UTC)


def kafka_time(timestamp_ms: int | None) -> datetime:
    """`record_time` of a Kafka record's timestamp (milliseconds; -1 or None when absent)."""
    return record_time(timestamp_ms / 1000 if timestamp_ms and timestamp_ms > 0 else None)


def dead_letter_message(row: dict[str, Any]) -> bytes:
    """The dead-letter topic's JSON: the table row, with the time as RFC 3339."""
    return orjson.dumps({**row, "received_at": row["received_at"].isoformat()})


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
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.stats = stats
        self.by_customer = by_customer
        self.dead_letters = dead_letters

    async def handle(self, records: Sequence[InputRecord]) -> None:
        # (target partition, input partition) -> chunks of encoded events
        chunks: dict[tuple[int, int], list[list[bytes]]] = defaultdict(lambda: [[]])
        sizes: dict[tuple[int, int], int] = defaultdict(int)
        dead: list[dict[str, Any]] = []
        n = self.settings.partitions
        forwarded = 0
        # A far-future timestamp would drag its partition's watermark ahead and make every
        # later event look late, so it is refused here, against the wall clock.
        horizon_ms = int(time.time() * 1000) + self.settings.max_future_s * 1000
        for msg in records:
            raw = msg.value or b""
            result = validate_wire(raw)
            if type(result) is list and result[WIRE_TS] > horizon_ms:
                ahead_s = (result[WIRE_TS] - horizon_ms) / 1000 + self.settings.max_future_s
                result = Rejection(
                    f"occurred_at is {ahead_s:.0f} s in the future (at most "
                    f"{self.settings.max_future_s} s allowed)", result[WIRE_EVENT_ID],
                    result[WIRE_TENANT],
                )
            if isinstance(result, Rejection):
                dead.append(dead_letter_row(
                    dl_id=f"{msg.topic}:{msg.partition}:{msg.offset}", stage="ingest",
                    reason=result.reason, topic=msg.topic, partition=msg.partition,
                    offset=msg.offset, raw=raw, now=kafka_time(msg.timestamp),
                    event_id=result.event_id,
                    tenant_id=result.tenant_id,
                ))
                continue
            part = (shard_for(result[WIRE_TENANT], result[WIRE_CUSTOMER], n), msg.partition)
            # Positional: about half the encode and decode cost of the dict form.
            wire = orjson.dumps(result)
            if sizes[part] + len(wire) > CHUNK_BYTES and chunks[part][-1]:
                chunks[part].append([])
                sizes[part] = 0
            chunks[part][-1].append(wire)
            sizes[part] += len(wire)
            forwarded += 1
        if dead:
            await self.writer.write_async({"dead_letters": dead})
        sends = [
            await self.by_customer.send(key=str(target).encode(), value=encode_chunk(source, c),
                                        partition=target)
            for (target, source), cs in chunks.items() for c in cs if c
        ]
        sends += [
            await self.dead_letters.send(key=row["dl_id"].encode(), value=dead_letter_message(row))
            for row in dead
        ]
        if sends:
            await asyncio.gather(*sends)  # delivered before these events are acknowledged
        self.stats.read += len(records)
        self.stats.forwarded += forwarded
        self.stats.dead_lettered += len(dead)
        if dead:
            log.warning("dead-lettered %d of %d events; first reason: %s",
                        len(dead), len(records), dead[0]["reason"])


def encode_chunk(source: int, events: list[bytes]) -> bytes:
    """A `sqm.by-customer` message: the input partition the events came from, and the events."""
    return b'{"source":%d,"events":[' % source + b",".join(events) + b"]}"


def decode_chunk(value: bytes) -> tuple[int, list[EventRecord]]:
    data = orjson.loads(value)
    # Either wire form: a topic written by an older sqm (dicts) may still hold messages.
    return data["source"], [EventRecord.from_wire_any(d) for d in data["events"]]
