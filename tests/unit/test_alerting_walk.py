"""The engine's fast walk (streams/core/alerting/walk.py) against the plain one.

The fast walk steps only the keys whose sample can have changed since a rule's previous
evaluation (and those with a track), and walks the window rules of one slide together, or,
in a call passing many minutes, walks each window rule key by key. The
plain walk (`Engine.skip_unchanged = False`) evaluates each rule alone and steps every key at
every evaluation. Over random rules, window rows (several shards, corrections, rows that
empty a key), waiting contacts, answered waits, acknowledgements and batchings, with and
without jumps over quiet stretches, both must give the same changes after every batch and the
same state.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqm.streams.core.alerting import AlertMonitor, MeanSource, WaitingContact, parse_config
from sqm.streams.core.alerting.changes import FIRING, AlertChange
from sqm.streams.core.alerting.engine import Engine
from sqm.streams.core.alerting.rolling import RollingStore
from sqm.streams.core.alerting.rules import Scope
from tests.events import ms
from tests.window_counts import random_counts

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000
SEC = 1000
DIMS = [(t, ch, q, p) for t in ("t1", "t2") for ch, q in (("chat", "billing"),
        ("chat", "returns"), ("email", "billing")) for p in ("normal", "high")]
SCOPES = [{"tenant": "*", "channel": "*", "queue": "*"}, {"tenant": "*", "channel": "*"},
          {"tenant": "*", "channel": "chat", "queue": "*"}, {"tenant": "t1"}, {}]
# metric: (comparisons, thresholds, resolve gaps toward the healthy side)
METRICS: dict[str, tuple[list[str], list[float], list[float]]] = {
    "service_level": (["<", "<="], [0.5, 0.7, 0.9], [0.0, 0.05, 0.1]),
    "abandonment_rate": ([">", ">="], [0.1, 0.3], [0.0, 0.05]),
    "avg_wait_s": ([">"], [20.0, 50.0], [0.0, 10.0]),
    "repeat_rate": ([">"], [0.1, 0.3], [0.0, 0.05]),
    "csat": (["<"], [2.5, 3.5], [0.0, 0.3]),
    "backlog": ([">", ">="], [1.0, 3.0], [0.0, 1.0]),
    "at_risk_count": ([">="], [1.0, 2.0], [1.0]),
    "wait_p90_s": ([">"], [20.0, 60.0], [0.0, 15.0]),
}


@st.composite
def rule_dicts(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 7))):
        metric = draw(st.sampled_from(sorted(METRICS)))
        comparisons, thresholds, gaps = METRICS[metric]
        comparison = draw(st.sampled_from(comparisons))
        threshold = draw(st.sampled_from(thresholds))
        gap = draw(st.sampled_from(gaps))
        if comparison in ("<=", ">="):
            gap = gap or 0.5  # a non-strict comparison needs a strict resolve gap
        low_is_bad = comparison in ("<", "<=")
        rule = {"id": f"r{i}", "metric": metric, "comparison": comparison,
                "threshold": threshold,
                "resolve_threshold": threshold + gap if low_is_bad else threshold - gap,
                "scope": draw(st.sampled_from(SCOPES)),
                "for": draw(st.sampled_from(["0s", "30s", "1m", "3m", "20m"]))}
        if metric not in ("backlog", "at_risk_count"):
            rule["window"] = draw(st.sampled_from(["1m", "2m", "5m", "15m", "1h"]))
            rule["min_sample"] = draw(st.sampled_from([0, 1, 4]))
        out.append(rule)
    return out


def inputs(rnd: random.Random, minutes: int) -> list[tuple[int, str, Any]]:
    """Rows, waiting intervals and waits over `minutes` minutes with a quiet stretch or two."""
    out: list[tuple[int, str, Any]] = []
    versions: dict[tuple[int, tuple[str, ...], int], int] = {}
    gaps = {rnd.randrange(minutes): rnd.choice([90, 400, 3000]) for _ in range(2)}
    n, t = 0, T0
    for m in range(minutes):
        t += MIN + gaps.get(m, 0) * MIN
        for dims in rnd.sample(DIMS, rnd.randrange(0, 5)):
            shard = rnd.randrange(2)
            counts = random_counts(rnd, 9, 90, 3)
            if rnd.random() < 0.1:
                counts = [0] * len(counts)  # a correction to nothing: the key may vanish
            # Now and then a row for an earlier minute: a correction of one already sent.
            minute = t - MIN * (rnd.randrange(1, 4) if rnd.random() < 0.2 else 0)
            minute -= minute % MIN
            version = versions[(minute, dims, shard)] = versions.get(
                (minute, dims, shard), 0) + 1
            out.append((t + 59 * SEC, "row", (minute, *dims, shard, version, *counts)))
        for _ in range(rnd.randrange(0, 3)):
            tenant, channel, queue, priority = rnd.choice(DIMS)
            begin = t + rnd.randrange(0, MIN)
            target = 30 if channel == "chat" else 600
            c = WaitingContact(tenant, f"c{n}", channel, queue, priority, begin, target,
                               begin + target * SEC)
            n += 1
            out.append((begin, "waiting", (c, None)))
            wait = rnd.choice([5, 20, 40, 90, 400, 5000, None])
            if wait is not None:
                stop = begin + wait * SEC
                out.append((stop, "waiting", (c, (stop, "answered"))))
                out.append((stop, "wait", (c, stop, wait * SEC)))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def feed(mon: AlertMonitor, batch: list[tuple[int, str, Any]]) -> None:
    for _, kind, payload in batch:
        if kind == "row":
            mon.apply_row(payload)
        elif kind == "waiting":
            mon.waiting.record(*payload)
        else:
            c, answered_at, wait_ms = payload
            mon.record_wait(c.tenant_id, c.contact_id,
                            (c.tenant_id, c.channel, c.queue, c.priority, "a1"), answered_at,
                            wait_ms)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rule_dicts(), seed=st.integers(0, 10**6), batches=st.integers(1, 25),
       jump_after=st.sampled_from([0, 5, Engine.jump_after]),
       by_key_after=st.sampled_from([0, 10, 10**9]), supplied=st.booleans())
def test_the_fast_walk_equals_the_plain_walk(rules: list[dict[str, Any]], seed: int,
                                              batches: int, jump_after: int, by_key_after: int,
                                              supplied: bool) -> None:
    rnd = random.Random(seed)
    if supplied:
        rules = [*rules, {"id": "csat-agent", "metric": "csat", "window": "1h",
                          "scope": {"tenant": "*", "agent": "*"}, "comparison": "<",
                          "threshold": 3.0, "resolve_threshold": 3.5, "for": "10m"}]
    config = parse_config({"rules": rules, "anomalies": []})
    events = inputs(rnd, rnd.randrange(20, 160))
    fast, plain = AlertMonitor(config), AlertMonitor(config)
    fast.engine.jump_after = plain.engine.jump_after = jump_after
    fast.engine.by_key_after = by_key_after  # 0: every call key by key; 10**9: never
    plain.engine.skip_unchanged = False
    sources = {"csat": MeanSource({("t1", "", "", "", "a1"): (40.0, 20.0)})} if supplied else None
    cuts = sorted(rnd.sample(range(1, len(events)), min(batches, len(events) - 1)))
    firing: list[AlertChange] = []
    start = 0
    for end in [*cuts, len(events)]:
        batch = events[start:end]
        start = end
        feed(fast, batch)
        feed(plain, batch)
        now = batch[-1][0]
        if firing and rnd.random() < 0.3:  # a person acknowledges an alert, maybe resolved
            alert = rnd.choice(firing).alert_id
            assert fast.acknowledge(alert, now) == plain.acknowledge(alert, now)
        changes = fast.evaluate(now, supplied=sources, on_grid=True)
        assert changes == plain.evaluate(now, supplied=sources, on_grid=True)
        firing += [c for c in changes if c.state == FIRING]
    tail = events[-1][0] + rnd.choice([MIN, 3 * 3_600_000])
    assert fast.evaluate(tail, supplied=sources, on_grid=True) == plain.evaluate(
        tail, supplied=sources, on_grid=True)
    assert fast.to_state() == plain.to_state()


def test_the_fast_walk_is_not_vacuous() -> None:
    """The same inputs raise alerts of every kind the property test compares (window rules,
    gauges, percentiles), so equal outputs there mean something."""
    rules = [{"id": "sl", "metric": "service_level", "scope": SCOPES[0], "window": "5m",
              "comparison": "<", "threshold": 0.7, "resolve_threshold": 0.8, "for": "1m"},
             {"id": "ab", "metric": "abandonment_rate", "scope": SCOPES[0], "window": "5m",
              "comparison": ">", "threshold": 0.3, "resolve_threshold": 0.2, "for": "1m"},
             {"id": "bl", "metric": "backlog", "scope": SCOPES[1], "comparison": ">=",
              "threshold": 2, "resolve_threshold": 0, "for": "0s"},
             {"id": "p90", "metric": "wait_p90_s", "scope": SCOPES[1], "window": "15m",
              "comparison": ">", "threshold": 60, "resolve_threshold": 45, "for": "1m"}]
    mon = AlertMonitor(parse_config({"rules": rules, "anomalies": []}))
    events = inputs(random.Random(1), 150)
    feed(mon, events)
    changes = mon.evaluate(events[-1][0], on_grid=True)
    assert {c.rule_id for c in changes} >= {"sl", "ab", "bl", "p90"}


def test_a_slide_names_the_keys_it_moved() -> None:
    """`RollingStore.slide`: a key not named keeps its very count list; None after a
    recomputation (a changed minute, a jump longer than the window)."""
    store = RollingStore()
    scope = Scope(tenant="*", queue="*")
    for m, queue in ((0, "a"), (1, "b"), (2, "a"), (5, "c")):
        store.apply((T0 + m * MIN, "t1", "chat", queue, "normal"), 0, 1, [1] * 13)
    _sums, moved = store.slide(scope, T0, T0 + 2 * MIN)
    assert moved is None  # the first call
    sums, moved = store.slide(scope, T0 + MIN, T0 + 3 * MIN)
    b = sums[("t1", "", "b", "", "")]
    assert moved == {("t1", "", "a", "", "")}  # minute 0 left, minute 2 entered
    sums, moved = store.slide(scope, T0 + 2 * MIN, T0 + 4 * MIN)
    assert moved == {("t1", "", "b", "", "")} and ("t1", "", "b", "", "") not in sums
    assert b == [0] * 13  # emptied in place: a list that moved is not kept
    sums, moved = store.slide(scope, T0 + 2 * MIN, T0 + 4 * MIN)
    assert moved == set()
    store.apply((T0 + 3 * MIN, "t1", "chat", "d", "normal"), 0, 1, [1] * 13)
    assert store.slide(scope, T0 + 3 * MIN, T0 + 5 * MIN)[1] is None  # minute 3 changed
    assert store.slide(scope, T0 + 9 * MIN, T0 + 11 * MIN)[1] is None  # a jump past it


def test_a_gauge_alert_of_a_queue_no_longer_reported_resolves_key_by_key() -> None:
    """Key by key, a gauge's keys are those the tracker reports over the call plus those with
    a track: two contacts wait in billing (backlog 2: firing), both stop at 01:05:30, after
    the first call's clock; the next call starts at 01:06, where the tracker reports nothing
    for billing any more, and the alert resolves there (backlog 0), as minute by minute."""
    rule = {"id": "bl", "metric": "backlog", "scope": SCOPES[0], "comparison": ">=",
            "threshold": 2, "resolve_threshold": 1}
    out = []
    for plain in (False, True):
        mon = AlertMonitor(parse_config({"rules": [rule], "anomalies": []}))
        mon.engine.skip_unchanged = not plain
        mon.engine.by_key_after = 0
        for i in range(2):
            c = WaitingContact("t1", f"c{i}", "email", "billing", "normal", T0 + 10 * SEC, 3600,
                               T0 + 3610 * SEC)
            mon.waiting.record(c, (T0 + 330 * SEC, "answered"))
        changes = mon.evaluate(T0 + 310 * SEC, on_grid=True)
        changes += mon.evaluate(T0 + 3 * 3_600_000, on_grid=True)
        out.append([(c.state, c.updated_at) for c in changes if c.rule_id == "bl"])
    assert out[0] == out[1] == [("firing", T0 + MIN), ("resolved", T0 + 6 * MIN)]
