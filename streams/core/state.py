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
from typing import Any, Protocol

import orjson

from streams.core.facts import ContactFacts
from streams.core.rollup import N_COUNTERS, WindowKey, pad

SEP = "\x1f"  # cannot appear in JSON-decoded ids by accident the way "|" or "/" can


def customer_key(shard: int, tenant_id: str, customer_id: str) -> str:
    return f"c{SEP}{shard}{SEP}{tenant_id}{SEP}{customer_id}"


def window_key(shard: int, w: WindowKey) -> str:
    return SEP.join(("w", str(shard), str(w[0]), *w[1:]))


def parse_window_key(key: str) -> WindowKey:
    _, _, minute, tenant, channel, queue, priority = key.split(SEP)
    return (int(minute), tenant, channel, queue, priority)


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


@dataclass(slots=True)
class ShardMeta:
    # Latest event time seen per input partition (epoch ms). Lateness is judged per input
    # partition, the unit Kafka keeps in order: partitions are consumed at different speeds,
    # so one fast partition must not make a slow one's events look late.
    watermarks: dict[int, int] = field(default_factory=dict)
    generation: int = 0  # when this state was first created, seconds; part of row versions
    swept_hour: int = 0  # last event-time hour an eviction sweep ran for

    @property
    def low_watermark(self) -> int:
        """Event time every input partition has reached: the safe clock for eviction."""
        return min(self.watermarks.values()) if self.watermarks else 0

    def encode(self) -> bytes:
        marks = {str(k): v for k, v in self.watermarks.items()}
        return orjson.dumps([marks, self.generation, self.swept_hour])

    @classmethod
    def decode(cls, data: bytes) -> ShardMeta:
        marks, generation, swept = orjson.loads(data)
        return cls({int(k): v for k, v in marks.items()}, generation, swept)


class ShardStore(Protocol):
    """Where a shard's state lives: live objects, or encoded bytes after a recovery."""

    def get(self, key: str) -> Any | None: ...

    def keep(self, key: str, value: Any) -> None:
        """Cache a decoded object (no changelog record)."""

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        """Store and write a changelog record, in call order."""

    def delete(self, key: str) -> None:
        """Remove and write a tombstone."""

    def keys(self, prefixes: tuple[str, ...]) -> Iterable[str]:
        """The keys that start with one of `prefixes`, as a list (safe to change the store
        while iterating)."""


class DictStore:
    """In-memory store with a changelog list; `recover()` rebuilds one from a changelog prefix."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.changelog: list[tuple[str, bytes | None]] = []

    def get(self, key: str) -> Any | None:
        return self.data.get(key)

    def keep(self, key: str, value: Any) -> None:
        self.data[key] = value

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        self.data[key] = value
        self.changelog.append((key, encoded))

    def delete(self, key: str) -> None:
        self.data.pop(key, None)
        self.changelog.append((key, None))

    def keys(self, prefixes: tuple[str, ...]) -> Iterable[str]:
        return [k for k in self.data if k.startswith(prefixes)]

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
