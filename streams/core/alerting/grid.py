"""Samples of the instant rules (gauges, supplied metrics) at successive whole minutes.

On the event clock one `evaluate` call can pass hundreds of minutes (the quiet hours of a
replay), and a source's `samples` reads everything it holds, so asking it at every minute cost
the alert stage most of its time in the pipeline benchmark (py-spy: ~24 % of the worker's GIL
time at 100k events, 1,886 full passes over ~3,400 waiting contacts). A source that has
`samples_over(metric, scope, window_ms, ends)` answers for all the minutes of a call in one pass
(`AtRiskTracker`, `WaitSamples`); the result is exactly `[samples(..., b) for b in ends]`.
Within one call the sources do not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from streams.core.alerting.changes import ScopeKey
from streams.core.alerting.rolling import Sample
from streams.core.alerting.rules import Rule, Scope


class GridSource(Protocol):
    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> Mapping[ScopeKey, Sample]: ...


class GridSamples:
    """One rule's samples as of the whole minutes `ends` of one evaluate call."""

    def __init__(self, source: GridSource, rule: Rule, ends: Sequence[int]) -> None:
        self.source = source
        self.rule = rule
        self.ends = ends
        self.by_end: dict[int, Mapping[ScopeKey, Sample]] | None = None

    def as_of(self, b: int) -> Mapping[ScopeKey, Sample]:
        r = self.rule
        over = getattr(self.source, "samples_over", None)
        if over is None:  # a source without the batch form is asked at every minute
            return self.source.samples(r.metric, r.scope, r.window, b)
        if self.by_end is None:
            self.by_end = dict(zip(self.ends, over(r.metric, r.scope, r.window, self.ends),
                                   strict=True))
        return self.by_end[b]
