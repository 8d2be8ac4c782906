"""The direct runner's outbox (`streams/core/ports.py`): rows only, nothing to produce and no
changelog (a replay that fails is run again from the file, or continued with `--resume`);
acknowledging a chunk advances the progress bar.

With a second writer, a chunk's `events` (its largest insert) go through it while the other
tables go through the first (a connection to the store runs one query at a time); then the
rows `more` gives (the chunk's alerts, whose workers may still be computing them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sqm.sinks.writer import ClickHouseWriter
from sqm.streams.core.ports import ChangelogRecord, OutRecord, Rows


class RowsOutbox:
    """One chunk's (or the run's record's) outbox; `started` is set once the rows' inserts
    have them, `stored` once they are in (before the rows `more` gives)."""

    def __init__(self, writer: ClickHouseWriter, acknowledged: Callable[[], None],
                 started: asyncio.Event | None = None,
                 events_writer: ClickHouseWriter | None = None,
                 more: Callable[[], Awaitable[Rows]] | None = None,
                 stored: asyncio.Event | None = None) -> None:
        self.writer = writer
        self.acknowledged = acknowledged
        self.started = started  # set as the insert's thread is given the rows
        self.events_writer = events_writer  # the `events` rows through it, at the same time
        self.more = more  # rows written after the others (not events), as part of the batch
        self.stored = stored

    async def write_rows(self, rows: Rows) -> None:
        if self.started is not None:
            self.started.set()  # waiters wake on a later turn: after the threads have the rows
        if self.events_writer is not None and "events" in rows:
            rest = {table: data for table, data in rows.items() if table != "events"}
            await asyncio.gather(self.events_writer.write_async({"events": rows["events"]}),
                                 self.writer.write_async(rest))
        else:
            await self.writer.write_async(rows)
        if self.stored is not None:
            self.stored.set()
        if self.more is not None and (more := await self.more()):
            await self.writer.write_async(more)

    async def produce(self, records: Sequence[OutRecord]) -> None:
        assert not records, "the direct runner has no topics"

    async def write_changelog(self, records: Sequence[ChangelogRecord]) -> None:
        assert not records, "the direct runner keeps no changelog"

    async def acknowledge(self) -> None:
        self.acknowledged()
