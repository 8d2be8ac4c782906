"""Rolling sums over one-minute windows, fed from `sqm.sla_1m`-style partial rows.

A row is one shard's *absolute* total for one window (docs/schema.md): the row with the highest
`version` per (window key, shard) replaces the shard's previous one, and the window's total is
the sum over shards. So re-delivered rows, corrections and rows arriving out of order never
double count: the result depends only on the set of rows seen, not on their order or number.

Counters are in `streams/core/rollup.py` order (`COUNTER_NAMES`; the wait sum in ms).
A sum over a window is kept per (scope, window length) and slid forward a minute at a time (add
the minute entering, subtract the one leaving) while none of its minutes changed; a late row
forces a full recomputation. Counters are integers, so both ways give the same sums.
Windows starting before the horizon (`evict`) are dropped and rows aimed at them ignored:
the clock only moves forward, so no later evaluation can read them.

State by minute, for a changelog that writes only what changed: `minute_rows(m)` is one
minute's rows (None once evicted), `take_changed()` the minutes changed since its last call,
`from_minutes` restores.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import add, sub
from typing import Any

from sqm.streams.core.alerting.changes import ScopeKey
from sqm.streams.core.alerting.rules import Scope
from sqm.streams.core.alerting.samples import METRIC_COUNTERS, Sample, metric_sample
from sqm.streams.core.alerting.scope_keys import Specs, group_key
from sqm.streams.core.rollup import MINUTE_MS, N_COUNTERS, WindowKey, pad

Dims = tuple[str, str, str, str]  # tenant_id, channel, queue, priority


@dataclass(slots=True)
class _Slide:
    end: int
    revs: dict[int, int] | None  # revisions of the window's minutes when summed (None: unknown)
    sums: dict[ScopeKey, list[int]]
    version: int = -1  # the store's version the sums are of


_UNKNOWN: Any = object()


class RollingStore:
    def __init__(self) -> None:
        # minute → (dims, shard) → (version, that shard's absolute counts)
        self._parts: dict[int, dict[tuple[Dims, int], tuple[int, list[int]]]] = {}
        # minute → dims → counts summed over shards (kept in step with _parts)
        self._minutes: dict[int, dict[Dims, list[int]]] = {}
        self.horizon: int | None = None
        # Caches (not state). A minute's revision counts the rows that changed it; a sum over
        # a window slides forward a minute when none of its minutes changed since.
        self._rev: dict[int, int] = {}
        # Counts every change of the windows (rows, evictions): a sum computed at the current
        # version slides without checking its minutes (one evaluate call passes many minutes
        # of an unchanged store, on the event clock every minute of a replay's quiet hours).
        self._version = 0
        self._slides: dict[tuple[Specs, int], _Slide] = {}
        self._keys: dict[Specs, dict[Dims, ScopeKey | None]] = {}
        # specs -> minute -> (its revision, its non-zero counts summed per scope key)
        self._groups: dict[Specs, dict[int, tuple[int, list[tuple[ScopeKey, list[int]]]]]] = {}
        self._changed: set[int] = set()  # minutes changed or evicted since take_changed()
        self._ordered: list[int] = []  # sorted minutes, as of `_ordered_version`
        self._ordered_version = -1
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
        counts = pad(list(counts))  # a row from before newer counters were appended
        if self.horizon is not None and minute < self.horizon:
            return False
        parts = self._parts.setdefault(minute, {})
        old = parts.get((dims, shard))
        if old is not None and old[0] >= version:
            return False  # equal: a re-delivery; lower: overtaken by a newer row
        new = [int(x) for x in counts]
        parts[(dims, shard)] = (version, new)
        total = self._minutes.setdefault(minute, {}).setdefault(dims, [0] * N_COUNTERS)
        if old is None:
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

    def evict(self, before_ms: int) -> int:
        """Drop windows starting before `before_ms` (the horizon only moves forward)."""
        before_ms -= before_ms % MINUTE_MS
        old_horizon = self.horizon
        if old_horizon is not None and before_ms <= old_horizon:
            return 0
        self.horizon = before_ms
        self._version += 1
        old = [m for m in self._minutes if m < before_ms]
        for m in old:
            del self._minutes[m]
            self._parts.pop(m, None)
            self._rev.pop(m, None)
            self._masks.pop(m, None)
            self._changed.add(m)
            for groups in self._groups.values():
                groups.pop(m, None)
        if old_horizon is None or old_horizon // 3_600_000 != before_ms // 3_600_000:
            self._keys.clear()  # hourly: forget dims that may be gone for good
        return len(old)

    def sums(self, scope: Scope, start_ms: int, end_ms: int) -> dict[ScopeKey, list[int]]:
        """Counters summed per scope key over the windows starting in [start_ms, end_ms).

        Keys whose counters are all 0 are left out (every metric reads them as absent). The
        result is only valid until the next call: read it, do not keep it.
        """
        return self.slide(scope, start_ms, end_ms)[0]

    def slide(self, scope: Scope, start_ms: int, end_ms: int
              ) -> tuple[dict[ScopeKey, list[int]], set[ScopeKey] | None]:
        """`sums`, and the keys whose sums may differ from those the previous call for the
        same scope and window length gave (None: any key may). The other keys' count lists
        are the very ones that call returned, unchanged."""
        touched: set[ScopeKey] = set()
        specs = scope.specs
        start, end = start_ms - start_ms % MINUTE_MS, end_ms - end_ms % MINUTE_MS
        width = end - start
        slide = self._slides.get((specs, width))
        if slide is not None and slide.version == self._version:
            if slide.end == end:
                return slide.sums, touched
            if 0 < end - slide.end < width:  # nothing changed since: slide to `end`
                # (several minutes at once when the grid jumps over quiet ones)
                for m in self._data_minutes(slide.end, end):
                    self._add(slide.sums, specs, m, 1, touched)
                for m in self._data_minutes(slide.end - width, start):
                    self._add(slide.sums, specs, m, -1, touched)
                slide.end, slide.revs = end, None
                return slide.sums, touched
        if slide is not None and slide.end == end and self._same(slide, start, end):
            return slide.sums, touched
        fresh: set[ScopeKey] | None = touched
        if slide is not None and slide.end == end - MINUTE_MS and self._same(
                slide, start - MINUTE_MS, end - MINUTE_MS):
            self._add(slide.sums, specs, end - MINUTE_MS, 1, touched)  # the minute entering
            self._add(slide.sums, specs, start - MINUTE_MS, -1, touched)  # the minute leaving
        else:
            slide = _Slide(end, {}, {})
            for minute in self._data_minutes(start, end):
                self._add(slide.sums, specs, minute, 1)
            self._slides[(specs, width)] = slide
            fresh = None
        slide.end = end
        slide.revs = {m: self._rev[m] for m in self._data_minutes(start, end) if m in self._rev}
        slide.version = self._version
        return slide.sums, fresh

    def _same(self, slide: _Slide, start: int, end: int) -> bool:
        """No minute of [start, end) changed since `slide` was computed."""
        if slide.revs is None:
            return False
        revs = {m: self._rev[m] for m in self._data_minutes(start, end) if m in self._rev}
        return revs == slide.revs

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

    def _grouped(self, specs: Specs, minute: int) -> list[tuple[ScopeKey, list[int]]]:
        """One minute's counts summed per scope key of `specs`, keys with all 0 left out
        (kept until the minute changes: every slide of these specs adds and subtracts it)."""
        rev = self._rev.get(minute)
        if rev is None:
            return []
        cache = self._groups.setdefault(specs, {})
        got = cache.get(minute)
        if got is not None and got[0] == rev:
            return got[1]
        keys = self._keys.setdefault(specs, {})
        merged: dict[ScopeKey, list[int]] = {}
        for dims, counts in self._minutes[minute].items():
            key = keys.get(dims, _UNKNOWN)
            if key is _UNKNOWN:
                key = keys[dims] = group_key(specs, dims)
            if key is None:
                continue
            acc = merged.get(key)
            if acc is None:
                merged[key] = counts[:]
            else:
                acc[:] = map(add, acc, counts)
        grouped = [(key, c) for key, c in merged.items() if any(c)]
        cache[minute] = (rev, grouped)
        return grouped

    def key_series(self, specs: Specs, counters: Sequence[int], start_ms: int, end_ms: int
                   ) -> dict[ScopeKey, list[tuple[int, tuple[int, ...]]]]:
        """Per scope key, its minutes in [start_ms, end_ms) (ascending) where one of
        `counters` is non-zero in one of its dims, with those counters summed over them."""
        mask = sum(1 << i for i in counters)
        minutes = self._minutes
        keys = self._keys.setdefault(specs, {})
        out: dict[ScopeKey, list[tuple[int, tuple[int, ...]]]] = {}
        for m in self._data_minutes(start_ms, end_ms):
            if not self._mask(m) & mask:
                continue
            for dims, counts in minutes[m].items():
                picked = tuple([counts[i] for i in counters])
                if not any(picked):
                    continue
                key = keys.get(dims, _UNKNOWN)
                if key is _UNKNOWN:
                    key = keys[dims] = group_key(specs, dims)
                if key is None:
                    continue
                series = out.get(key)
                if series is None:
                    out[key] = [(m, picked)]
                elif series[-1][0] == m:  # another of its dims in this minute
                    series[-1] = (m, tuple(map(add, series[-1][1], picked)))
                else:
                    series.append((m, picked))
        return out

    def _add(self, out: dict[ScopeKey, list[int]], specs: Specs, minute: int, sign: int,
             touched: set[ScopeKey] | None = None) -> None:
        for key, counts in self._grouped(specs, minute):
            if touched is not None:
                touched.add(key)
            acc = out.get(key)
            if acc is None:
                out[key] = counts[:] if sign > 0 else [-x for x in counts]
            else:
                acc[:] = map(add if sign > 0 else sub, acc, counts)  # integers: exact
                if not any(acc):
                    del out[key]  # as if never added: a later add starts again from 0

    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> dict[ScopeKey, Sample]:
        """The metric per scope key over the `window_ms` of whole minutes before `end_ms`."""
        sums = self.sums(scope, end_ms - window_ms, end_ms)
        return {key: metric_sample(metric, c) for key, c in sums.items()}

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
    def from_state(cls, state: dict[str, Any]) -> RollingStore:
        store = cls()
        for row in state["parts"]:
            store.apply_row(row)
        store.horizon = state["horizon"]
        store._changed.clear()
        return store

    @classmethod
    def from_minutes(cls, horizon: int | None, minutes: Mapping[int, Sequence[Sequence[Any]]]
                     ) -> RollingStore:
        """Restore from `minute_rows` per minute (the inverse of the two)."""
        store = cls()
        for minute, rows in minutes.items():
            for row in rows:
                store.apply_row((minute, *row))
        store.horizon = horizon
        store._changed.clear()
        return store


class MetricReads:
    """A RollingStore's change minutes for one metric (`change_points` takes a source and a
    window; this source names only the minutes that move the metric)."""

    def __init__(self, store: RollingStore, metric: str) -> None:
        self.store = store
        self.counters = METRIC_COUNTERS[metric]

    def change_minutes(self, window_ms: int, first: int, last: int) -> set[int]:
        return self.store.change_minutes(window_ms, first, last, self.counters)
