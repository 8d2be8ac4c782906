"""The two ports over Faust: a table's data as a `PartitionedStateStore`, and an `Outbox` that
writes rows with the ClickHouse writer and produces records and changelogs as whole batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from faust.types import TableT

from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.core.partitions import KeyedBytesStore
from sqm.streams.core.ports import ChangelogRecord, OutRecord, Rows
from sqm.streams.engine.faust.record_batches import RecordBatches
from sqm.streams.engine.faust.recovery import recoveries

Ack = Callable[[], Awaitable[None]]


def table_state(table: TableT) -> KeyedBytesStore:
    """A `PartitionedStateStore` over a table's in-memory data, its writes owed.

    Values are live objects once touched, or the bytes Faust restored from the changelog.
    Relies on two internals of faust-streaming's memory store (`faust.stores.memory.Store`),
    checked by tests/unit/test_engine_internals.py:
    - `Table.data` is that store and `Store.data` its dict: the stages read and write it
      directly, because `Table.__setitem__` would send one changelog record per write through
      Faust's per-message path (~20 µs each, measured: see record_batches.py) and to the
      "current event's" partition, which inside a batch may be another partition's;
    - `Store._key_partition` (key -> partition), which Faust itself fills when it restores a
      changelog and reads to drop the keys of partitions assigned elsewhere
      (`on_recovery_completed`); written here so keys this worker wrote are dropped too.
      Faust has no public way to place a key in a partition without sending through it.

    Faust writes that data itself when it recovers the table: the store is told of each
    recovery's end (`recoveries`), so that it indexes the data again.
    """
    store: Any = cast(Any, table).data
    return KeyedBytesStore(store.data, store._key_partition, recoveries=recoveries(table.app))


class FaustOutbox:
    """One batch's outbox: rows through `writer`, records and changelog through `out`'s
    producer (a fresh gatherer per batch), acknowledged by `ack`."""

    def __init__(self, writer: ClickHouseWriter, out: RecordBatches, changelog_topic: str,
                 ack: Ack | None = None) -> None:
        self.writer = writer
        self.out = out
        self.changelog_topic = changelog_topic
        self.ack = ack

    async def write_rows(self, rows: Rows) -> None:
        if rows:
            await self.writer.write_async(rows)

    async def produce(self, records: Sequence[OutRecord]) -> None:
        if records:
            out = self.out.fresh()
            for topic, partition, key, value in records:
                out.add(topic, partition, key, value)
            await out.send()

    async def write_changelog(self, records: Sequence[ChangelogRecord]) -> None:
        if records:
            out, topic = self.out.fresh(), self.changelog_topic
            for partition, key, value in records:
                out.add(topic, partition, key, value)
            await out.send()

    async def acknowledge(self) -> None:
        if self.ack is not None:
            await self.ack()
