"""The archive port: what a shard evicted, read back from the stored results.

The state is a cache of recent event time (the state TTL). A long-lived contact (an e-mail
ticket reopened after ten days, a survey two weeks after the answer) can get an event after
its facts, and the windows its earlier events counted in, were evicted. Its stored events and
window rows are still exact (ClickHouse `sqm.events`, `sqm.sla_1m`), so the shard reads
them back instead of starting the contact afresh (which would rewrite its row from partial
facts) or dropping the correction (which would leave an old window wrong).

Reads happen only for what the shard once evicted, and what it evicts was last written at
least one batch earlier (the sweep skips what the current batch touched), so it is stored:
batches finish in order, and the next but one is prepared only after a batch is written.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import WindowKey

ContactKey = tuple[str, str]  # (tenant_id, contact_id)


@dataclass(frozen=True, slots=True)
class ArchivedContact:
    events: list[EventRecord]  # every stored event of the contact
    is_repeat: bool  # its stored repeat flag (sticky, so it is still true)


class Archive(Protocol):
    def contacts(self, keys: Sequence[ContactKey]) -> dict[ContactKey, ArchivedContact]:
        """The stored contacts among `keys` (those never stored are absent)."""

    def windows(self, shard: int, keys: Sequence[WindowKey]) -> dict[WindowKey, tuple[
            list[int], int]]:
        """This shard's stored counts and row version of each window in `keys` (absent: the
        shard never wrote that window)."""


class Evictions(Protocol):
    """Told what a shard evicts, as it evicts it (a resumed replay's re-read keeps it: see
    streams/replay_evicted.py)."""

    def evicted_contact(self, key: ContactKey, event_ids: Collection[str],
                        is_repeat: bool) -> None: ...

    def evicted_window(self, shard: int, key: WindowKey, counts: list[int],
                       stamp: int) -> None: ...
