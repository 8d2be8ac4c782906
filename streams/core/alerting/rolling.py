"""Rolling sums over one-minute windows, over the rows `WindowRows` keeps (window_rows.py).

Counters are in `streams/core/rollup.py` order (`COUNTER_NAMES`; the wait sum in ms).
A sum over a window is kept per (scope, window length) and slid forward a minute at a time (add
the minute entering, subtract the one leaving) while none of its minutes changed; a late row
forces a full recomputation. Counters are integers, so both ways give the same sums.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from operator import add, itemgetter, or_, sub
from typing import Any

from sqm.streams.core.alerting.changes import ScopeKey
from sqm.streams.core.alerting.rules import Scope
from sqm.streams.core.alerting.samples import METRIC_COUNTERS, Sample, metric_sample
from sqm.streams.core.alerting.scope_keys import Specs, group_key
from sqm.streams.core.alerting.window_rows import Dims, WindowRows
from sqm.streams.core.rollup import MINUTE_MS


@dataclass(slots=True)
class _Slide:
    end: int
    revs: dict[int, int] | None  # revisions of the window's minutes when summed (None: unknown)
    sums: dict[ScopeKey, list[int]]
    version: int = -1  # the store's version the sums are of


_UNKNOWN: Any = object()
# a key's minutes (ascending, a minute once per dims of it) and a column of counts per counter
KeySeries = tuple[list[int], list[list[int]]]


class RollingStore(WindowRows):
    """The rows' counters summed per scope key over windows of whole minutes; the sums and
    their per-minute groupings are caches, forgotten with the minutes `evict` drops."""

    def __init__(self) -> None:
        super().__init__()
        self._slides: dict[tuple[Specs, int], _Slide] = {}
        self._keys: dict[Specs, dict[Dims, ScopeKey | None]] = {}
        # specs -> minute -> (its revision, its non-zero counts summed per scope key)
        self._groups: dict[Specs, dict[int, tuple[int, list[tuple[ScopeKey, list[int]]]]]] = {}

    def _evicted(self, old: list[int], old_horizon: int | None, horizon: int) -> None:
        for m in old:
            for groups in self._groups.values():
                groups.pop(m, None)
        if old_horizon is None or old_horizon // 3_600_000 != horizon // 3_600_000:
            self._keys.clear()  # hourly: forget dims that may be gone for good

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
                   ) -> dict[ScopeKey, KeySeries]:
        """Per scope key, the minutes in [start_ms, end_ms) where one of `counters` is non-zero
        in one of its dims, ascending, and those counters there (a column each): a minute once
        per such dims (summing them is the reader's: `walk_keys` takes prefix sums)."""
        getters = [itemgetter(i) for i in counters]
        keys = self._keys.setdefault(specs, {})
        out: dict[ScopeKey, KeySeries] = {}
        mixed: set[ScopeKey] = set()  # keys with several dims: their minutes to sort
        for dims, by_minute in self._by_dims.items():
            key = keys.get(dims, _UNKNOWN)
            if key is _UNKNOWN:
                key = keys[dims] = group_key(specs, dims)
            if key is None:
                continue
            ms = self._dims_minutes(dims)
            ms = ms[bisect_left(ms, start_ms):bisect_left(ms, end_ms)]
            if not ms:
                continue
            # in C: the counters' columns, kept where one is non-zero (x | y == 0 iff both 0)
            rows = list(map(by_minute.__getitem__, ms))
            columns = [list(map(get, rows)) for get in getters]
            keep = columns[0]
            for column in columns[1:]:
                keep = list(map(or_, keep, column))
            if not all(keep):
                if not any(keep):
                    continue
                ms = list(compress(ms, keep))
                columns = [list(compress(column, keep)) for column in columns]
            got = out.get(key)
            if got is None:
                out[key] = (ms, columns)
            else:
                got[0].extend(ms)
                for column, more in zip(got[1], columns, strict=True):
                    column.extend(more)
                mixed.add(key)
        for key in mixed:
            ms, columns = out[key]
            order = sorted(range(len(ms)), key=ms.__getitem__)
            out[key] = (list(map(ms.__getitem__, order)),
                        [list(map(column.__getitem__, order)) for column in columns])
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


class MetricReads:
    """A RollingStore's change minutes for one metric (`change_points` takes a source and a
    window; this source names only the minutes that move the metric)."""

    def __init__(self, store: RollingStore, metric: str) -> None:
        self.store = store
        self.counters = METRIC_COUNTERS[metric]

    def change_minutes(self, window_ms: int, first: int, last: int) -> set[int]:
        return self.store.change_minutes(window_ms, first, last, self.counters)
