"""The state a shard keeps, and how it is encoded for its changelog.

Three kinds of entries, all keyed by strings that start with the kind and the shard id so one
shard's entries can be listed:
- customer `c|shard|tenant|customer`: the customer's contacts (facts + sticky repeat flag);
- window `w|shard|minute|tenant|channel|queue|priority`: partial totals and the offset of the
  last input message they absorbed;
- meta `m|shard`: the watermark, the state generation and the last eviction hour.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from sqm.streams.core.facts import ContactFacts
from sqm.streams.core.ports import PartitionState
from sqm.streams.core.rollup import N_COUNTERS, WindowKey, pad
from sqm.streams.core.sweep_index import SweepIndex

SEP = "\x1f"  # cannot appear in JSON-decoded ids by accident the way "|" or "/" can


def customer_key(shard: int, tenant_id: str, customer_id: str) -> str:
    return f"c{SEP}{shard}{SEP}{tenant_id}{SEP}{customer_id}"


def window_key(shard: int, w: WindowKey) -> str:
    return f"w{SEP}{shard}{SEP}{w[0]}{SEP}{w[1]}{SEP}{w[2]}{SEP}{w[3]}{SEP}{w[4]}"


def parse_window_key(key: str) -> WindowKey:
    _, _, minute, tenant, channel, queue, priority = key.split(SEP)
    return (int(minute), tenant, channel, queue, priority)


def window_minute(key: str) -> int:
    """`parse_window_key(key)[0]` without building the rest (the sweep reads every key)."""
    return int(key.split(SEP, 3)[2])


def meta_key(shard: int) -> str:
    return f"m{SEP}{shard}"


def shard_prefixes(shard: int) -> tuple[str, str]:
    return f"c{SEP}{shard}{SEP}", f"w{SEP}{shard}{SEP}"


@dataclass(slots=True)
class CustomerState:
    contacts: dict[str, ContactFacts] = field(default_factory=dict)
    # Sticky: a contact's repeat flag only ever turns on, because contacts never disappear in
    # truth, only from state once they are too old to matter.
    repeat: dict[str, bool] = field(default_factory=dict)

    def encode(self) -> bytes:
        # A customer with one contact is written only when that contact changed: a cached
        # encoding would never be read again, only held (for days, with the state).
        keep = len(self.contacts) > 1
        return orjson.dumps(
            [[f.state_json(keep), self.repeat.get(cid, False)]
             for cid, f in self.contacts.items()]
        )

    @classmethod
    def decode(cls, data: bytes) -> CustomerState:
        st = cls()
        for facts_state, rep in orjson.loads(data):
            f = ContactFacts.from_state(facts_state)
            st.contacts[f.contact_id] = f
            st.repeat[f.contact_id] = rep
        return st


@dataclass(slots=True)
class WindowState:
    counts: list[int] = field(default_factory=lambda: [0] * N_COUNTERS)
    stamp: int = -1  # offset of the last input message applied

    def encode(self) -> bytes:
        return orjson.dumps([self.counts, self.stamp])

    @classmethod
    def decode(cls, data: bytes) -> WindowState:
        counts, stamp = orjson.loads(data)
        return cls(pad(counts), stamp)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the ingest stage read of the input partitions it owns, sent to every shard after
    each batch (after the batch's events, on the same partitions): `sources` is the input
    topic's partition count, `marks` the latest event time read per input partition, `idle`
    the partitions it reports as idle (caught up and silent, or at the end of a replay's
    input). See docs/architecture.md, "The event clock"."""

    sources: int
    marks: dict[int, int]
    idle: frozenset[int] = frozenset()

    def to_json(self) -> dict[str, object]:
        return {"n": self.sources, "marks": [[p, m] for p, m in self.marks.items()],
                "idle": sorted(self.idle)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        return cls(data["n"], {p: m for p, m in data["marks"]}, frozenset(data["idle"]))


@dataclass(slots=True)
class ShardMeta:
    # Latest event time seen per input partition (epoch ms), from the events this shard got.
    # Lateness is judged per input partition, the unit Kafka keeps in order: partitions are
    # consumed at different speeds, so one fast partition must not make a slow one's events
    # look late.
    watermarks: dict[int, int] = field(default_factory=dict)
    generation: int = 0  # when this state was first created, seconds; part of row versions
    swept_hour: int = 0  # last event-time hour an eviction sweep ran for
    # The ingest stage's progress per input partition (it reads every event of a partition,
    # this shard only those routed here), the partitions reported idle, and how many input
    # partitions there are (0: never told, the clock of sqm before the true low watermark).
    progress: dict[int, int] = field(default_factory=dict)
    idle: set[int] = field(default_factory=set)
    sources: int = 0
    # Not encoded: set from the shard's config. When true, the clock stays at 0 until the
    # first progress report says how many input partitions there are (the worker); when
    # false, a shard never told uses the lowest watermark heard from (direct core use).
    await_progress: bool = False

    @property
    def low_watermark(self) -> int:
        """The event clock: the event time every input partition that can still feed this
        shard has reached. A partition never heard from holds it at 0; an idle one does not
        hold it back; when every partition is idle, everything read has arrived and the clock
        is the latest time read. Eviction, lateness and the alert stage's clock use it."""
        if not self.sources:
            if self.await_progress or not self.watermarks:
                return 0
            return min(self.watermarks.values())
        marks, progress, idle = self.watermarks, self.progress, self.idle
        low: int | None = None
        for p in range(self.sources):
            if p in idle:
                continue
            mark = max(marks.get(p, 0), progress.get(p, 0))
            if low is None or mark < low:
                low = mark
        if low is not None:
            return low
        return max((*marks.values(), *progress.values()), default=0)

    @property
    def closed(self) -> bool:
        """Every input partition is idle: nothing more is in flight to this shard."""
        return bool(self.sources) and all(p in self.idle for p in range(self.sources))

    def apply_progress(self, progress: Progress) -> bool:
        """Merge one progress report; True when anything changed."""
        changed = False
        if progress.sources != self.sources and progress.sources > 0:
            self.sources = progress.sources
            changed = True
        for p, mark in progress.marks.items():
            if mark > self.progress.get(p, 0):
                self.progress[p] = mark
                changed = True
            if p in progress.idle:
                if p not in self.idle:
                    self.idle.add(p)
                    changed = True
            elif p in self.idle:
                self.idle.discard(p)
                changed = True
        return changed

    def encode(self) -> bytes:
        marks = {str(k): v for k, v in self.watermarks.items()}
        progress = {str(k): v for k, v in self.progress.items()}
        return orjson.dumps([marks, self.generation, self.swept_hour, progress,
                             sorted(self.idle), self.sources])

    @classmethod
    def decode(cls, data: bytes) -> ShardMeta:
        marks, generation, swept, *clock = orjson.loads(data)
        meta = cls({int(k): v for k, v in marks.items()}, generation, swept)
        if clock:  # written before the true low watermark: no progress yet
            progress, idle, sources = clock
            meta.progress = {int(k): v for k, v in progress.items()}
            meta.idle = set(idle)
            meta.sources = sources
        return meta


# Where a shard's state lives: one partition of a `PartitionedStateStore` (core/ports.py).
ShardStore = PartitionState


class MemoryStore:
    """In-memory store without a changelog: for a run that is never recovered."""

    durable = False

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.sweep_index = SweepIndex()

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def keep(self, key: str, value: Any) -> None:
        self.data[key] = value

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self, prefixes: tuple[str, ...]) -> Iterable[str]:
        return [k for k in self.data if k.startswith(prefixes)]


class DictStore(MemoryStore):
    """In-memory store with a changelog list; `recover()` rebuilds one from a changelog prefix."""

    durable = True

    def __init__(self) -> None:
        super().__init__()
        self.changelog: list[tuple[str, bytes | None]] = []

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        self.data[key] = value
        self.changelog.append((key, encoded))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)
        self.changelog.append((key, None))

    @classmethod
    def recover(cls, changelog: list[tuple[str, bytes | None]]) -> DictStore:
        store = cls()
        for key, value in changelog:
            if value is None:
                store.data.pop(key, None)
            else:
                store.data[key] = value
        store.changelog = list(changelog)
        return store
