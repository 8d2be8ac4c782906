"""The ingest stage's output for one validated batch: dead-letter rows for the rejected values,
and (with topics) the records to produce: the `sqm.by-customer` chunks, then the input
progress report to every shard (after the batch's events on each partition, so no shard hears
of it before them), then the dead letters.

Validating and routing (`streams/core/ingest_batch.py`, `route_batch`) happens before, maybe in
a child process; this is what both engines do with its result. Stateless: the progress report
is the caller's (the worker tracks its input partitions; a file has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqm.streams.core.ingest_batch import RoutedBatch
from sqm.streams.core.ports import OutRecord
from sqm.streams.core.rows import dead_letter_row
from sqm.streams.core.stages.settle import Prepared
from sqm.streams.core.state import Progress
from sqm.streams.core.validate import Rejection
from sqm.streams.core.wire import dead_letter_message, encode_progress


@dataclass(slots=True)
class IngestBatch:
    """A routed batch and where each of its values came from. `timestamps_ms`: each value's
    Kafka record time (a dead letter's time: the same on every re-delivery, so a replayed dead
    letter lands in the same partition and FINAL merges it), `now` where there is none;
    `numbered`: the values are a file's lines, `offsets` their line numbers, and a dead letter
    is named `file:line` (else `topic:partition:offset`)."""

    routed: RoutedBatch
    values: Sequence[bytes | None]
    topic: str
    partitions: Sequence[int]
    offsets: Sequence[int]
    now: datetime
    timestamps_ms: Sequence[int | None] | None = None
    numbered: bool = False
    progress: Progress | None = None  # reported to every shard after this batch


@dataclass(slots=True)
class PreparedIngest(Prepared):
    dead: int = 0
    forwarded: int = 0
    first_reason: str = ""


class IngestStage:
    def __init__(self, partitions: int, *, by_customer_topic: str | None = None,
                 dead_letter_topic: str | None = None) -> None:
        self.partitions = partitions
        self.by_customer_topic = by_customer_topic
        self.dead_letter_topic = dead_letter_topic

    def prepare(self, batch: IngestBatch) -> PreparedIngest:
        dead = [self._dead_row(batch, i, rejection) for i, rejection in batch.routed.rejections]
        records: list[OutRecord] = []
        topic = self.by_customer_topic
        if topic is not None:
            records += [OutRecord(topic, target, str(target).encode(), value)
                        for target, _source, value in batch.routed.chunks]
            if batch.progress is not None:
                records += self.progress_records(batch.progress)
        if self.dead_letter_topic is not None:
            records += [OutRecord(self.dead_letter_topic, None, row["dl_id"].encode(),
                                  dead_letter_message(row)) for row in dead]
        rows = {"dead_letters": dead} if dead else {}
        return PreparedIngest(rows, records, [], len(dead), batch.routed.forwarded,
                              dead[0]["reason"] if dead else "")

    def progress_records(self, progress: Progress) -> list[OutRecord]:
        """A progress report, to every shard partition."""
        assert self.by_customer_topic is not None
        value = encode_progress(progress)
        return [OutRecord(self.by_customer_topic, p, str(p).encode(), value)
                for p in range(self.partitions)]

    @staticmethod
    def _dead_row(batch: IngestBatch, i: int, rejection: Rejection) -> dict[str, Any]:
        ms = None if batch.timestamps_ms is None else batch.timestamps_ms[i]
        at = datetime.fromtimestamp(round(ms / 1000, 3), UTC) if ms and ms > 0 else batch.now
        offset, partition = batch.offsets[i], batch.partitions[i]
        dl_id = (f"{batch.topic}:{offset}" if batch.numbered
                 else f"{batch.topic}:{partition}:{offset}")
        return dead_letter_row(
            dl_id=dl_id, stage="ingest", reason=rejection.reason, topic=batch.topic,
            partition=partition, offset=offset, raw=batch.values[i] or b"", now=at,
            event_id=rejection.event_id, tenant_id=rejection.tenant_id)
