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
from typing import Any, Protocol

from streams.core.alerting.changes import ScopeKey
from streams.core.alerting.rolling import Sample, Specs
from streams.core.alerting.rules import GAUGE_METRICS, Rule, Scope


class GridSource(Protocol):
    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> Mapping[ScopeKey, Sample]: ...


class GridSamples:
    """One rule's samples as of the whole minutes `ends` of one evaluate call.

    `shared` (one dict per evaluate call) lets the gauge rules of one scope share a pass: a
    source with `gauges_over(scope, ends)` (`AtRiskTracker`) gives every gauge at once.
    """

    def __init__(self, source: GridSource, rule: Rule, ends: Sequence[int],
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
        return self.by_end[b]
