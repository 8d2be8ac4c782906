"""`PartitionedStateStore`s without an engine: plain dicts, with or without a changelog.

- `MemoryPartitions`: one `MemoryStore` per partition, nothing owed (the direct runner: a
  one-shot replay is never recovered);
- `KeyedBytesStore`: every partition's state in one bytes-keyed mapping, as a changelogged
  table keeps it (key -> live object or the bytes recovered, key -> partition), each write
  owed as a changelog record. The Faust adapter runs it over its table's dicts; tests over
  plain ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from sqm.streams.core.ports import ChangelogRecord
from sqm.streams.core.state import MemoryStore
from sqm.streams.core.sweep_index import SweepIndex

Send = Callable[[int, bytes, bytes | None], object]  # partition, key, value (None: delete)


class MemoryPartitions:
    durable = False

    def __init__(self) -> None:
        self.parts: dict[int, MemoryStore] = {}

    def partition(self, p: int) -> MemoryStore:
        state = self.parts.get(p)
        if state is None:
            state = self.parts[p] = MemoryStore()
        return state

    def owed(self) -> list[ChangelogRecord]:
        return []


class BytesPartition:
    """One partition's view of a `KeyedBytesStore` (str keys, stored UTF-8 encoded)."""

    durable = True

    def __init__(self, data: MutableMapping[bytes, Any], key_partition: MutableMapping[bytes, int],
                 partition: int, send: Send, sweep_index: SweepIndex) -> None:
        self.data = data
        self.key_partition = key_partition
        self.partition = partition
        self.send = send
        self.sweep_index = sweep_index

    def get(self, key: str) -> Any | None:
        return self.data.get(key.encode())

    def keep(self, key: str, value: Any) -> None:
        k = key.encode()
        self.data[k] = value
        # The table drops the keys of a partition assigned elsewhere by this map.
        self.key_partition[k] = self.partition

    def put(self, key: str, value: Any, encoded: bytes) -> None:
        k = key.encode()
        self.data[k] = value
        self.key_partition[k] = self.partition
        self.send(self.partition, k, encoded)

    def delete(self, key: str) -> None:
        k = key.encode()
        self.data.pop(k, None)
        self.key_partition.pop(k, None)
        self.send(self.partition, k, None)

    def keys(self, prefixes: tuple[str, ...]) -> Iterable[str]:
        # The mapping holds every partition's keys: filter before decoding.
        encoded = tuple(p.encode() for p in prefixes)
        return [k.decode() for k in list(self.data) if k.startswith(encoded)]


class KeyedBytesStore:
    """Every partition's state in one mapping; writes owed (or, with `send`, sent at once)."""

    durable = True

    def __init__(self, data: MutableMapping[bytes, Any],
                 key_partition: MutableMapping[bytes, int] | None = None,
                 send: Send | None = None, recoveries: Callable[[], int] | None = None) -> None:
        self.data = data
        self.key_partition: MutableMapping[bytes, int] = (
            {} if key_partition is None else key_partition)
        self._owed: list[ChangelogRecord] = []
        self._send: Send = send or self._owe
        # The engine writes the mapping itself when it recovers it: `recoveries` counts those
        # (a change drops the sweep indexes, filled again from the data by the next sweeps).
        self._recoveries = recoveries
        self._recovered: int | None = None
        self._indexes: dict[int, SweepIndex] = {}

    def _owe(self, p: int, key: bytes, value: bytes | None) -> None:
        self._owed.append((p, key, value))

    def partition(self, p: int) -> BytesPartition:
        # Cheap, and holds nothing of its own but the sweep index, reset by a recovery: the
        # mapping is the state, so nothing goes stale across rebalances.
        if self._recoveries is not None:
            ended = self._recoveries()
            if ended != self._recovered:
                self._recovered = ended
                self.forget_indexes()
        index = self._indexes.get(p)
        if index is None:
            index = self._indexes[p] = SweepIndex()
        return BytesPartition(self.data, self.key_partition, p, self._send, index)

    def forget_indexes(self) -> None:
        """The mapping changed outside this store: index it again before the next sweeps."""
        for index in self._indexes.values():
            index.reset()

    def owed(self) -> list[ChangelogRecord]:
        owed, self._owed = self._owed, []
        return owed
