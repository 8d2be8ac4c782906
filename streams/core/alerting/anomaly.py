"""Anomaly alerts: a scope's metric against its own recent baseline (off by default per rule).

At every whole minute `b` (as the threshold engine does) each anomaly rule observes its metric
per scope key over `[b − window, b)`: `volume` (contacts offered; a key that had traffic before
and has none now observes 0) or `service_level` (undefined without answers or abandons: not
observed). The observation is scored against the key's EWMA baseline *before* it joins it:

    ratio:  x / max(mean, floor)        (up)     mean / max(x, floor)        (down)
    zscore: (x − mean) / max(sd, floor) (up)     (mean − x) / max(sd, floor) (down)

and the score goes through the same pending → firing → resolved machine as a threshold rule
(breach: score ≥ threshold; resolved: score ≤ resolve_threshold). Nothing fires before the
baseline has `min_baseline` observations. Every observation, anomalous or not, then updates
the baseline (mean += α·d; var = (1 − α)(var + α·d²), d = x − mean), so a lasting change of
level becomes the new normal and its alert resolves.

A call that passes more than `jump_after` minutes is observed minute by minute only while some
window row is in reach (`grid.change_points` bound those stretches by the windows). Across a
stretch without rows a service level is undefined (nothing observed) and a volume is 0: those
minutes are observed one by one only until the volume baselines are forgotten or stop moving
(a fixed point: the same minute again changes nothing but the observation counts, which are
then added up at once), so a 1970 event among 2026 events costs minutes, not decades.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqm.streams.core.alerting.changes import (
    ANOMALY,
    FIRING,
    LABELS,
    AlertChange,
    ScopeKey,
    duration_text,
    scope_text,
    value_text,
)
from sqm.streams.core.alerting.engine import HOUR_MS
from sqm.streams.core.alerting.grid import MetricSource, boundaries, change_points
from sqm.streams.core.alerting.machine import PENDING, Machines
from sqm.streams.core.alerting.rules import MINUTE_MS, AnomalyRule
from sqm.streams.core.alerting.samples import Sample

MAX_SCORE = 1e9  # a finite cap: the value column and JSON need a number
IDLE_MEAN = 1e-3  # a volume baseline this close to 0 is forgotten (keeps state bounded)


@dataclass(slots=True)
class Baseline:
    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def update(self, x: float, alpha: float) -> None:
        if self.n == 0:
            self.mean, self.var = x, 0.0
        else:
            d = x - self.mean
            self.mean += alpha * d
            self.var = (1 - alpha) * (self.var + alpha * d * d)
        self.n += 1


def score(rule: AnomalyRule, x: float, base: Baseline) -> float:
    if rule.method == "ratio":
        s = x / max(base.mean, rule.floor) if rule.up else base.mean / max(x, rule.floor)
    else:
        sd = max(math.sqrt(base.var), rule.floor)
        s = (x - base.mean) / sd if rule.up else (base.mean - x) / sd
    return min(s, MAX_SCORE)


def describe(rule: AnomalyRule, key: ScopeKey, x: float, mean: float, state: str,
             s: float) -> str:
    """`volume 50 is 5.0x its baseline 10 over 1 min (tenant t1, chat, queue billing)`."""
    metric = rule.metric
    label = LABELS.get(metric, metric)
    how = f"{s:.1f}x" if rule.method == "ratio" else (
        f"{s:.1f} sd {'above' if rule.up else 'below'}")
    head = f"{label} {value_text(metric, x)} is" if state == FIRING else (
        f"{label} back to {value_text(metric, x)},")
    return (f"{head} {how} its baseline {value_text(metric, mean)} over "
            f"{duration_text(rule.window)} ({scope_text(key)})")


class AnomalyDetector:
    jump_after = 120  # as Engine.jump_after: longer calls skip the stretches without rows

    def __init__(self, rules: Sequence[AnomalyRule], catch_up_ms: int = HOUR_MS) -> None:
        self.rules = tuple(r for r in rules if r.enabled)
        self.catch_up_ms = catch_up_ms
        self.baselines: dict[str, dict[ScopeKey, Baseline]] = {}
        self.machines = Machines()
        self.last_boundary: int | None = None
        self._retire = False

    @property
    def max_window_ms(self) -> int:
        return max((r.window for r in self.rules), default=0)

    def evaluate(self, now_ms: int, rolling: MetricSource, skip: bool = True,
                 since: int | None = None) -> list[AlertChange]:
        """Observe each whole minute passed since the last call, in order (`now_ms` is the
        clock up to which the window rows are complete)."""
        out: list[AlertChange] = []
        if self._retire:
            keep = {r.id for r in self.rules}
            out += self.machines.retire(keep, now_ms)
            self.baselines = {k: v for k, v in self.baselines.items() if k in keep}
            self._retire = False
        ends = boundaries(self.last_boundary, now_ms, self.catch_up_ms, skip, since)
        if not self.rules:  # nothing to observe (the default): the minutes pass
            if ends:
                self.last_boundary = ends[-1]
            return out
        points = None
        if len(ends) > self.jump_after:
            points = change_points([(rolling, r.window) for r in self.rules], ends[0], ends[-1])
        if points is None:
            for b in ends:
                for rule in self.rules:
                    out += self._observe(rule, self._samples(rule, rolling, b), b)
                self.last_boundary = b
            return out
        for p, stop in zip(points, [*points[1:], ends[-1] + MINUTE_MS], strict=True):
            # The samples stay those of p until the next change point.
            samples = [self._samples(rule, rolling, p) for rule in self.rules]
            for b in range(p, stop, MINUTE_MS):
                for rule, s in zip(self.rules, samples, strict=True):
                    out += self._observe(rule, s, b)
                self.last_boundary = b
                if not any(samples):  # no row in reach until the next change point
                    out += self._quiet(b + MINUTE_MS, stop)
                    break
        return out

    @staticmethod
    def _samples(rule: AnomalyRule, rolling: MetricSource, b: int
                 ) -> Mapping[ScopeKey, Sample]:
        return rolling.samples(rule.metric, rule.scope, rule.window, b)

    def _quiet(self, b: int, stop: int) -> list[AlertChange]:
        """Observe the minutes [b, stop), which no window row reaches: a service level is
        undefined there (no change), a volume 0. Minute by minute while the volume baselines
        move; from a minute that changed nothing but the counts on, the rest only count."""
        out: list[AlertChange] = []
        volume = [r for r in self.rules if r.metric == "volume"]
        while b < stop:
            live = [r for r in volume
                    if self.baselines.get(r.id) or self.machines.tracks.get(r.id)]
            if not live:
                break
            before, emitted = self._fingerprint(live), len(out)
            for rule in live:
                out += self._observe(rule, {}, b)
            self.last_boundary = b
            b += MINUTE_MS
            if len(out) == emitted and self._fingerprint(live) == before and self._settled(live):
                break
        if b < stop:
            skipped = (stop - b) // MINUTE_MS
            for rule in volume:
                for base in self.baselines.get(rule.id, {}).values():
                    base.n += skipped
            self.last_boundary = stop - MINUTE_MS
        return out

    def _fingerprint(self, rules: Sequence[AnomalyRule]) -> list[Any]:
        """What an observation of 0 can change, but the observation counts."""
        return [({k: (b.mean, b.var) for k, b in self.baselines.get(r.id, {}).items()},
                 {k: (t.state, t.since, t.value) for k, t in
                  self.machines.tracks.get(r.id, {}).items()}) for r in rules]

    def _settled(self, rules: Sequence[AnomalyRule]) -> bool:
        """No later minute can change what the last one did not: no breach waits for its
        `for`, and every baseline is scored already (its count past `min_baseline`)."""
        for r in rules:
            if any(t.state == PENDING for t in self.machines.tracks.get(r.id, {}).values()):
                return False
            if any(base.n < r.min_baseline for base in self.baselines.get(r.id, {}).values()):
                return False
        return True

    def _observe(self, rule: AnomalyRule, samples: Mapping[ScopeKey, Sample], b: int
                 ) -> list[AlertChange]:
        out: list[AlertChange] = []
        bases = self.baselines.setdefault(rule.id, {})
        tracked = set(self.machines.keys(rule.id))
        absent = Sample(0.0, 0) if rule.metric == "volume" else Sample(None, 0)
        for key in sorted(samples.keys() | bases.keys() | tracked):
            x, n = samples.get(key, absent)
            if x is None:
                continue
            base = bases.get(key)
            if base is None:
                base = bases[key] = Baseline()
            elif base.n >= rule.min_baseline and n >= rule.min_sample:
                s = score(rule, x, base)
                change = self.machines.step(
                    rule, ANOMALY, key, b, s, s >= rule.threshold, s <= rule.resolve_at,
                    partial(describe, rule, key, x, base.mean))
                if change is not None:
                    out.append(change)
            base.update(x, rule.alpha)
            if rule.metric == "volume" and base.mean < IDLE_MEAN and key not in tracked:
                del bases[key]
        return out

    def acknowledge(self, alert_id: str, now_ms: int) -> AlertChange | None:
        return self.machines.acknowledge(alert_id, now_ms)

    def to_state(self) -> dict[str, Any]:
        return {
            "tracks": self.machines.to_state(),
            "last_boundary": self.last_boundary,
            "baselines": [[rule_id, list(key), b.n, b.mean, b.var]
                          for rule_id, bases in sorted(self.baselines.items())
                          for key, b in sorted(bases.items())],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], rules: Sequence[AnomalyRule],
                   catch_up_ms: int = HOUR_MS) -> AnomalyDetector:
        d = cls(rules, catch_up_ms)
        d.machines = Machines.from_state(state["tracks"])
        d.last_boundary = state["last_boundary"]
        for rule_id, key, n, mean, var in state["baselines"]:
            d.baselines.setdefault(rule_id, {})[tuple(key)] = Baseline(n, mean, var)  # type: ignore[index]
        d._retire = True
        return d
