"""`WaitSamples`: exact wait percentiles per scope over a window, keyed by contact."""

from __future__ import annotations

import json
import random

from sqm.streams.core.alerting import AlertMonitor, Scope, parse_config
from sqm.streams.core.alerting.waits import WaitSamples, percentile
from tests.events import ms

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000
EACH_QUEUE = Scope(tenant="*", channel="*", queue="*")


def dims(queue: str = "billing", agent: str = "a1") -> tuple[str, str, str, str, str]:
    return ("t1", "chat", queue, "normal", agent)


def test_percentile_matches_percentile_inc_by_hand() -> None:
    # 10, 20, 30, 40: p90 at rank 0.9 × 3 = 2.7 → 30 + 0.7 × 10 = 37; one value is itself.
    assert percentile([40, 10, 30, 20], 0.9) == 37.0
    assert percentile([5], 0.9) == 5.0
    assert percentile([10, 20], 0.5) == 15.0


def test_p90_per_queue_over_the_window_with_replacements_and_removals() -> None:
    w = WaitSamples()
    for i, wait in enumerate([10, 20, 30, 40]):
        w.record("t1", f"c{i}", dims(), T0 + i * MIN, wait * 1000)
    w.record("t1", "c0", dims(), T0, 10_000)  # re-delivered: counts once
    w.record("t1", "x", dims("sales"), T0 + MIN, 99_000)
    w.record("t1", "old", dims(), T0 - 20 * MIN, 500_000)  # before the window
    got = w.samples("wait_p90_s", EACH_QUEUE, 15 * MIN, T0 + 10 * MIN)
    assert got == {("t1", "chat", "billing", "", ""): (37.0, 4),
                   ("t1", "chat", "sales", "", ""): (99.0, 1)}
    # c3's answer turns out to follow an abandon: it has no wait any more. 10, 20, 30 → 28.
    w.record("t1", "c3", dims(), None, None)
    assert w.samples("wait_p90_s", EACH_QUEUE, 15 * MIN, T0 + 10 * MIN)[
        ("t1", "chat", "billing", "", "")] == (28.0, 3)
    # The window is [end − window, end): at T0 + 2 min only c0 and c1 (and x) are inside.
    assert w.samples("wait_p90_s", Scope(), 2 * MIN, T0 + 2 * MIN) == {
        ("", "", "", "", ""): (percentile([10, 20, 99], 0.9), 3)}


def test_per_agent_scope() -> None:
    w = WaitSamples()
    w.record("t1", "c1", dims(agent="a1"), T0, 10_000)
    w.record("t1", "c2", dims(agent="a2"), T0, 50_000)
    got = w.samples("wait_p90_s", Scope(tenant="*", agent="*"), 15 * MIN, T0 + MIN)
    assert got == {("t1", "", "", "", "a1"): (10.0, 1), ("t1", "", "", "", "a2"): (50.0, 1)}


def test_eviction_and_state_round_trip() -> None:
    w = WaitSamples()
    rng = random.Random(7)
    for i in range(50):
        w.record("t1", f"c{i}", dims(rng.choice("ab")), T0 + rng.randrange(30) * MIN,
                 rng.randrange(1, 120_000))
    assert w.evict(T0 + 10 * MIN) > 0
    assert w.evict(T0) == 0  # the horizon never moves back
    w.record("t1", "late", dims(), T0, 1000)  # aimed before the horizon: ignored
    restored = WaitSamples.from_state(json.loads(json.dumps(w.to_state())))
    assert restored.to_state() == w.to_state() and len(restored) == len(w)
    for end in (T0 + 15 * MIN, T0 + 30 * MIN):
        assert restored.samples("wait_p90_s", EACH_QUEUE, 15 * MIN, end) == w.samples(
            "wait_p90_s", EACH_QUEUE, 15 * MIN, end)


def test_monitor_records_rows_of_waits_as_one_by_one() -> None:
    rows = [["t1", f"c{i}", "chat", "billing", "normal", "a1", T0 + i * MIN, i * 1000]
            for i in range(5)] + [["t1", "c2", "chat", "billing", "normal", "a1", None, None]]
    batched, single = AlertMonitor(), AlertMonitor()  # the defaults have a wait_p90_s rule
    batched.record_waits(rows)
    for t, c, ch, q, p, agent, answered_at, wait_ms in rows:
        single.record_wait(t, c, (t, ch, q, p, agent), answered_at, wait_ms)
    assert batched.waits.to_state() == single.waits.to_state() and len(batched.waits) == 4
    none = AlertMonitor(parse_config({"rules": [], "anomalies": []}))
    none.record_waits(rows)  # no percentile rule: answered waits are not kept
    assert len(none.waits) == 0
