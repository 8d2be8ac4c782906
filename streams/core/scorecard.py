"""The evaluation scorecard: indicators normalised against targets, weighted per goal.

Plain data in, plain data out (definitions and a worked example: docs/scorecard.md). Each
indicator's value is scored in [0, 1] against its target — `higher` is better: value / target,
`lower` is better: target / value, capped at 1 — and a goal's score is the weighted mean of the
scores it can use. An indicator measured on fewer contacts than its `min_count` is marked
`small` and left out of the mean (its weight is not silently spread as if it had scored), so a
score always says which indicators stand behind it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str
    dimension: str  # response efficiency | resolution ability | service attitude
    direction: Direction
    target: float
    min_count: int = 20
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    weights: Mapping[str, float]  # indicator name -> weight (> 0)


@dataclass(frozen=True, slots=True)
class Measured:
    value: float | None  # None: nothing to measure (e.g. no answered contact)
    count: int  # contacts behind the value


@dataclass(frozen=True, slots=True)
class Part:
    indicator: Indicator
    measured: Measured
    weight: float
    score: float | None  # None when not scored
    status: Literal["scored", "small", "none"]


@dataclass(frozen=True, slots=True)
class Score:
    goal: str
    score: float | None  # weighted mean over the scored parts; None if none scored
    parts: tuple[Part, ...]

    @property
    def coverage(self) -> float:
        """Share of the goal's weight that is backed by scored indicators."""
        total = sum(p.weight for p in self.parts)
        return sum(p.weight for p in self.parts if p.status == "scored") / total if total else 0.0


def indicator_score(ind: Indicator, value: float) -> float:
    if ind.direction == "higher":
        return min(1.0, max(0.0, value) / ind.target) if ind.target > 0 else 1.0
    if value <= 0:
        return 1.0
    return min(1.0, ind.target / value)


def score(goal: Goal, indicators: Mapping[str, Indicator], measured: Mapping[str, Measured]
          ) -> Score:
    parts: list[Part] = []
    for name, weight in goal.weights.items():
        ind = indicators[name]
        m = measured.get(name, Measured(None, 0))
        if m.value is None or m.count == 0:
            parts.append(Part(ind, m, weight, None, "none"))
        elif m.count < ind.min_count:
            parts.append(Part(ind, m, weight, None, "small"))
        else:
            parts.append(Part(ind, m, weight, indicator_score(ind, m.value), "scored"))
    scored = [(p.weight, p.score) for p in parts if p.score is not None]
    weight = sum(w for w, _ in scored)
    total = sum(w * s for w, s in scored) / weight if scored else None
    return Score(goal.name, total, tuple(parts))


# The defaults (overridden by a policy file's `scorecard:` section): the spine's SLA targets
# and common contact-centre aims.
DEFAULT_INDICATORS: dict[str, Indicator] = {
    i.name: i for i in (
        Indicator("first_response_s", "response efficiency", "lower", 30.0, unit="s"),
        # Each answer against its own channel's target, so chat and email can be compared.
        Indicator("response_in_sla", "response efficiency", "higher", 0.8),
        Indicator("answered_rate", "response efficiency", "higher", 0.95),
        Indicator("fcr_rate", "resolution ability", "higher", 0.75),
        Indicator("resolution_s", "resolution ability", "lower", 4 * 3600.0, unit="s"),
        Indicator("repeat_rate", "resolution ability", "lower", 0.15),
        Indicator("csat_share", "service attitude", "higher", 0.85, min_count=10),
        Indicator("csat_mean", "service attitude", "higher", 4.5, min_count=10),
        Indicator("professionalism", "service attitude", "higher", 4.5, min_count=10),
        Indicator("patience", "service attitude", "higher", 4.5, min_count=10),
    )
}
DEFAULT_GOALS: dict[str, Goal] = {
    g.name: g for g in (
        Goal("satisfaction", {"csat_share": 3, "csat_mean": 1, "professionalism": 1,
                              "patience": 1, "fcr_rate": 2, "repeat_rate": 1,
                              "response_in_sla": 1}),
        Goal("efficiency", {"response_in_sla": 3, "answered_rate": 2, "resolution_s": 2,
                            "fcr_rate": 1, "csat_share": 1}),
    )
}
