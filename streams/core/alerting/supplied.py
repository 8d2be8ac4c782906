"""Sources for metrics the windows cannot give (`csat`, `wait_p90_s`), filled by the caller.

- `MeanSource`: per full key (tenant, channel, queue, priority, agent) a sum and a count, e.g.
  CSAT scores and responses; grouped by each rule's scope like the windows, mean = sum / count,
  sample size = count. Right for anything that is a mean.
- `ScopedValues`: values already computed per scope key (a percentile cannot be summed from
  parts: compute it per scope, e.g. with a ClickHouse `quantile` query, and hand it over).

The window argument is the caller's business: fill the source with data over the rule's window.
Both answer the same at every minute (`change_minutes` names none, so a long evaluate call on
the event clock need not ask them at every minute).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqm.streams.core.alerting.changes import ScopeKey
from sqm.streams.core.alerting.rules import Scope
from sqm.streams.core.alerting.samples import Sample
from sqm.streams.core.alerting.scope_keys import group_key


class MeanSource:
    def __init__(self, parts: Mapping[ScopeKey, tuple[float, float]]) -> None:
        self.parts = dict(parts)  # full key → (sum, count)

    def change_minutes(self, window_ms: int, first: int, last: int) -> set[int]:
        return set()  # the same samples at every minute

    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> dict[ScopeKey, Sample]:
        acc: dict[ScopeKey, list[float]] = {}
        for full, (total, count) in sorted(self.parts.items()):
            key = group_key(scope.specs, full)
            if key is not None:
                a = acc.setdefault(key, [0.0, 0.0])
                a[0] += total
                a[1] += count
        return {k: Sample(s / n if n > 0 else None, n) for k, (s, n) in acc.items()}


class ScopedValues:
    def __init__(self, values: Mapping[ScopeKey, Sample]) -> None:
        self.values = dict(values)

    def change_minutes(self, window_ms: int, first: int, last: int) -> set[int]:
        return set()  # the same samples at every minute

    def samples(self, metric: str, scope: Scope, window_ms: int, end_ms: int
                ) -> dict[ScopeKey, Sample]:
        """The values whose key has the scope's shape (same dims set, fixed values matching)."""
        return {k: s for k, s in self.values.items() if group_key(scope.specs, k) == k}
