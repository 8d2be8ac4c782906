"""The alert policy: defaults, the example file, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqm.streams.core.alerting import (
    DEFAULT_CONFIG,
    AlertConfigError,
    Rule,
    load_rules,
    parse_config,
)
from sqm.streams.core.alerting.rules import parse_duration

EXAMPLE = Path(__file__).parents[2] / "deploy" / "config" / "alerts.example.yaml"
SL = {"id": "x", "metric": "service_level", "comparison": "<", "threshold": 0.8}


def test_the_example_file_spells_out_the_defaults():
    assert load_rules(EXAMPLE) == DEFAULT_CONFIG
    ids = [r.id for r in DEFAULT_CONFIG.rules if r.enabled]
    assert ids == ["service-level-low", "abandonment-high", "repeat-rate-high",
                   "avg-wait-high-chat", "backlog-high", "at-risk-many", "wait-p90-high-chat",
                   "csat-low"]
    sl = DEFAULT_CONFIG.rules[0]
    assert (sl.window, sl.for_, sl.threshold, sl.resolve_at) == (15 * 60_000, 120_000, 0.8, 0.85)


def test_omitted_sections_keep_the_defaults_and_given_lists_replace_them():
    assert parse_config({}) == DEFAULT_CONFIG
    assert parse_config(None) == DEFAULT_CONFIG
    only = parse_config({"rules": [SL], "anomalies": []})
    assert [r.id for r in only.rules] == ["x"] and only.anomalies == ()
    assert only.at_risk == DEFAULT_CONFIG.at_risk


@pytest.mark.parametrize(("text", "ms"), [
    ("90s", 90_000), ("15m", 900_000), ("1h30m", 5_400_000), ("1d", 86_400_000), (0, 0),
])
def test_durations(text, ms):
    assert parse_duration(text) == ms


@pytest.mark.parametrize(("policy", "message"), [
    ({"rules": [{**SL, "resolve_threshold": 0.75}]},
     "rules[0] (id x): resolve_threshold 0.75 must be above threshold 0.8"),
    ({"rules": [{**SL, "comparison": "<="}]},
     "resolve_threshold 0.8 must be above threshold 0.8 (strictly, with a non-strict comparison)"),
    ({"rules": [{**SL, "comparison": ">", "threshold": 0.1, "resolve_threshold": 0.2}]},
     "resolve_threshold 0.2 must be below threshold 0.1"),
    ({"rules": [{**SL, "window": "90s"}]}, "window must be a whole number of minutes"),
    ({"rules": [{**SL, "window": 900}]}, "rules[0] (id x).window: 900 is not a duration"),
    ({"rules": [{**SL, "for": "2 minutes"}]}, "is not a duration; write it like 90s"),
    ({"rules": [{**SL, "treshold": 1}]},
     "rules[0] (id x).treshold: Extra inputs are not permitted"),
    ({"rules": [{**SL, "metric": "nps"}]}, "rules[0] (id x).metric: Input should be"),
    ({"rules": [{**SL, "scope": {"agent": "*"}}]}, "an agent scope needs a metric the caller"),
    ({"rules": [{**SL, "scope": {"channel": "fax"}}]}, "scope.channel must be '*' or one of"),
    ({"rules": [{**SL, "metric": "backlog", "min_sample": 3}]}, "min_sample has no meaning"),
    ({"rules": [SL, SL]}, "rule ids must be unique: x"),
    ({"rules": [{**SL, "threshold": float("nan")}]}, "threshold: Input should be a finite number"),
    ({"anomalies": [{"id": "a", "metric": "volume", "threshold": 2, "resolve_threshold": 3}]},
     "anomalies[0] (id a): resolve_threshold 3 must be at most threshold 2"),
    ({"at_risk": {"fraction": 1.2}}, "at_risk.fraction: Input should be less than 1"),
    (["not", "a", "mapping"], "the policy must be a mapping"),
])
def test_bad_policies_are_one_line(policy, message):
    with pytest.raises(AlertConfigError) as err:
        parse_config(policy, "alerts.yaml")
    text = str(err.value)
    assert text.startswith("alerts: ") and "\n" not in text
    assert message in text


def test_load_rules_errors(tmp_path):
    with pytest.raises(AlertConfigError, match="file not found"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n  - id: x\n  bogus")
    with pytest.raises(AlertConfigError, match=r"is not valid YAML at line \d"):
        load_rules(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("rules:\n  - id: x\n    metric: service_level\n")
    with pytest.raises(AlertConfigError, match=r"wrong.yaml: rules\[0\] \(id x\)"):
        load_rules(wrong)


@pytest.mark.parametrize(("comparison", "resolve", "breach", "healthy"), [
    ("<", 0.85, {0.79: True, 0.8: False, 0.84: False}, {0.84: False, 0.85: True}),
    ("<=", 0.85, {0.8: True, 0.81: False}, {0.85: True, 0.849: False}),
    (">", 0.7, {0.81: True, 0.8: False}, {0.7: True, 0.71: False}),
    (">=", 0.7, {0.8: True, 0.79: False}, {0.7: True, 0.75: False}),
])
def test_breach_and_resolve_conditions(comparison, resolve, breach, healthy):
    rule = Rule.model_validate({**SL, "comparison": comparison, "resolve_threshold": resolve})
    assert {v: rule.breaches(v) for v in breach} == breach
    assert {v: rule.recovers(v) for v in healthy} == healthy
