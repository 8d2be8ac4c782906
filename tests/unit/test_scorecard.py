"""The scorecard's arithmetic (docs/scorecard.md), worked out by hand."""

from __future__ import annotations

import pytest

from streams.core.scorecard import (
    DEFAULT_GOALS,
    DEFAULT_INDICATORS,
    Goal,
    Indicator,
    Measured,
    indicator_score,
    score,
)

IND = {
    "frt": Indicator("frt", "response efficiency", "lower", 30.0),
    "answered": Indicator("answered", "response efficiency", "higher", 0.95),
    "resolution": Indicator("resolution", "resolution ability", "lower", 14_400.0),
    "fcr": Indicator("fcr", "resolution ability", "higher", 0.75),
    "csat": Indicator("csat", "service attitude", "higher", 0.85, min_count=10),
}
GOAL = Goal("efficiency", {"frt": 3, "answered": 2, "resolution": 2, "fcr": 1, "csat": 1})


def test_directions_and_caps() -> None:
    assert indicator_score(IND["frt"], 40.0) == 0.75  # 30 / 40
    assert indicator_score(IND["frt"], 15.0) == 1.0  # better than target: capped
    assert indicator_score(IND["frt"], 0.0) == 1.0
    assert indicator_score(IND["answered"], 0.76) == pytest.approx(0.8)  # 0.76 / 0.95
    assert indicator_score(IND["answered"], 1.0) == 1.0


def test_weighted_mean_leaves_small_samples_and_missing_values_out() -> None:
    s = score(GOAL, IND, {
        "frt": Measured(40.0, 50),  # 0.75, weight 3
        "answered": Measured(0.76, 60),  # 0.8, weight 2
        "resolution": Measured(7_200.0, 30),  # 14400 / 7200 = 2, capped to 1, weight 2
        "fcr": Measured(0.6, 12),  # 12 < 20 contacts: small, not scored
        # csat: nothing rated
    })
    # (3 * 0.75 + 2 * 0.8 + 2 * 1) / (3 + 2 + 2) = 5.85 / 7
    assert s.score == pytest.approx(5.85 / 7)
    assert [(p.indicator.name, p.status) for p in s.parts] == [
        ("frt", "scored"), ("answered", "scored"), ("resolution", "scored"), ("fcr", "small"),
        ("csat", "none")]
    assert s.coverage == pytest.approx(7 / 9)


def test_nothing_scored_gives_no_score() -> None:
    s = score(GOAL, IND, {"fcr": Measured(0.9, 3)})
    assert s.score is None and s.coverage == 0.0


def test_default_goals_use_known_indicators_with_positive_weights() -> None:
    for goal in DEFAULT_GOALS.values():
        assert set(goal.weights) <= set(DEFAULT_INDICATORS)
        assert all(w > 0 for w in goal.weights.values())
    # The two goals weigh the same indicators differently: that is what a goal is.
    assert DEFAULT_GOALS["satisfaction"].weights != DEFAULT_GOALS["efficiency"].weights
