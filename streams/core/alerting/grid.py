"""The minutes an evaluate call walks, the minutes at which a source's samples can change at
all, and the samples of the instant rules (gauges, supplied metrics) at successive minutes.

`boundaries` are the whole minutes a call passes; a `MetricSource` gives a metric per scope key.

On the event clock one `evaluate` call can pass hundreds of minutes (the quiet hours of a
replay), and a source's `samples` reads everything it holds, so asking it at every minute cost
the alert stage most of its time in the pipeline benchmark (py-spy: ~24 % of the worker's GIL
time at 100k events, 1,886 full passes over ~3,400 waiting contacts). A source that has
`samples_over(metric, scope, window_ms, ends)` answers for all the minutes of a call in one pass
(`AtRiskTracker`, `WaitSamples`); the result is exactly `[samples(..., b) for b in ends]`.
Within one call the sources do not change.

A call can also pass decades: one event dated 1970 among 2026 events starts the grid in 1970.
Every source's samples are a step function of the minute: they change only at the minutes its
`change_minutes(window_ms, first, last)` names (a window row entering or leaving a window, a
contact starting, reaching its at-risk point or stopping, an answer entering or leaving a
window). Between two such minutes a rule sees the same samples, so its alerts can only change
when a pending breach has lasted its `for`; a long call is evaluated at those minutes only
(`change_points`) and at those wake-ups (`walk_points`), and `GridSamples` gives each minute
the samples of the last change point at or before it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from sqm.streams.core.alerting.changes import ScopeKey
from sqm.streams.core.alerting.machine import PENDING, Machines
from sqm.streams.core.alerting.rules import GAUGE_METRICS, MINUTE_MS, Rule, Scope
from sqm.streams.core.alerting.samples import Sample
from sqm.streams.core.alerting.scope_keys import Specs


class MetricSource(Protocol):
    """Anything that gives a metric per scope key: RollingStore, AtRiskTracker, supplied data."""

    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> Mapping[ScopeKey, Sample]: ...


def ceil_minute(ms: int) -> int:
    """The first whole minute at or after `ms`."""
    return -(-ms // MINUTE_MS) * MINUTE_MS


def after_minute(ms: int) -> int:
    """The first whole minute strictly after `ms`."""
    return ms - ms % MINUTE_MS + MINUTE_MS


def change_points(reads: Iterable[tuple[object, int]], first: int, last: int
                  ) -> list[int] | None:
    """`first` and every minute of [first, last] at which one of the (source, window) reads
    may see other samples than a minute before; None when a source cannot tell (it has no
    `change_minutes`: then every minute must be asked)."""
    points = {first}
    for source, window in {(id(s), w): (s, w) for s, w in reads}.values():
        tell = getattr(source, "change_minutes", None)
        if tell is None:
            return None
        points.update(tell(window, first, last))
    return sorted(p for p in points if first <= p <= last)


def boundaries(last: int | None, now_ms: int, catch_up_ms: int, skip: bool = True,
               since: int | None = None) -> range:
    """Whole minutes in (last, now_ms], at most `catch_up_ms` back (also on the first call, so
    the result does not depend on where the first tick falls). `skip=False` (the event clock):
    no minute is skipped, however far the clock jumped; the first call starts after the first
    minute with data (`since`), if that is earlier."""
    end = now_ms - now_ms % MINUTE_MS
    if last is None:
        start = end - catch_up_ms
        if not skip and since is not None:
            start = min(start, since - since % MINUTE_MS + MINUTE_MS)
    else:
        start = max(last + MINUTE_MS, end - catch_up_ms) if skip else last + MINUTE_MS
    return range(start, end + 1, MINUTE_MS)


def walk_points(points: Sequence[int], last: int, machines: Machines, rule_id: str,
                for_: int | None) -> Iterator[int]:
    """The change points, and the minutes between them at which a pending breach of
    `rule_id` reaches its `for` (asked after the minute before was evaluated: a breach may
    start there)."""
    i, b = 0, points[0]
    while True:
        yield b
        nxt = points[i + 1] if i + 1 < len(points) else None
        if nxt != b + MINUTE_MS:
            wake = next_wake(machines, b, rule_id, for_)
            if wake is not None and wake <= last and (nxt is None or wake < nxt):
                b = wake
                continue
        if nxt is None:
            return
        i, b = i + 1, nxt


def next_wake(machines: Machines, after: int, rule_id: str, for_: int | None) -> int | None:
    """The first minute after `after` at which a pending track of the rule has breached
    for `for`."""
    if for_ is None:
        return None
    best: int | None = None
    for t in machines.tracks.get(rule_id, {}).values():
        if t.state == PENDING:
            wake = ceil_minute(t.since + for_)
            if wake > after and (best is None or wake < best):
                best = wake
    return best


class GridSamples:
    """One rule's samples as of the whole minutes `ends` of one evaluate call.

    `ends` is every minute of the call, or only its change points (`change_points`): then a
    minute between two of them reads the samples of the earlier one.
    `shared` (one dict per evaluate call) lets the gauge rules of one scope share a pass: a
    source with `gauges_over(scope, ends)` (`AtRiskTracker`) gives every gauge at once.
    """

    def __init__(self, source: MetricSource, rule: Rule, ends: Sequence[int],
                 shared: dict[tuple[int, Specs], Any] | None = None) -> None:
        self.source = source
        self.rule = rule
        self.ends = ends
        self.shared = shared if shared is not None else {}
        self.by_end: dict[int, Mapping[ScopeKey, Sample]] | None = None

    def as_of(self, b: int) -> Mapping[ScopeKey, Sample]:
        r = self.rule
        if self.by_end is None:
            gauges = getattr(self.source, "gauges_over", None)
            over = getattr(self.source, "samples_over", None)
            if gauges is not None and r.metric in GAUGE_METRICS:
                key = (id(self.source), r.scope.specs)
                every = self.shared.get(key)
                if every is None:
                    every = self.shared[key] = gauges(r.scope, self.ends)
                samples = every[r.metric]
            elif over is not None:
                samples = over(r.metric, r.scope, r.window, self.ends)
            else:  # a source without the batch form is asked at every minute
                return self.source.samples(r.metric, r.scope, r.window, b)
            self.by_end = dict(zip(self.ends, samples, strict=True))
        got = self.by_end.get(b)
        if got is None:  # between two change points: the samples of the earlier one
            got = self.by_end[self.ends[bisect_right(self.ends, b) - 1]]
        return got
