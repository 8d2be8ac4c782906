"""The scorecard's arithmetic (docs/scorecard.md), worked out by hand."""

from __future__ import annotations

import pytest

from sqm.streams.core.scorecard import (
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


def test_policy_file_overrides_targets_minimums_and_goals() -> None:
    from sqm.streams.core.policy_file import parse_policy, scorecard_config

    policy = parse_policy({"version": "v1", "scorecard": {
        "indicators": {"fcr_rate": {"target": 0.5, "min_count": 3}},
        "goals": {"quality": {"fcr_rate": 2, "csat_share": 1}, "efficiency": {"fcr_rate": 1}},
    }})
    indicators, goals = scorecard_config(policy)
    assert indicators["fcr_rate"] == Indicator("fcr_rate", "resolution ability", "higher", 0.5, 3)
    assert indicators["csat_share"] == DEFAULT_INDICATORS["csat_share"]  # untouched
    assert goals["quality"] == Goal("quality", {"fcr_rate": 2, "csat_share": 1})
    assert goals["efficiency"] == Goal("efficiency", {"fcr_rate": 1})  # replaced whole
    assert goals["satisfaction"] == DEFAULT_GOALS["satisfaction"]
    assert scorecard_config(None) == (DEFAULT_INDICATORS, DEFAULT_GOALS)


@pytest.mark.parametrize(("section", "says"), [
    ({"goals": {"g": {"speed": 1}}}, "scorecard.goals.g: unknown indicator 'speed'"),
    ({"goals": {"g": {"fcr_rate": 0}}}, "scorecard.goals.g.fcr_rate: Input should be greater"),
    ({"goals": {"g": {}}}, "scorecard.goals.g: Value should have at least 1 item"),
    ({"indicators": {"fcr_rate": {"target": -1}}}, "scorecard.indicators.fcr_rate.target"),
    ({"indicators": {"fcr_rate": {"target": 1, "goal": 1}}},
     "scorecard.indicators.fcr_rate.goal: unknown key"),
])
def test_bad_scorecard_sections_are_one_line_errors(section: dict, says: str) -> None:
    from sqm.streams.core.policy_file import PolicyError, parse_policy

    with pytest.raises(PolicyError) as err:
        parse_policy({"version": "v1", "scorecard": section})
    assert says in str(err.value) and "\n" not in str(err.value)
