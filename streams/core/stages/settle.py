"""The exactly-once order, the one place it is written down in code.

A stage's `prepare` applies a batch to its state in memory and computes everything the batch
writes: ClickHouse rows, records for the next stage (or dead letters, alert messages), and the
changelog records of the state as the batch left it, held back. `settle` then writes them:

1. the rows and the records, concurrently, and waits until both are done: rows are absolute
   values with versions (ReplacingMergeTree), records are idempotent downstream, so writing
   them twice is harmless;
2. only then the changelog records, so a state never says "written" for rows that are not;
3. only then acknowledges the input.

A crash anywhere before 3 leaves the input unacknowledged: it is read again, from a state whose
changelog does not contain the batch (a crash before 2), or does (between 2 and 3: the state
then holds the batch and re-reading it is recognised as duplicates by the customer stage, or
rewrites the same alert rows). Either way the rows end up exactly as one pass writes them.
Every engine calls `settle`: the Faust agents (streams/engine/faust/), the direct runner
(streams/direct.py, whose outbox has no records, no changelog and acknowledges by advancing its
progress bar). Batches settle one at a time, in the order they were prepared.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqm.streams.core.ports import ChangelogRecord, Outbox, OutRecord, Rows


@dataclass(slots=True)
class Prepared:
    """What one batch writes: rows, records to produce, and the changelog it owes."""

    rows: Rows = field(default_factory=dict)
    records: list[OutRecord] = field(default_factory=list)
    changelog: list[ChangelogRecord] = field(default_factory=list)


async def settle(outbox: Outbox, prepared: Prepared) -> None:
    """Rows and records, then the changelog, then the acknowledgement."""
    await asyncio.gather(outbox.write_rows(prepared.rows), outbox.produce(prepared.records))
    await outbox.write_changelog(prepared.changelog)
    await outbox.acknowledge()
