"""Samples of the instant rules (gauges, supplied metrics) at successive whole minutes.

On the event clock one `evaluate` call can pass hundreds of minutes (a replay's quiet hours),
and a source's `samples` reads all it holds, so computing them afresh at every minute took a
few % of the worker's time in the pipeline benchmark. They only change at the source's change times (a contact starts
or stops waiting, becomes at risk or expires; an answer enters or leaves a percentile window):
a source that lists them (`change_times`) is asked again only when one falls between the last
minute it answered for and the next. Within one call the source does not change otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from streams.core.alerting.changes import ScopeKey
from streams.core.alerting.rolling import Sample
from streams.core.alerting.rules import MINUTE_MS, Rule, Scope


class GridSource(Protocol):
    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> Mapping[ScopeKey, Sample]: ...


class GridSamples:
    """One rule's samples as of successive whole minutes `b` (ascending) within one evaluate
    call. Change times are gathered (as minute numbers) only when a call passes more than
    `EAGER` minutes: for fewer, asking the source at each is cheaper."""

    EAGER = 2

    def __init__(self, source: GridSource, rule: Rule) -> None:
        self.source = source
        self.rule = rule
        self.at: int | None = None
        self.asked = 0
        self.value: Mapping[ScopeKey, Sample] = {}
        self.minutes: set[int] | None = None  # minute numbers holding a change time

    def as_of(self, b: int) -> Mapping[ScopeKey, Sample]:
        # A source that cannot say when it changes is asked at every minute.
        times = getattr(self.source, "change_times", None)
        if self.at is not None and self.asked >= self.EAGER and times is not None:
            if self.minutes is None:
                self.minutes = {t // MINUTE_MS for t in times(self.rule.metric, self.rule.window)}
            # Unchanged unless a change time lies in [last minute, b] (a superset of the
            # instants where a sample can differ is enough).
            if not any(m in self.minutes
                       for m in range(self.at // MINUTE_MS, b // MINUTE_MS + 1)):
                self.at = b
                return self.value
        r = self.rule
        self.value = self.source.samples(r.metric, r.scope, r.window, b)
        self.at = b
        self.asked += 1
        return self.value
