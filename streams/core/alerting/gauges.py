"""The queue gauges `backlog` and `at_risk_count` over the tracked waiting contacts.

`WaitingGauges` is the part of `AtRiskTracker` that reads its contacts as of given minutes: each
contact's due and at-risk times, the gauges per scope key as of one minute (`samples`) or of
many (`gauges_over`, `gauge_steps`), and the minutes at which they can change
(`change_minutes`). A contact counts from its clock start until it stops or expires.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqm.streams.core.alerting.changes import ScopeKey
from sqm.streams.core.alerting.grid import ceil_minute
from sqm.streams.core.alerting.rules import AtRiskConfig, Scope
from sqm.streams.core.alerting.samples import Sample
from sqm.streams.core.alerting.scope_keys import key_memo

if TYPE_CHECKING:
    from sqm.streams.core.alerting.at_risk import TrackedContact, WaitingContact

LEGACY = -1  # the due_ms of a contact recorded before due times were sent


def _bump(d: dict[int, list[int]], i: int, which: int, by: int) -> None:
    deltas = d.get(i)
    if deltas is None:
        deltas = d[i] = [0, 0]
    deltas[which] += by


class WaitingGauges:
    """`AtRiskTracker`'s contacts read as of given minutes (its `config` and `entries`)."""

    config: AtRiskConfig
    entries: dict[tuple[str, str], TrackedContact]

    def breach_at(self, c: WaitingContact) -> int | None:
        if c.due_ms == LEGACY:
            return c.clock_start_ms + c.target_s * 1000
        return c.due_ms

    def risk_at(self, c: WaitingContact) -> int | None:
        due = self.breach_at(c)
        if due is None:
            return None
        return due - round((1 - self.config.fraction) * c.target_s * 1000)

    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> dict[ScopeKey, Sample]:
        """`backlog` (waiting) or `at_risk_count` (waiting and past the at-risk point, breached
        included) per scope key as of `end_ms`; the window plays no part. Sample size = backlog."""
        counts: dict[ScopeKey, list[int]] = {}
        keys = key_memo(scope.specs)
        for e in self.entries.values():
            c = e.c
            if c.clock_start_ms > end_ms or (e.stop_ms is not None and e.stop_ms <= end_ms):
                continue
            if end_ms - c.clock_start_ms >= self.config.max_wait:
                continue
            key = keys[(c.tenant_id, c.channel, c.queue, c.priority)]
            if key is None:
                continue
            acc = counts.setdefault(key, [0, 0])
            acc[0] += 1
            risk = self.risk_at(c)
            acc[1] += risk is not None and risk <= end_ms
        i = 1 if metric == "at_risk_count" else 0
        return {key: Sample(float(acc[i]), acc[0]) for key, acc in counts.items()}

    def change_minutes(self, window_ms: int, first: int, last: int) -> set[int]:
        """The minutes of [first, last] at which a gauge may differ from the minute before: a
        contact counts from its clock start, at risk from its at-risk point, until it stops
        or expires (`grid.change_points`)."""
        out: set[int] = set()
        max_wait = self.config.max_wait
        for e in self.entries.values():
            c = e.c
            stop = c.clock_start_ms + max_wait
            if e.stop_ms is not None and e.stop_ms < stop:
                stop = e.stop_ms
            for t in (c.clock_start_ms, stop, self.risk_at(c)):
                if t is not None:
                    b = ceil_minute(t)
                    if first <= b <= last:
                        out.add(b)
        return out

    def samples_over(self, metric: str, scope: Scope, window_ms: int, ends: Sequence[int]
                     ) -> list[dict[ScopeKey, Sample]]:
        """`samples` as of each of `ends` (ascending)."""
        return self.gauges_over(scope, ends)[metric]

    def gauges_over(self, scope: Scope, ends: Sequence[int]
                    ) -> dict[str, list[dict[ScopeKey, Sample]]]:
        """Both gauges' `samples` as of each of `ends` (ascending), in one pass over the
        contacts (`gauge_steps`)."""
        n = len(ends)
        backlogs: list[dict[ScopeKey, Sample]] = [{} for _ in range(n)]
        risks: list[dict[ScopeKey, Sample]] = [{} for _ in range(n)]
        for key, steps in self.gauge_steps(scope, ends).items():
            for j, (i, backlog, risky) in enumerate(steps):
                if backlog > 0:
                    by_backlog = Sample(float(backlog), backlog)
                    by_risk = Sample(float(risky), backlog)
                    for k in range(i, steps[j + 1][0] if j + 1 < len(steps) else n):
                        backlogs[k][key] = by_backlog
                        risks[k][key] = by_risk
        return {"backlog": backlogs, "at_risk_count": risks}

    def gauge_steps(self, scope: Scope, ends: Sequence[int]
                    ) -> dict[ScopeKey, list[tuple[int, int, int]]]:
        """Per scope key, where its gauges change over `ends` (ascending): (index in `ends`,
        contacts waiting, of them at risk) from that end on, the first of them where it
        starts. Each contact counts at the ends in [clock start, min(stop, start +
        max_wait)), at risk from its at-risk point on (differences per scope key)."""
        n = len(ends)
        diffs: dict[ScopeKey, dict[int, list[int]]] = {}  # index -> [waiting, at risk] deltas
        keys = key_memo(scope.specs)
        max_wait = self.config.max_wait
        for e in self.entries.values():
            c = e.c
            stop = c.clock_start_ms + max_wait
            if e.stop_ms is not None and e.stop_ms < stop:
                stop = e.stop_ms
            i0, i1 = bisect_left(ends, c.clock_start_ms), bisect_left(ends, stop)
            if i0 >= i1:
                continue
            key = keys[(c.tenant_id, c.channel, c.queue, c.priority)]
            if key is None:
                continue
            d = diffs.get(key)
            if d is None:
                d = diffs[key] = {}
            _bump(d, i0, 0, 1)
            _bump(d, i1, 0, -1)
            risk = self.risk_at(c)
            if risk is not None:
                j0 = max(i0, bisect_left(ends, risk))
                if j0 < i1:
                    _bump(d, j0, 1, 1)
                    _bump(d, i1, 1, -1)
        out: dict[ScopeKey, list[tuple[int, int, int]]] = {}
        for key, d in diffs.items():
            backlog = risky = 0
            steps: list[tuple[int, int, int]] = []
            for i in sorted(d):
                if i >= n:
                    break
                step, step_risky = d[i]
                if step or step_risky:
                    backlog += step
                    risky += step_risky
                    steps.append((i, backlog, risky))
            out[key] = steps
        return out
