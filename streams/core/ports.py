"""The two ports the pipeline's stages run over, whatever engine drives them.

- `PartitionedStateStore`: a stateful stage's state, per partition (a customer shard, an alert
  partition), with the changelog records it owes for what changed. Both stateful stages use it:
  the Faust worker's is a table's data (`streams/engine/faust/tables.py`), the direct runner's
  plain dicts without a changelog (`streams/core/partitions.py`).
- `Outbox`: where a stage's prepared work goes: rows to ClickHouse, records to produce, the
  changelog, then the acknowledgement of the input. The order of those four is the
  exactly-once argument, and lives in one function, `streams/core/stages/settle.py`.

A stage itself never awaits anything but its outbox: `prepare` is synchronous and pure of I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from sqm.streams.core.sweep_index import SweepIndex

Rows = Mapping[str, Any]  # ClickHouse table -> rows (a list of dicts) or columns (a dict)


class OutRecord(NamedTuple):
    """One message to produce. partition None: placed by its key (murmur2, as Kafka clients do)."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes


# One changelog record of a partition's state: partition, key, value (None: a tombstone). A
# plain tuple: tens of thousands are made per second.
ChangelogRecord = tuple[int, bytes, bytes | None]


class PartitionState(Protocol):
    """One partition's state: live objects, or encoded bytes after a recovery."""

    # False: nothing is ever recovered from this state (a one-shot replay), so nothing is
    # encoded for a changelog (`put` gets b"" from the customer stage).
    durable: bool
    # Which entries a customer shard's eviction sweep must read; kept by the shard, `reset` by
    # whatever else changes the state (core/sweep_index.py).
    sweep_index: SweepIndex

    def get(self, key: str) -> Any | None: ...

    def keep(self, key: str, value: Any) -> None:
        """Cache a decoded or live object (no changelog record)."""

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        """Store and owe a changelog record, in call order."""

    def delete(self, key: str) -> None:
        """Remove and owe a tombstone."""

    def keys(self, prefixes: tuple[str, ...]) -> Iterable[str]:
        """This partition's keys that start with one of `prefixes`, as a list (safe to change
        the state while iterating)."""


class PartitionedStateStore(Protocol):
    """A stage's state over all the partitions this process owns."""

    durable: bool

    def partition(self, p: int) -> PartitionState: ...

    def owed(self) -> list[ChangelogRecord]:
        """The changelog records written since the last call, in order (and forget them)."""


class Outbox(Protocol):
    """Where a stage's prepared work is written. Called only by `settle`, in its order."""

    async def write_rows(self, rows: Rows) -> None: ...

    async def produce(self, records: Sequence[OutRecord]) -> None:
        """Send the records and wait until the broker has them all."""

    async def write_changelog(self, records: Sequence[ChangelogRecord]) -> None:
        """Send the changelog records and wait until the broker has them all."""

    async def acknowledge(self) -> None:
        """Mark the input the work came from as done (commit its offsets)."""
