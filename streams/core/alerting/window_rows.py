"""The one-minute windows' rows, fed from `sqm.sla_1m`-style partial rows: the state that
`RollingStore` (rolling.py) sums over windows.

A row is one shard's *absolute* total for one window (docs/schema.md): the row with the highest
`version` per (window key, shard) replaces the shard's previous one, and the window's total is
the sum over shards. So re-delivered rows, corrections and rows arriving out of order never
double count: the result depends only on the set of rows seen, not on their order or number.

Windows starting before the horizon (`evict`) are dropped and rows aimed at them ignored:
the clock only moves forward, so no later evaluation can read them.

State by minute, for a changelog that writes only what changed: `minute_rows(m)` is one
minute's rows (None once evicted), `take_changed()` the minutes changed since its last call,
`from_minutes` restores.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from operator import add, sub
from typing import Any, Self

from sqm.streams.core.rollup import MINUTE_MS, N_COUNTERS, WindowKey, pad

Dims = tuple[str, str, str, str]  # tenant_id, channel, queue, priority


class WindowRows:
    """One-minute window rows by minute and shard, and their totals per minute and dims."""

    def __init__(self) -> None:
        # minute → (dims, shard) → (version, that shard's absolute counts)
        self._parts: dict[int, dict[tuple[Dims, int], tuple[int, list[int]]]] = {}
        # minute → dims → counts summed over shards (kept in step with _parts)
        self._minutes: dict[int, dict[Dims, list[int]]] = {}
        # dims → minute → the same counts as in _minutes: a dims' own minutes, without a
        # pass over every minute's rows
        self._by_dims: dict[Dims, dict[int, list[int]]] = {}
        self.horizon: int | None = None
        # Caches (not state). A minute's revision counts the rows that changed it; a sum over
        # a window slides forward a minute when none of its minutes changed since.
        self._rev: dict[int, int] = {}
        # Counts every change of the windows (rows, evictions): a sum computed at the current
        # version slides without checking its minutes (one evaluate call passes many minutes
        # of an unchanged store, on the event clock every minute of a replay's quiet hours).
        self._version = 0
        self._changed: set[int] = set()  # minutes changed or evicted since take_changed()
        self._ordered: list[int] = []  # sorted minutes, as of `_ordered_version`
        self._ordered_version = -1
        self._sorted: dict[Dims, list[int]] = {}  # `_dims_minutes`, as of `_sorted_version`
        self._sorted_version = -1
        # minute -> (its revision, bit i set: counter i non-zero in some dims), made when read
        self._masks: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return sum(len(parts) for parts in self._parts.values())

    def apply(self, window: WindowKey, shard: int, version: int, counts: Sequence[int]) -> bool:
        """Take one shard's row for one window; False when it changes nothing (older version,
        re-delivery, or a window before the horizon)."""
        minute, dims = window[0], (window[1], window[2], window[3], window[4])
        if minute % MINUTE_MS:
            raise ValueError(f"window start {minute} is not a whole UTC minute")
        if len(counts) > N_COUNTERS:
            raise ValueError(f"a window row has {N_COUNTERS} counters, got {len(counts)}")
        if self.horizon is not None and minute < self.horizon:
            return False
        parts = self._parts.get(minute)
        if parts is None:
            parts = self._parts[minute] = {}
            totals = self._minutes[minute] = {}
        else:
            totals = self._minutes[minute]
        part = (dims, shard)
        old = parts.get(part)
        if old is not None and old[0] >= version:
            return False  # equal: a re-delivery; lower: overtaken by a newer row
        new = list(map(int, counts))
        if len(new) < N_COUNTERS:
            new = pad(new)  # a row from before newer counters were appended
        parts[part] = (version, new)
        total = totals.get(dims)
        if total is None:
            totals[dims] = total = new[:]
            by_minute = self._by_dims.get(dims)
            if by_minute is None:
                by_minute = self._by_dims[dims] = {}
            by_minute[minute] = total
        elif old is None:
            total[:] = map(add, total, new)
        else:
            total[:] = map(add, total, map(sub, new, old[1]))
        self._rev[minute] = self._rev.get(minute, 0) + 1
        self._version += 1
        self._changed.add(minute)
        return True

    def apply_row(self, row: Sequence[Any]) -> bool:
        """(window_start_ms, tenant, channel, queue, priority, shard, version, *counts)."""
        start, tenant, channel, queue, priority, shard, version, *counts = row
        return self.apply((int(start), tenant, channel, queue, priority), int(shard),
                          int(version), counts)

    def apply_shard_rows(self, shard: int, rows: Iterable[Any]) -> None:
        """`apply` for one shard's rows (window_start_ms, tenant, channel, queue, priority,
        version, *counts), as an `sqm.alert-inputs` message carries them: no key tuple built
        per row (`apply` reads the window key's five fields off the row)."""
        apply = self.apply
        for row in rows:
            apply(row, shard, row[5], row[6:])

    def evict(self, before_ms: int) -> int:
        """Drop windows starting before `before_ms` (the horizon only moves forward)."""
        before_ms -= before_ms % MINUTE_MS
        old_horizon = self.horizon
        if old_horizon is not None and before_ms <= old_horizon:
            return 0
        self.horizon = before_ms
        self._version += 1
        minutes, parts, rev, masks, by_dims = (
            self._minutes, self._parts, self._rev, self._masks, self._by_dims)
        old = [m for m in minutes if m < before_ms]
        for m in old:
            for dims in minutes.pop(m):
                by_minute = by_dims[dims]
                del by_minute[m]
                if not by_minute:
                    del by_dims[dims]
            parts.pop(m, None)
            rev.pop(m, None)
            masks.pop(m, None)
        self._changed.update(old)
        self._evicted(old, old_horizon, before_ms)
        return len(old)

    def _evicted(self, old: list[int], old_horizon: int | None, horizon: int) -> None:
        """After `evict` dropped the minutes `old` and moved the horizon from `old_horizon`:
        caches built over the rows (a subclass's) forget them."""

    def _data_minutes(self, start: int, end: int) -> list[int]:
        """The minutes in [start, end) that hold rows: the cost of a sum over a day's window
        follows the minutes with data, not the day's 1,440."""
        if end - start <= 64 * MINUTE_MS:
            minutes = self._minutes
            return [m for m in range(start, end, MINUTE_MS) if m in minutes]
        if self._ordered_version != self._version:
            self._ordered = sorted(self._minutes)
            self._ordered_version = self._version
        ordered = self._ordered
        return ordered[bisect_left(ordered, start):bisect_left(ordered, end)]

    def _dims_minutes(self, dims: Dims) -> list[int]:
        """The minutes holding rows of `dims`, ascending (kept while the rows do not change:
        the window rules of one evaluation all read them)."""
        if self._sorted_version != self._version:
            self._sorted.clear()
            self._sorted_version = self._version
        minutes = self._sorted.get(dims)
        if minutes is None:
            minutes = self._sorted[dims] = sorted(self._by_dims[dims])
        return minutes

    def _mask(self, minute: int) -> int:
        """Bit i set: counter i is non-zero in some dims of the minute (0: no rows)."""
        rev = self._rev.get(minute)
        got = self._masks.get(minute)
        if got is not None and got[0] == rev:
            return got[1]
        bits = 0
        for counts in self._minutes.get(minute, {}).values():
            for i, x in enumerate(counts):
                if x:
                    bits |= 1 << i
        if rev is not None:
            self._masks[minute] = (rev, bits)
        return bits

    def minutes(self) -> list[int]:
        return sorted(self._parts)

    def change_minutes(self, window_ms: int, first: int, last: int,
                       counters: int | None = None) -> set[int]:
        """The minutes of [first, last] at which a sum over `window_ms` may differ from the
        minute before: a row's minute enters the window a minute after it, and leaves it a
        window later (`grid.change_points`). `counters` (a `METRIC_COUNTERS` mask): only the
        minutes where one of those counters is non-zero, the only ones that move that metric."""
        span = -(-window_ms // MINUTE_MS) * MINUTE_MS
        out: set[int] = set()
        if counters is None:
            minutes: Any = self._minutes
        else:
            minutes = [m for m in self._minutes if self._mask(m) & counters]
        for m in minutes:
            for b in (m + MINUTE_MS, m + span + MINUTE_MS):
                if first <= b <= last:
                    out.add(b)
        return out

    def minute_rows(self, minute: int) -> list[list[Any]] | None:
        """One minute's rows `[tenant, channel, queue, priority, shard, version, *counts]`,
        or None when the store holds nothing for it (never seen, or evicted)."""
        parts = self._parts.get(minute)
        if parts is None:
            return None
        return [[*dims, shard, version, *counts]
                for (dims, shard), (version, counts) in sorted(parts.items())]

    def take_changed(self) -> set[int]:
        """The minutes whose rows changed (or that were evicted) since the last call."""
        changed, self._changed = self._changed, set()
        return changed

    def to_state(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "parts": [[m, *row] for m in self.minutes() for row in self.minute_rows(m) or []],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        store = cls()
        for row in state["parts"]:
            store.apply_row(row)
        store.horizon = state["horizon"]
        store._changed.clear()
        return store

    @classmethod
    def from_minutes(cls, horizon: int | None, minutes: Mapping[int, Sequence[Sequence[Any]]]
                     ) -> Self:
        """Restore from `minute_rows` per minute (the inverse of the two)."""
        store = cls()
        for minute, rows in minutes.items():
            for row in rows:
                store.apply_row((minute, *row))
        store.horizon = horizon
        store._changed.clear()
        return store
