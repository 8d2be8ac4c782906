"""Threshold rules over the rolling windows, the waiting contacts and supplied metrics.

Everything is a function of the inputs and the explicit clock `now_ms` (epoch ms UTC): in
`sqm replay` that clock is event time, so history raises the alerts live operation raised.

When a rule is evaluated, and at what time its changes are stamped:
- window metrics (service level, abandonment, repeat rate, average wait) at every whole minute
  `b` the clock has passed since the last call, over the whole minutes `[b − window, b)`. The
  result is then the same however often `evaluate` is called (once a minute or once an hour of
  event time), and `started_at`/`ended_at` fall on minute boundaries;
- gauges (backlog, at-risk count) and supplied metrics at `now_ms`, as they are now; on the
  event clock (`on_grid=True`, `sqm replay`) at every whole minute like the window metrics, as
  of that minute, so a replay gives the same changes however its events were batched.

A call that passes more than `jump_after` minutes (a replay's quiet night; one event dated
1970 among 2026 events starts the grid decades back) is evaluated only at the minutes where a
source's samples change or a pending breach reaches its `for` (`grid.change_points`): at any
other minute every rule would see what it saw a minute before, and a track that saw the same
value at the minute before has nothing left to do (ok stays ok, firing stays firing; a
resolved value cannot breach: hysteresis). The changes are the same as at every minute, and
the work is bounded by the data, not by the time between the events.

Within that, only what can change is evaluated (walk.py): the keys whose sample moved and
those with a track; a long call walks each window, gauge and percentile rule key by key.

A value that is undefined (no data) or whose sample is below `min_sample` is not evaluated:
the (rule, scope) keeps its state, so a pending alert stays pending and a firing one stays
firing until enough data says otherwise (docs/alerting.md, "No data").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from sqm.streams.core.alerting.changes import (
    BREACH,
    FIRING,
    LABELS,
    AlertChange,
    ScopeKey,
    duration_text,
    scope_text,
    value_text,
)
from sqm.streams.core.alerting.grid import (
    GridSamples,
    MetricSource,
    boundaries,
    change_points,
    walk_points,
)
from sqm.streams.core.alerting.machine import Machines
from sqm.streams.core.alerting.rolling import MetricReads, RollingStore
from sqm.streams.core.alerting.rules import GAUGE_METRICS, Rule
from sqm.streams.core.alerting.samples import Sample, metric_sample
from sqm.streams.core.alerting.scope_keys import Specs
from sqm.streams.core.alerting.walk import (
    Found,
    Member,
    changed_keys,
    walk_gauge_keys,
    walk_keys,
    walk_slide,
    walk_timelines,
)

HOUR_MS = 3_600_000
_NO_DATA = Sample(None, 0)


def describe(rule: Rule, key: ScopeKey, state: str, value: float) -> str:
    """`service level 40.0 % < 80.0 % over 5 min (tenant t1, chat, queue billing)`."""
    label = LABELS.get(rule.metric, rule.metric)
    over = "" if rule.metric in GAUGE_METRICS else f" over {duration_text(rule.window)}"
    if state == FIRING:
        cond = f"{rule.comparison} {value_text(rule.metric, rule.threshold)}"
        text = f"{label} {value_text(rule.metric, value)} {cond}"
    else:
        cond = f"{'>=' if rule.low_is_bad else '<='} {value_text(rule.metric, rule.resolve_at)}"
        text = f"{label} back to {value_text(rule.metric, value)} {cond}"
    return f"{text}{over} ({scope_text(key)})"


class Engine:
    # A call passing more minutes than this is evaluated at its change points only; shorter
    # calls (live ticks, a replay's busy minutes) are cheaper minute by minute.
    jump_after = 120
    # Step only the keys whose sample can have changed since the rule's previous evaluation
    # (and walk the rules of one slide together: walk.py). False: every key at every
    # evaluation, each rule alone (the reference the tests compare with).
    skip_unchanged = True
    # A call passing more minutes than this walks each window, gauge and percentile rule key
    # by key (walk.py).
    by_key_after = 30

    def __init__(self, rules: Sequence[Rule], catch_up_ms: int = HOUR_MS) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        self._for = {r.id: r.for_ for r in self.rules}
        self.catch_up_ms = catch_up_ms
        self.machines = Machines()
        self.last_boundary: int | None = None
        self.last_now: int | None = None
        self._retire = False  # set by from_state: the policy may have changed since

    @property
    def max_window_ms(self) -> int:
        return max((r.window for r in self.rules if r.from_windows), default=0)

    def evaluate(
        self,
        now_ms: int,
        rolling: MetricSource | None = None,
        gauges: MetricSource | None = None,
        supplied: Mapping[str, MetricSource] | None = None,
        windows_ms: int | None = None,
        on_grid: bool = False,
        since: int | None = None,
    ) -> list[AlertChange]:
        """Evaluate every rule that has a source; the alert changes, in a deterministic order.

        rolling: the windows (RollingStore); gauges: the waiting contacts (AtRiskTracker);
        supplied: metric name → source for `wait_p90_s`, `csat`. Rules without one are skipped.
        windows_ms: how far the window rows are complete, when that lags `now_ms` (default:
        `now_ms`). A clock earlier than the last one is taken as the last one.
        on_grid: the event clock. Evaluate the gauge and supplied rules at the whole minutes
        too (the sources must answer as of a past minute: the tracker keeps contacts that
        stopped since), and skip no minute however far the clock jumped since the last call;
        the first call goes back to `since` (the earliest data) if that is more than an hour.
        """
        now = now_ms if self.last_now is None else max(now_ms, self.last_now)
        self.last_now = now
        upto = now if windows_ms is None else windows_ms
        out: list[AlertChange] = []
        if self._retire:
            out += self.machines.retire({r.id for r in self.rules}, now)
            self._retire = False
        window_rules = [r for r in self.rules if r.from_windows] if rolling is not None else []
        instant = [(r, src, Sample(0.0, 0) if r.metric in GAUGE_METRICS else Sample(None, 0))
                   for r in self.rules if (src := self._source(r, gauges, supplied)) is not None]
        if rolling is not None or on_grid:
            ends = boundaries(self.last_boundary, upto, self.catch_up_ms, not on_grid, since)
            reads: list[tuple[Rule, Any, Sample, bool]] = [
                (r, rolling, Sample(None, 0), True) for r in window_rules]
            if on_grid:
                reads += [(r, src, absent, False) for r, src, absent in instant]
            if ends:
                out += self._walk_rules(reads, ends)
                self.last_boundary = ends[-1]
        if not on_grid:
            for r, src, absent in instant:
                out += self._rule(r, src.samples(r.metric, r.scope, r.window, now), now, absent)
        return out

    def _walk_rules(self, reads: Sequence[tuple[Rule, Any, Sample, bool]],
                    ends: range) -> list[AlertChange]:
        """Each rule at the minutes `ends` of this call, in the order of every minute, rule by
        rule (window rules, then the gauge and supplied ones).

        A long call (more than `jump_after` minutes) evaluates each rule only at the minutes
        its own source can change at (`change_points` of its window and the counters its
        metric reads, or of every rule reading that instant source) and where one of its own
        pending breaches reaches its `for`: other minutes would show it the samples of the
        minute before (nothing to do: see the module docstring). Rules are independent (each
        steps its own tracks), so evaluating them one after the other, then ordering the
        changes by (minute, rule), gives the changes of the minute-by-minute walk, in its
        order.
        """
        jump = len(ends) > self.jump_after
        by_key = self.skip_unchanged and len(ends) > self.by_key_after
        points: dict[Any, list[int] | None] = {}
        for r, src, _absent, window in reads:
            key = (id(src), r.window, r.metric) if window else id(src)
            if by_key and (isinstance(src, RollingStore) if window else hasattr(
                    src, "timelines")):
                continue  # walked key by key, at each key's own minutes
            if key not in points:
                if not window:
                    group = [(s, q.window) for q, s, _a, w in reads if not w and s is src]
                elif isinstance(src, RollingStore):
                    group = [(MetricReads(src, r.metric), r.window)]  # its counters' minutes
                else:
                    group = [(src, r.window)]
                points[key] = change_points(group, ends[0], ends[-1]) if jump else None
        shared: dict[Any, Any] = {}  # gauge passes shared by the rules of one scope
        found: list[Found] = []
        slides: dict[tuple[int, Specs, int], list[Member]] = {}
        for pos, (r, src, absent, window) in enumerate(reads):
            if by_key and window and isinstance(src, RollingStore):
                found += walk_keys(src, pos, r, ends[0], ends[-1], self.machines, describe)
                continue
            if by_key and not window and hasattr(src, "timelines"):  # WaitSamples
                found += walk_timelines(src.timelines(r.metric, r.scope, r.window, ends[0],
                                                      ends[-1]),
                                        ends[-1], pos, r, self.machines, describe)
                continue
            own = points[(id(src), r.window, r.metric) if window else id(src)]
            minutes = ends if own is None else walk_points(
                own, ends[-1], self.machines, r.id, self._for.get(r.id))
            if window and self.skip_unchanged and isinstance(src, RollingStore):
                # walked below with the other rules of its slide
                slides.setdefault((id(src), r.scope.specs, r.window), []).append(
                    (pos, r, iter(minutes)))
            elif window:
                metric, scope, width = r.metric, r.scope, r.window
                for b in minutes:
                    if changes := self._rule(r, src.samples(metric, scope, width, b), b, absent):
                        found.append((b, pos, changes))
            elif by_key and r.metric in GAUGE_METRICS and hasattr(src, "gauge_steps"):
                at = ends if own is None else own
                steps = shared.get((id(src), r.scope.specs, "steps"))
                if steps is None:  # one pass for both gauges of a scope
                    steps = shared[(id(src), r.scope.specs, "steps")] = src.gauge_steps(
                        r.scope, at)
                found += walk_gauge_keys(steps, at, ends[-1], pos, r, self.machines, describe)
            else:
                grid = GridSamples(src, r, ends if own is None else own, shared)
                before: Mapping[ScopeKey, Sample] | None = None
                for b in minutes:
                    samples = grid.as_of(b)
                    moved = None if before is None else changed_keys(before, samples)
                    if changes := self._rule(r, samples, b, absent, moved):
                        found.append((b, pos, changes))
                    if self.skip_unchanged:
                        before = samples
        for members in slides.values():
            src = reads[members[0][0]][1]
            found += walk_slide(src, members, self._window_rule)
        found.sort(key=lambda f: (f[0], f[1]))  # stable: one rule's changes keep their order
        return [c for _b, _pos, changes in found for c in changes]

    @staticmethod
    def _source(rule: Rule, gauges: MetricSource | None,
                supplied: Mapping[str, MetricSource] | None) -> MetricSource | None:
        """Where a gauge or supplied-metric rule reads its values; None for window rules and
        for rules without a source (skipped). A gauge key no longer reported has nothing
        waiting: its absent sample is 0, so its alert can resolve."""
        if rule.metric in GAUGE_METRICS:
            return gauges
        if not rule.from_windows and supplied:
            return supplied.get(rule.metric)
        return None

    def _rule(self, rule: Rule, samples: Mapping[ScopeKey, Sample], at: int, absent: Sample,
              moved: set[ScopeKey] | None = None) -> list[AlertChange]:
        """Step the rule's keys with `samples` at `at`. `moved`: the keys whose sample may
        differ from the rule's previous evaluation (None: any); only those and the keys with a
        track are stepped (see `_step_keys`)."""
        tracks = self.machines.tracks.get(rule.id)
        if moved is not None:
            keys: Iterable[ScopeKey] = moved | tracks.keys() if tracks else moved
        else:
            keys = samples.keys() | tracks.keys() if tracks else samples
        return self._step_keys(rule, samples, sorted(keys), at, absent)

    def _window_rule(self, rule: Rule, sums: Mapping[ScopeKey, list[int]],
                     moved: set[ScopeKey] | None, at: int) -> list[AlertChange]:
        """`_rule` over window sums (`RollingStore.slide`), computing the samples of the keys
        it steps only. A key absent from the sums has no data: not stepped."""
        tracks = self.machines.tracks.get(rule.id)
        if moved is None:
            keys: Iterable[ScopeKey] = sums
        else:
            keys = moved | tracks.keys() if tracks else moved
        metric = rule.metric
        samples = {k: metric_sample(metric, c) for k in keys if (c := sums.get(k)) is not None}
        return self._step_keys(rule, samples, sorted(samples), at, _NO_DATA)

    def _step_keys(self, rule: Rule, samples: Mapping[ScopeKey, Sample], keys: Iterable[ScopeKey],
                   at: int, absent: Sample) -> list[AlertChange]:
        """Step `keys` in their order. A key left out must have had the same sample at the
        rule's previous evaluation and no track: stepping it again would be a no-op (with no
        track it is ok, so that sample did not breach, or it was not evaluated: no data)."""
        out: list[AlertChange] = []
        min_sample = rule.min_sample
        step = self.machines.step
        for key in keys:
            value, n = samples.get(key, absent)
            if value is None or n < min_sample:
                continue  # no data or too little: state unchanged
            change = step(rule, BREACH, key, at, value, rule.breaches(value),
                          rule.recovers(value), partial(describe, rule, key))
            if change is not None:
                out.append(change)
        return out

    def acknowledge(self, alert_id: str, now_ms: int) -> AlertChange | None:
        return self.machines.acknowledge(alert_id, now_ms)

    def to_state(self) -> dict[str, Any]:
        return {"tracks": self.machines.to_state(), "last_boundary": self.last_boundary,
                "last_now": self.last_now}

    @classmethod
    def from_state(cls, state: dict[str, Any], rules: Sequence[Rule],
                   catch_up_ms: int = HOUR_MS) -> Engine:
        """Restore; alerts of rules no longer in `rules` resolve at the next evaluate."""
        engine = cls(rules, catch_up_ms)
        engine.machines = Machines.from_state(state["tracks"])
        engine.last_boundary = state["last_boundary"]
        engine.last_now = state["last_now"]
        engine._retire = True
        return engine
