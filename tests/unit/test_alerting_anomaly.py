"""Anomaly rules against an EWMA baseline, with the numbers worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from sqm.streams.core.alerting import AlertMonitor, parse_config
from sqm.streams.core.alerting.anomaly import AnomalyDetector, Baseline, score
from sqm.streams.core.alerting.changes import AlertChange
from sqm.streams.core.alerting.rolling import RollingStore
from sqm.streams.core.alerting.rules import AnomalyRule
from tests.events import ms

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000

SPIKE = {"id": "spike", "metric": "volume", "scope": {"tenant": "*", "queue": "*"},
         "window": "1m", "method": "ratio", "threshold": 3, "resolve_threshold": 2,
         "alpha": 0.1, "min_baseline": 30, "floor": 1, "enabled": True}


def offered_row(m: int, queue: str, n: int) -> tuple:
    return (T0 + m * MIN, "t1", "chat", queue, "normal", 0, 1, n, 0, 0, 0, 0, 0, 0, 0)


def billing_volume(m: int) -> int:
    return 50 if m in (40, 41) else 10


def new_queue_volume(m: int) -> int | None:
    return None if m < 30 else 50 if m in (40, 41) else 10


def run(detector: AnomalyDetector, store: RollingStore, minutes: range,
        rows: Callable[[int], list[tuple]]) -> list[AlertChange]:
    out: list[AlertChange] = []
    for m in minutes:
        for r in rows(m):
            store.apply_row(r)
        out += detector.evaluate(T0 + m * MIN + 45_000, store)
    return out


def spike_rows(m: int) -> list[tuple]:
    rows = [offered_row(m, "billing", billing_volume(m))]
    n = new_queue_volume(m)
    return rows if n is None else [*rows, offered_row(m, "new", n)]


def test_a_5x_volume_spike_fires_after_the_minimum_baseline_and_resolves():
    # billing: 10 offered a minute for minutes 0–39, 50 in minutes 40 and 41, then 10 again.
    # Boundary k observes minute k − 1 against the baseline of minutes before it:
    #   k=1..40: baseline of 10s (n reaches 40 ≥ min_baseline 30), mean 10, var 0
    #   k=41: x=50, 50 / 10 = 5.0 ≥ 3 → FIRING; then mean = 10 + 0.1 × 40 = 14
    #   k=42: x=50, 50 / 14 = 3.57 > 2 → still firing; mean = 14 + 0.1 × 36 = 17.6
    #   k=43: x=10, 10 / 17.6 = 0.57 ≤ 2 → RESOLVED
    # new: traffic from minute 30 only, so at k=41 its baseline has 10 < 30 observations:
    # the same 5× spike stays silent.
    det, store = AnomalyDetector([AnomalyRule.model_validate(SPIKE)]), RollingStore()
    out = run(det, store, range(50), spike_rows)
    assert [(c.queue, c.state, c.updated_at, c.kind) for c in out] == [
        ("billing", "firing", T0 + 41 * MIN, "anomaly"),
        ("billing", "resolved", T0 + 43 * MIN, "anomaly"),
    ]
    fire, done = out
    assert fire.alert_id == done.alert_id and fire.started_at == T0 + 41 * MIN
    assert (fire.value, fire.threshold, fire.metric, fire.channel) == (5.0, 3.0, "volume", "")
    assert fire.message == "volume 50 is 5.0x its baseline 10 over 1 min (tenant t1, queue billing)"
    assert done.value == pytest.approx(10 / 17.6) and done.ended_at == T0 + 43 * MIN
    assert done.message == (
        "volume back to 10, 0.6x its baseline 17.6 over 1 min (tenant t1, queue billing)")


def test_a_service_level_drop_by_zscore():
    # 20 answered a minute, 19 in SLA (0.95) for 30 minutes: variance 0, so the floor 0.05 is
    # the deviation. Minute 30 at 14/20 = 0.70: z = (0.95 − 0.70) / 0.05 = 5 ≥ 3 → fires.
    rule = {"id": "sl-drop", "metric": "service_level", "scope": {"queue": "*"},
            "window": "1m", "method": "zscore", "threshold": 3, "min_baseline": 30,
            "floor": 0.05, "min_sample": 10, "enabled": True}
    det, store = AnomalyDetector([AnomalyRule.model_validate(rule)]), RollingStore()

    def rows(m: int) -> list[tuple]:
        in_sla = 14 if m == 30 else 19
        return [(T0 + m * MIN, "t1", "chat", "q", "normal", 0, 1, 20, 20, in_sla, 0, 0, 0, 0, 0)]

    # Then mean = 0.95 − 0.1 × 0.25 = 0.925, var = 0.9 × 0.1 × 0.25² = 0.005625 (sd 0.075);
    # minute 31 is back at 0.95: z = (0.925 − 0.95) / 0.075 = −0.33 ≤ 3 → resolved at k=32.
    out = run(det, store, range(33), rows)
    assert [(c.state, c.updated_at) for c in out] == [
        ("firing", T0 + 31 * MIN), ("resolved", T0 + 32 * MIN)]
    assert out[0].value == pytest.approx(5.0) and out[1].value == pytest.approx(-1 / 3)
    assert "is 5.0 sd below its baseline 95.0 %" in out[0].message


def test_anomaly_rules_are_off_by_default():
    assert all(not a.enabled for a in parse_config({}).anomalies)
    mon = AlertMonitor(parse_config({"rules": []}))
    out: list[AlertChange] = []
    for m in range(50):
        for r in spike_rows(m):
            mon.apply_row(r)
        out += mon.evaluate(T0 + m * MIN + 45_000)
    assert out == []


def test_ratio_and_zscore_scores():
    up = AnomalyRule.model_validate(SPIKE)
    down = AnomalyRule.model_validate({**SPIKE, "direction": "down", "floor": 2})
    z = AnomalyRule.model_validate({**SPIKE, "method": "zscore", "floor": 0.5})
    b = Baseline(40, 10.0, 4.0)  # sd 2
    assert score(up, 50, b) == 5.0
    assert score(up, 50, Baseline(40, 0.2, 0.0)) == 50.0  # baseline floored at 1
    assert score(down, 1, b) == 5.0  # 10 / max(1, 2)
    assert score(z, 16, b) == 3.0  # (16 − 10) / 2
    b.update(20, 0.1)  # d = 10: mean 11, var = 0.9 × (4 + 0.1 × 100) = 12.6
    assert (b.n, b.mean, b.var) == (41, 11.0, pytest.approx(12.6))


def test_state_round_trips_mid_baseline_with_identical_output():
    det, store = AnomalyDetector([AnomalyRule.model_validate(SPIKE)]), RollingStore()
    run(det, store, range(35), spike_rows)
    state = json.loads(json.dumps(det.to_state()))
    restored = AnomalyDetector.from_state(state, det.rules)
    store2 = RollingStore.from_state(json.loads(json.dumps(store.to_state())))
    assert restored.to_state() == det.to_state()
    after = run(restored, store2, range(35, 50), spike_rows)
    assert after == run(det, store, range(35, 50), spike_rows) and len(after) == 2
