"""On the event clock, gauge rules (`backlog`, `at_risk_count`) and `wait_p90_s` are evaluated at
every whole minute of event time, as of that minute, and no minute is skipped however far the
clock jumps between calls (`on_grid=True`), so a replay raises the same alerts however its
events fell into batches.

The scenario: contacts wait in two chat queues over 40 minutes and again three hours later,
answered after 5–240 s (some never within the run). The pipeline's alert stage sees each
contact when its wait starts and again when it stops, in event-time order, and evaluates after
each batch at the batch's clock.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from sqm.streams.core.alerting import AlertMonitor, WaitingContact, parse_config
from sqm.streams.core.alerting.changes import AlertChange
from sqm.streams.core.alerting.grid import GridSamples
from tests.events import ms

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000
SEC = 1000
EACH_QUEUE = {"tenant": "*", "channel": "*", "queue": "*"}
RULES = [
    {"id": "backlog", "metric": "backlog", "scope": EACH_QUEUE, "comparison": ">",
     "threshold": 4, "resolve_threshold": 2, "for": "1m"},
    {"id": "at-risk", "metric": "at_risk_count", "scope": EACH_QUEUE, "comparison": ">=",
     "threshold": 3, "resolve_threshold": 1, "for": "0s"},
    {"id": "p90", "metric": "wait_p90_s", "scope": EACH_QUEUE, "window": "5m",
     "comparison": ">", "threshold": 90, "resolve_threshold": 60, "for": "1m", "min_sample": 5},
]

Input = tuple[int, str, Any]  # (event time, kind, payload)


def inputs(seed: int) -> list[Input]:
    rnd = random.Random(seed)
    out: list[Input] = []
    for i in range(200):
        queue = rnd.choice(["billing", "returns"])
        # 40 busy minutes, three quiet hours, 10 busy minutes: a batch that spans the quiet
        # hours moves the clock by more than the live catch-up limit (1 h).
        start = T0 + (rnd.randrange(0, 40 * MIN) if i < 160 else
                      rnd.randrange(220 * MIN, 230 * MIN))
        c = WaitingContact("t1", f"c{i}", "chat", queue, "normal", start, 30, start + 30 * SEC)
        out.append((start, "waiting", (c, None)))
        wait = rnd.choice([5, 10, 20, 40, 120, 240, None]) if queue == "billing" else 10
        if wait is not None:
            stop = start + wait * SEC
            out.append((stop, "waiting", (c, (stop, "answered"))))
            out.append((stop, "wait", (c, stop, wait * SEC)))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def feed(mon: AlertMonitor, events: list[Input]) -> None:
    """Record the inputs as the alert stage does: waiting intervals and answered waits."""
    for _, kind, payload in events:
        if kind == "waiting":
            mon.waiting.record(*payload)
        else:
            c, answered_at, wait_ms = payload
            mon.record_wait(c.tenant_id, c.contact_id,
                            (c.tenant_id, c.channel, c.queue, c.priority, "a1"),
                            answered_at, wait_ms)


def replay(events: list[Input], cuts: list[int], on_grid: bool) -> list[AlertChange]:
    """Apply the inputs in batches ending at `cuts`, evaluating after each at its clock."""
    mon = AlertMonitor(parse_config({"rules": RULES, "anomalies": []}))
    out: list[AlertChange] = []
    start = 0
    for end in [*cuts, len(events)]:
        batch = events[start:end]
        start = end
        if not batch:
            continue
        feed(mon, batch)
        out += mon.evaluate(batch[-1][0], on_grid=on_grid)
    return out


def batchings(n: int, seed: int) -> list[list[int]]:
    rnd = random.Random(seed)
    return [sorted(rnd.sample(range(1, n), k)) for k in (3, 40, 200, n // 2)]


def canonical(changes: list[AlertChange]) -> list[tuple[Any, ...]]:
    return sorted((c.rule_id, c.alert_id, c.version, c.state, c.updated_at, c.value, c.message)
                  for c in changes)


def test_gauges_and_percentiles_on_the_grid_do_not_depend_on_batching() -> None:
    fired: set[str] = set()
    for seed in range(6):
        events = inputs(seed)
        results = [canonical(replay(events, cuts, on_grid=True))
                   for cuts in batchings(len(events), seed)]
        assert all(r == results[0] for r in results[1:]), seed
        fired.update(rule_id for rule_id, *_ in results[0])
    assert fired >= {"backlog", "at-risk", "p90"}  # every kind of rule took part


def test_at_the_batch_clock_they_did_depend_on_batching() -> None:
    """The reason for the grid: evaluated at each batch's clock, the same inputs gave other
    changes (the scenario above is sensitive enough to show it)."""
    differs = 0
    for seed in range(6):
        events = inputs(seed)
        results = [canonical(replay(events, cuts, on_grid=False))
                   for cuts in batchings(len(events), seed)]
        differs += any(r != results[0] for r in results[1:])
    assert differs > 0


@pytest.mark.parametrize("clock", [T0 + 5 * MIN, T0 + 185 * MIN])
def test_a_backlog_alert_on_the_grid_worked_out_by_hand(clock: int) -> None:
    """Five contacts queue at 01:00:10 … 01:00:50 and wait until 01:03:30; the grid sees a
    backlog of 5 at 01:01 (pending), 01:02 (1 min: firing, started 01:01) and 01:03, and 0 at
    01:04 (resolved at 01:04). Evaluated once, at the batch's clock: 01:05, or 04:05, three
    hours on (the first call goes back to the earliest data, not the live hour of catch-up)."""
    events: list[Input] = []
    for i in range(5):
        start = T0 + (10 + 10 * i) * SEC
        c = WaitingContact("t1", f"c{i}", "chat", "billing", "normal", start, 600,
                           start + 600 * SEC)
        stop = T0 + 3 * MIN + 30 * SEC
        events += [(start, "waiting", (c, None)), (stop, "waiting", (c, (stop, "answered")))]
    events.sort(key=lambda x: (x[0], x[1]))
    events.append((clock, "wait", (c, stop, 1000)))  # moves the clock
    changes = [c for c in replay(events, [], on_grid=True) if c.rule_id == "backlog"]
    assert [(c.state, c.started_at, c.updated_at, c.value) for c in changes] == [
        ("firing", T0 + 1 * MIN, T0 + 2 * MIN, 5.0),
        ("resolved", T0 + 1 * MIN, T0 + 4 * MIN, 0.0),
    ]


def fed_monitor(rules: list[dict[str, Any]], seed: int) -> AlertMonitor:
    """A monitor holding all of `inputs(seed)`, not evaluated."""
    mon = AlertMonitor(parse_config({"rules": rules, "anomalies": []}))
    feed(mon, inputs(seed))
    return mon


def test_samples_over_is_samples_at_each_minute() -> None:
    """The one-pass `samples_over` of both sources against `samples` asked at each minute."""
    for seed in range(4):
        mon = fed_monitor(RULES, seed)
        ends = range(T0 - 2 * MIN, T0 + 240 * MIN, MIN)
        for rule in mon.engine.rules:
            source = mon.waits if rule.metric == "wait_p90_s" else mon.waiting
            each = [source.samples(rule.metric, rule.scope, rule.window, b) for b in ends]
            assert source.samples_over(rule.metric, rule.scope, rule.window, ends) == each
            assert sum(len(x) for x in each) > 20  # not vacuous


def test_grid_samples_equal_samples_taken_at_every_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`GridSamples` takes a call's minutes in one pass; asking the sources at every minute
    (the reference) gives the same changes."""
    events = inputs(3)
    cuts = batchings(len(events), 3)[1]
    reused = canonical(replay(events, cuts, on_grid=True))

    def every_minute(self: GridSamples, b: int) -> Any:
        r = self.rule
        return self.source.samples(r.metric, r.scope, r.window, b)

    monkeypatch.setattr(GridSamples, "as_of", every_minute)
    assert canonical(replay(events, cuts, on_grid=True)) == reused
    assert len(reused) > 50


def test_samples_over_in_a_narrower_scope_is_samples_at_each_minute() -> None:
    """Scopes that leave contacts out (one queue; the percentile's waits are filtered by scope
    before sorting) and the two gauges of one scope sharing a pass (`gauges_over`)."""
    billing = {"tenant": "*", "channel": "chat", "queue": "billing"}
    rules = [{**r, "id": f"{r['id']}-billing", "scope": billing} for r in RULES]
    mon = fed_monitor(rules, 5)
    ends = range(T0 - 2 * MIN, T0 + 240 * MIN, MIN)
    shared: dict[Any, Any] = {}
    for rule in mon.engine.rules:
        source = mon.waits if rule.metric == "wait_p90_s" else mon.waiting
        each = [source.samples(rule.metric, rule.scope, rule.window, b) for b in ends]
        grid = GridSamples(source, rule, ends, shared)
        assert [grid.as_of(b) for b in ends] == each
        keys = {k for x in each for k in x}
        assert keys and all(k[2] == "billing" for k in keys)  # only billing, and some
    assert len(shared) == 1  # backlog and at-risk count: one pass
