"""Waits of answered contacts, for percentile rules (`wait_p90_s`).

A percentile cannot be summed from per-minute parts, so the alert stage keeps each answered
contact's wait, keyed by contact: a re-delivered or corrected view replaces it, a contact whose
answer disappears (a late abandon before it) is removed. `samples` groups the waits answered in
`[end − window, end)` by the rule's scope and takes the exact inclusive percentile (as
`sqm.wait_quantiles` and Excel's PERCENTILE.INC do). Waits are real time from `queued_at`, as
`sqm.contacts.wait_s`.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from sqm.streams.core.alerting.changes import ScopeKey
from sqm.streams.core.alerting.grid import after_minute
from sqm.streams.core.alerting.rules import Scope
from sqm.streams.core.alerting.samples import Sample
from sqm.streams.core.alerting.scope_keys import key_memo

# tenant, channel, queue, priority, agent (the answering agent)
WaitDims = tuple[str, str, str, str, str]

PERCENTILES = {"wait_p90_s": 0.9}
_NO_ANSWER = Sample(None, 0)


def percentile(values: list[float], q: float) -> float:
    """Inclusive percentile with linear interpolation between closest ranks."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    if lo + 1 >= len(xs):
        return xs[lo]
    return xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


class WaitSamples:
    def __init__(self) -> None:
        # (tenant, contact) → (answered_at ms, wait ms, dims)
        self._waits: dict[tuple[str, str], tuple[int, int, WaitDims]] = {}
        self.horizon: int | None = None  # answers before it are gone
        self._changed: set[tuple[str, str]] = set()  # since take_changed()

    def __len__(self) -> int:
        return len(self._waits)

    def record(self, tenant: str, contact: str, dims: WaitDims, answered_at: int | None,
               wait_ms: int | None) -> None:
        """The contact's current answer: its wait, or None when it has none (any longer)."""
        key = (tenant, contact)
        if answered_at is None or wait_ms is None:
            if self._waits.pop(key, None) is not None:
                self._changed.add(key)
        elif self.horizon is None or answered_at >= self.horizon:
            value = (answered_at, wait_ms, dims)
            if self._waits.get(key) != value:
                self._waits[key] = value
                self._changed.add(key)

    def evict(self, before_ms: int) -> int:
        """Forget answers before `before_ms` (no later evaluation reads them)."""
        if self.horizon is not None and before_ms <= self.horizon:
            return 0
        self.horizon = before_ms
        old = [k for k, (at, _, _) in self._waits.items() if at < before_ms]
        for k in old:
            del self._waits[k]
        self._changed.update(old)
        return len(old)

    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> dict[ScopeKey, Sample]:
        q = PERCENTILES[metric]
        groups: dict[ScopeKey, list[float]] = {}
        start = end_ms - window_ms
        keys = key_memo(scope.specs)
        for at, wait_ms, dims in self._waits.values():
            if start <= at < end_ms:
                key = keys[dims]
                if key is not None:
                    groups.setdefault(key, []).append(wait_ms / 1000)
        return {k: Sample(percentile(v, q), len(v)) for k, v in groups.items()}

    def change_minutes(self, window_ms: int, first: int, last: int) -> set[int]:
        """The minutes of [first, last] at which a percentile over `window_ms` may differ from
        the minute before: an answer enters `[b − window, b)` at the first minute after it and
        leaves at the first minute after it + window (`grid.change_points`)."""
        out: set[int] = set()
        for at, _, _ in self._waits.values():
            for b in (after_minute(at), after_minute(at + window_ms)):
                if first <= b <= last:
                    out.add(b)
        return out

    def answer_times(self) -> list[int]:
        return [at for at, _, _ in self._waits.values()]

    def samples_over(self, metric: str, scope: Scope, window_ms: int, ends: Sequence[int]
                     ) -> list[dict[ScopeKey, Sample]]:
        """`samples` as of each of `ends` (ascending): the waits sorted by answer time once,
        each end reading only those in its window."""
        q = PERCENTILES[metric]
        if not ends:
            return []
        # Only the waits some end's window reads, in the scope: the rest would be sorted for
        # nothing.
        lo, hi = ends[0] - window_ms, ends[-1]
        memo = key_memo(scope.specs)
        items = sorted(v for v in self._waits.values()
                       if lo <= v[0] < hi and memo[v[2]] is not None)
        ats = [at for at, _, _ in items]
        keys = [memo[dims] for _, _, dims in items]
        out: list[dict[ScopeKey, Sample]] = []
        for end in ends:
            groups: dict[ScopeKey, list[float]] = {}
            for j in range(bisect_left(ats, end - window_ms), bisect_left(ats, end)):
                key = keys[j]
                if key is not None:
                    groups.setdefault(key, []).append(items[j][1] / 1000)
            out.append({k: Sample(percentile(v, q), len(v)) for k, v in groups.items()})
        return out

    def timelines(self, metric: str, scope: Scope, window_ms: int, first: int, last: int
                  ) -> dict[ScopeKey, list[tuple[int, Sample]]]:
        """Per scope key, its `samples` over the minutes [first, last] where they may change:
        (minute, the sample from then on), the first at `first`; a minute without an answer
        in the window reads Sample(None, 0). Each key's answers are read alone, at the
        minutes one of them enters or leaves the window (`change_minutes`)."""
        q = PERCENTILES[metric]
        memo = key_memo(scope.specs)
        answers_of: dict[ScopeKey, list[tuple[int, float]]] = {}
        for at, wait_ms, dims in self._waits.values():
            if first - window_ms <= at < last:
                key = memo[dims]
                if key is not None:
                    answers_of.setdefault(key, []).append((at, wait_ms / 1000))
        out: dict[ScopeKey, list[tuple[int, Sample]]] = {}
        for key, answers in answers_of.items():
            answers.sort()
            points = {first}
            for at, _wait in answers:
                for b in (after_minute(at), after_minute(at + window_ms)):
                    if first <= b <= last:
                        points.add(b)
            timeline: list[tuple[int, Sample]] = []
            for b in sorted(points):
                lo = bisect_left(answers, (b - window_ms,))
                values = [wait for _at, wait in answers[lo:bisect_left(answers, (b,), lo)]]
                timeline.append((b, Sample(percentile(values, q), len(values)) if values
                                 else _NO_ANSWER))
            out[key] = timeline
        return out

    # -- state (plain JSON-able data), whole or one contact at a time --
    def row(self, key: tuple[str, str]) -> list[Any] | None:
        v = self._waits.get(key)
        return None if v is None else [key[0], key[1], v[0], v[1], list(v[2])]

    def take_changed(self) -> set[tuple[str, str]]:
        changed, self._changed = self._changed, set()
        return changed

    def keys(self) -> list[tuple[str, str]]:
        return sorted(self._waits)

    @classmethod
    def from_rows(cls, horizon: int | None, rows: list[list[Any]]) -> WaitSamples:
        s = cls()
        s.horizon = horizon
        for t, c, at, w, d in rows:
            s._waits[(t, c)] = (at, w, (d[0], d[1], d[2], d[3], d[4]))
        return s

    def to_state(self) -> dict[str, Any]:
        return {"horizon": self.horizon,
                "waits": [[t, c, at, w, list(d)] for (t, c), (at, w, d) in
                          sorted(self._waits.items())]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WaitSamples:
        return cls.from_rows(state["horizon"], state["waits"])
