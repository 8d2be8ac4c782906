"""Hostile event times: no event may cost work in proportion to its distance from the others.

One event dated 1970-01-01 among 2026 events started the alert stage's grid in 1970 and made
it evaluate every minute since (29 million minutes, 13 GB of per-minute samples). On the event
clock a long `evaluate` call now visits only the minutes at which a source's samples change
and those at which a pending breach reaches its `for` (streams/core/alerting/grid.py); across
a stretch without rows the anomaly baselines are observed only until they stop moving.

What must hold, and is checked here:
- the result is the one of evaluating every minute: every change, id, start, value and
  message, and the monitor's state, over data with quiet gaps of hours and days (the
  reference evaluates every minute: `jump_after` set out of reach);
- a 1970 event and a 2017 event among 2026 events cost a bounded number of minutes;
- the customer shard sweeps once per batch, however many hours its watermark jumped.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, overload

import pytest

from sqm.streams.core.alerting import AlertMonitor, MeanSource, WaitingContact, parse_config
from sqm.streams.core.alerting import anomaly as anomaly_module
from sqm.streams.core.alerting import engine as engine_module
from sqm.streams.core.alerting import walk as walk_module
from sqm.streams.core.alerting.anomaly import AnomalyDetector
from sqm.streams.core.alerting.changes import AlertChange
from sqm.streams.core.alerting.engine import Engine
from sqm.streams.core.alerting.grid import boundaries
from sqm.streams.core.alerting.rolling import MetricReads
from sqm.streams.core.records import EventRecord
from sqm.streams.core.shard import Shard, ShardConfig
from sqm.streams.core.state import DictStore
from tests.events import ms
from tests.window_counts import random_counts

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
SEC = 1000
EACH_QUEUE = {"tenant": "*", "channel": "*", "queue": "*"}

RULES: list[dict[str, Any]] = [
    {"id": "sl-1m", "metric": "service_level", "scope": EACH_QUEUE, "window": "1m",
     "comparison": "<", "threshold": 0.8, "resolve_threshold": 0.85, "for": "2m",
     "min_sample": 1},
    {"id": "sl-15m", "metric": "service_level", "scope": EACH_QUEUE, "window": "15m",
     "comparison": "<", "threshold": 0.7, "resolve_threshold": 0.75, "for": "90s",
     "min_sample": 5},
    {"id": "aband", "metric": "abandonment_rate", "scope": {"tenant": "*"}, "window": "1h",
     "comparison": ">", "threshold": 0.2, "resolve_threshold": 0.1, "for": "5m"},
    {"id": "csat-day", "metric": "csat", "scope": {"tenant": "*", "channel": "*"},
     "window": "1d", "comparison": "<", "threshold": 3.5, "resolve_threshold": 3.8,
     "for": "30m", "min_sample": 3},
    {"id": "backlog-high", "metric": "backlog", "scope": EACH_QUEUE, "comparison": ">",
     "threshold": 3, "resolve_threshold": 1, "for": "2m"},
    # Breached by an empty queue it tracks: pending across a quiet stretch, firing there once
    # its `for` has passed (the wake-up minutes between change points).
    {"id": "backlog-low", "metric": "backlog", "scope": EACH_QUEUE, "comparison": "<",
     "threshold": 3, "resolve_threshold": 5, "for": "37m"},
    {"id": "at-risk", "metric": "at_risk_count", "scope": {"tenant": "*", "channel": "*"},
     "comparison": ">=", "threshold": 2, "resolve_threshold": 0, "for": "1m"},
    {"id": "p90", "metric": "wait_p90_s", "scope": EACH_QUEUE, "window": "90s",
     "comparison": ">", "threshold": 60, "resolve_threshold": 45, "for": "1m",
     "min_sample": 2},
    # Single answers hours late, alone in their window: pending when one enters, no data when
    # it leaves a minute or two later (before or at its `for`).
    {"id": "p90-late", "metric": "wait_p90_s", "scope": {"tenant": "*"}, "window": "90s",
     "comparison": ">", "threshold": 600, "resolve_threshold": 300, "for": "1m",
     "min_sample": 1},
]
SUPPLIED_RULE = {"id": "csat-agent", "metric": "csat",
                 "scope": {"tenant": "*", "agent": "*"}, "window": "1h",
                 "comparison": "<", "threshold": 3.0, "resolve_threshold": 3.5, "for": "10m"}
ANOMALIES: list[dict[str, Any]] = [
    {"id": "spike", "metric": "volume", "scope": EACH_QUEUE, "window": "1m",
     "method": "ratio", "threshold": 2.5, "resolve_threshold": 1.5, "alpha": 0.1,
     "min_baseline": 5, "enabled": True},
    # Volume falling to 0 in a quiet stretch: fires there, resolves as the baseline decays.
    {"id": "drop", "metric": "volume", "scope": EACH_QUEUE, "window": "5m", "direction": "down",
     "method": "ratio", "threshold": 2, "resolve_threshold": 1.5, "alpha": 0.5,
     "min_baseline": 3, "for": "2m", "enabled": True},
    {"id": "drop-slow", "metric": "volume", "scope": {"tenant": "*"}, "window": "1h",
     "direction": "down", "method": "zscore", "threshold": 2, "resolve_threshold": 1,
     "alpha": 0.05, "min_baseline": 5, "floor": 0.5, "enabled": True},
    {"id": "jumpy", "metric": "volume", "scope": EACH_QUEUE, "window": "2m", "method": "zscore",
     "threshold": 1.5, "resolve_threshold": 0.5, "alpha": 1.0, "min_baseline": 2,
     "enabled": True},
    {"id": "sl-drop", "metric": "service_level", "scope": EACH_QUEUE, "window": "15m",
     "method": "zscore", "threshold": 1.5, "resolve_threshold": 0.5, "floor": 0.05,
     "min_baseline": 5, "min_sample": 3, "for": "1m", "enabled": True},
]
QUEUES = [("chat", "billing"), ("chat", "returns"), ("email", "billing")]
# Busy stretches (start minute, length in minutes): gaps of 3 h, 2 days, 5 h, 9 days (longer
# than the 8-day at-risk horizon, the 1-day windows and any baseline's memory).
BURSTS = [(0, 40), (220, 30), (250 + 2 * 1440, 30), (280 + 2 * 1440 + 300, 20),
          (300 + 11 * 1440 + 300, 20)]

Input = tuple[int, str, Any]  # (event time, kind, payload)


def inputs(seed: int) -> list[Input]:
    """Window rows, waiting intervals and answered waits of the bursts, in event-time order."""
    rnd = random.Random(seed)
    out: list[Input] = []
    n = 0
    for start, length in BURSTS:
        for m in range(start, start + length):
            t = T0 + m * MIN
            for channel, queue in QUEUES:
                if rnd.random() < 0.2:
                    continue  # a minute without a row now and then
                counts = random_counts(rnd, 12, 120, 4)
                out.append((t + 59 * SEC, "row",
                            (t, "t1", channel, queue, "normal", 0, m + 1, *counts)))
            for _ in range(rnd.randrange(0, 4)):
                channel, queue = rnd.choice(QUEUES)
                begin = t + rnd.randrange(0, MIN)
                target = 30 if channel == "chat" else 3600
                c = WaitingContact("t1", f"c{n}", channel, queue, "normal", begin, target,
                                   begin + target * SEC)
                n += 1
                out.append((begin, "waiting", (c, None)))
                # Some are answered in seconds, some hours later (in a gap), some never
                # (they expire 8 days on, in a gap).
                wait = rnd.choice([5, 20, 40, 90, 400, 3 * 3600, None])
                if wait is not None:
                    stop = begin + wait * SEC
                    out.append((stop, "waiting", (c, (stop, "answered"))))
                    out.append((stop, "wait", (c, stop, wait * SEC)))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def feed(mon: AlertMonitor, events: list[Input]) -> None:
    for _, kind, payload in events:
        if kind == "row":
            mon.apply_row(payload)
        elif kind == "waiting":
            mon.waiting.record(*payload)
        else:
            c, answered_at, wait_ms = payload
            mon.record_wait(c.tenant_id, c.contact_id,
                            (c.tenant_id, c.channel, c.queue, c.priority, f"a{len(c.queue)}"),
                            answered_at, wait_ms)


def replay(events: list[Input], cuts: list[int], tail_ms: int, supplied: bool = False
           ) -> tuple[list[AlertChange], dict[str, Any]]:
    """Apply the inputs in batches ending at `cuts`, evaluating after each at its clock on
    the grid, then once more `tail_ms` after the last input (a quiet end)."""
    rules = [*RULES, SUPPLIED_RULE] if supplied else RULES
    mon = AlertMonitor(parse_config({"rules": rules, "anomalies": ANOMALIES}))
    sources = {"csat": MeanSource({("t1", "", "", "", "a7"): (40.0, 20.0),
                                   ("t1", "", "", "", "a9"): (90.0, 20.0)})} if supplied else None
    out: list[AlertChange] = []
    start = 0
    for end in [*cuts, len(events)]:
        batch = events[start:end]
        start = end
        if batch:
            feed(mon, batch)
            out += mon.evaluate(batch[-1][0], supplied=sources, on_grid=True)
    out += mon.evaluate(events[-1][0] + tail_ms, supplied=sources, on_grid=True)
    return out, mon.to_state()


@contextmanager
def jumping(after: int) -> Iterator[None]:
    """Evaluate calls longer than `after` minutes at their change points only."""
    saved = Engine.jump_after, AnomalyDetector.jump_after
    Engine.jump_after = AnomalyDetector.jump_after = after
    try:
        yield
    finally:
        Engine.jump_after, AnomalyDetector.jump_after = saved


EVERY_MINUTE = 10**12


@pytest.mark.parametrize(("seed", "batches", "supplied"), [(1, 0, False), (1, 40, True),
                                                          (2, 150, False)])
def test_jumping_over_quiet_stretches_changes_nothing(seed: int, batches: int,
                                                      supplied: bool) -> None:
    """One evaluate call for everything, or after each of `batches` batches (some spanning
    days of quiet), then a quiet tail of 3 days; with a constant supplied source or not."""
    events = inputs(seed)
    cuts = sorted(random.Random(seed).sample(range(1, len(events)), batches))
    with jumping(EVERY_MINUTE):
        reference = replay(events, cuts, 3 * DAY, supplied)
    for after in (0, Engine.jump_after):
        with jumping(after):
            assert replay(events, cuts, 3 * DAY, supplied) == reference, after
    changes = reference[0]
    kinds = {c.rule_id for c in changes}
    assert kinds >= {r["id"] for r in RULES} - {"aband"}, kinds  # not vacuous
    assert kinds >= {"spike", "drop", "jumpy", "contact-at-risk"}, kinds
    assert not supplied or "csat-agent" in kinds
    # Rule alerts that changed inside the gaps (fired by a `for` passing, resolved by a gauge
    # falling to 0 or a baseline decaying), not only at the bursts' minutes.
    busy = {T0 + m * MIN for s, n in BURSTS for m in range(s, s + n + 2)}
    assert sum(c.updated_at not in busy and c.kind != "at_risk" for c in changes) > 20


def test_a_backlog_breach_fires_in_a_quiet_stretch_at_its_for() -> None:
    """The wake-up minutes by hand: two contacts wait in billing from 01:00:10 to 01:02:30
    (backlog 2 < 3 at 01:01 and 01:02: pending since 01:01), then nothing arrives for two
    days. The empty queue still breaches `backlog < 3` (0), so the alert fires at 01:01 + 37
    min = 01:38, a minute no source changes at, and stays firing."""
    mon = AlertMonitor(parse_config({"rules": [RULES[5]], "anomalies": []}))
    for i in range(2):
        c = WaitingContact("t1", f"c{i}", "chat", "billing", "normal", T0 + 10 * SEC, 600,
                           T0 + 610 * SEC)
        mon.waiting.record(c, (T0 + 150 * SEC, "answered"))
    with jumping(0):
        changes = mon.evaluate(T0 + 2 * DAY, on_grid=True)
    assert [(c.rule_id, c.state, c.started_at, c.updated_at, c.value) for c in changes] == [
        ("backlog-low", "firing", T0 + 1 * MIN, T0 + 38 * MIN, 0.0)]


def test_samples_change_only_at_change_minutes() -> None:
    """What the jumps rely on, for each source directly: between two minutes it names, a
    source's samples stay the same."""
    mon = AlertMonitor(parse_config({"rules": RULES, "anomalies": ANOMALIES}))
    feed(mon, inputs(3))
    first, last = T0 - 5 * MIN, T0 + 3 * DAY
    ends = range(first, last + 1, MIN)
    reads = [(mon.rolling, r) for r in mon.engine.rules if r.from_windows]
    reads += [(mon.rolling, r) for r in mon.anomalies.rules]
    reads += [(mon.waiting, r) for r in mon.engine.rules if r.metric in ("backlog",
                                                                         "at_risk_count")]
    reads += [(mon.waits, r) for r in mon.engine.rules if r.metric == "wait_p90_s"]
    changed = 0
    for source, r in reads:
        if source is mon.rolling:
            each = [dict(source.samples(r.metric, r.scope, r.window, b)) for b in ends]
        else:
            each = source.samples_over(r.metric, r.scope, r.window, ends)
        points = source.change_minutes(r.window, first, last)
        for b, before, now in zip(ends[1:], each, each[1:], strict=False):
            if now != before:
                assert b in points, (r.id, b)
                changed += 1
    assert changed > 500


def test_a_window_metric_changes_only_at_the_minutes_of_its_counters() -> None:
    """Each window rule is evaluated only where the counters its metric reads move
    (`MetricReads`): between two of those minutes its defined samples stay the same, and they are
    fewer than the minutes where any counter moves (csat and repeat rate read few)."""
    mon = AlertMonitor(parse_config({"rules": RULES, "anomalies": ANOMALIES}))
    feed(mon, inputs(3))
    first, last = T0 - 5 * MIN, T0 + 3 * DAY
    ends = range(first, last + 1, MIN)
    changed, fewer = 0, set()
    for r in [r for r in mon.engine.rules if r.from_windows]:
        # A key whose value is undefined is not evaluated, as if absent (`Engine._rule`).
        each = [{k: v for k, v in mon.rolling.samples(r.metric, r.scope, r.window, b).items()
                 if v.value is not None} for b in ends]
        points = MetricReads(mon.rolling, r.metric).change_minutes(r.window, first, last)
        if len(points) < len(mon.rolling.change_minutes(r.window, first, last)):
            fewer.add(r.metric)
        for b, before, now in zip(ends[1:], each, each[1:], strict=False):
            if now != before:
                assert b in points, (r.id, b)
                changed += 1
    assert changed > 300
    assert fewer >= {"csat"}, fewer


def test_a_baseline_stuck_in_a_quiet_stretch_is_counted_not_walked() -> None:
    """Floats can stop a decaying baseline short of being forgotten. With `floor` the smallest
    float (5e-324) and α 0.2, a volume of 0 scores mean / floor, and after 3,354 minutes the
    mean sticks at two of those floats (0.2 · mean rounds to 0): a score of 2.0, so the
    `down` alert fired at the first quiet minute never resolves (1.5). From that fixed point
    on the minutes only count observations; a breach still waiting for its `for` (3 days)
    must still fire when it has lasted them. Same changes and state as minute by minute."""
    tiny = 5e-324
    drop = {"id": "stuck", "metric": "volume", "scope": EACH_QUEUE, "window": "1m",
            "direction": "down", "method": "ratio", "threshold": 2, "resolve_threshold": 1.5,
            "alpha": 0.2, "min_baseline": 3, "floor": tiny, "enabled": True}
    anomalies = [drop, {**drop, "id": "stuck-3d", "for": "3d"}]
    rows = [(T0 + m * MIN, "t1", "chat", "billing", "normal", 0, 1, 10, *[0] * 12)
            for m in range(10)]

    def run() -> tuple[list[AlertChange], dict[str, Any]]:
        mon = AlertMonitor(parse_config({"rules": [], "anomalies": anomalies}))
        for r in rows:
            mon.apply_row(r)
        changes = mon.evaluate(T0 + 10 * MIN, on_grid=True)
        changes += mon.evaluate(T0 + 6 * DAY, on_grid=True)
        return changes, mon.to_state()

    with jumping(EVERY_MINUTE):
        reference = run()
    with jumping(0):
        assert run() == reference
    changes, state = reference
    # Minute 10's volume (the window [10, 11) min) is the first 0.
    assert [(c.rule_id, c.state, c.updated_at) for c in changes] == [
        ("stuck", "firing", T0 + 11 * MIN), ("stuck-3d", "firing", T0 + 11 * MIN + 3 * DAY)]
    # Both baselines stuck at two of the smallest floats, counted at every minute: the
    # first at T0 + 1 min, the last at T0 + 6 days.
    minutes = 6 * 1440
    assert [b[2:] for b in state["anomalies"]["baselines"]] == [
        [minutes, 2 * tiny, 2 * tiny], [minutes, 2 * tiny, 2 * tiny]]


class CountedRange(Sequence[int]):
    """A call's minutes (`boundaries`), counting those iterated over: a loop that does
    nothing per minute still costs one turn per minute."""

    def __init__(self, minutes: range, counter: MinuteCounter) -> None:
        self.minutes = minutes
        self.counter = counter

    def __len__(self) -> int:
        return len(self.minutes)

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[int]: ...

    def __getitem__(self, i: int | slice) -> int | Sequence[int]:
        return self.minutes[i]

    def __iter__(self) -> Iterator[int]:
        for b in self.minutes:
            self.counter.turns += 1
            yield b


class MinuteCounter:
    """Counts the minutes the engine and the anomaly detector evaluate, the turns of loops
    over a call's minutes, and the longest list of minutes a source is asked for at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engine: set[int] = set()
        self.anomaly: set[int] = set()
        self.longest = 0
        self.turns = 0
        step, observe = Engine._step_keys, AnomalyDetector._observe

        def counted_boundaries(*args: Any) -> CountedRange:
            return CountedRange(boundaries(*args), self)

        monkeypatch.setattr(engine_module, "boundaries", counted_boundaries)
        monkeypatch.setattr(anomaly_module, "boundaries", counted_boundaries)

        def counted_step(engine: Engine, r: Any, samples: Any, keys: Any, at: int,
                         absent: Any) -> Any:  # every rule evaluation steps its keys here
            self.engine.add(at)
            return step(engine, r, samples, keys, at, absent)

        def counted_observe(det: AnomalyDetector, r: Any, samples: Any, b: int) -> Any:
            self.anomaly.add(b)
            return observe(det, r, samples, b)

        monkeypatch.setattr(Engine, "_step_keys", counted_step)
        key_walk = walk_module.walk_key

        def counted_key_walk(key: Any, timeline: Any, *args: Any) -> Any:
            # a long call's rules key by key: each key is evaluated at its timeline's minutes
            # (and at its wake-ups in between)
            self.engine.update(b for b, _sample in timeline)
            return key_walk(key, timeline, *args)

        monkeypatch.setattr(walk_module, "walk_key", counted_key_walk)
        monkeypatch.setattr(AnomalyDetector, "_observe", counted_observe)
        from sqm.streams.core.alerting.at_risk import AtRiskTracker
        from sqm.streams.core.alerting.waits import WaitSamples

        for cls, name in ((AtRiskTracker, "gauges_over"), (WaitSamples, "samples_over")):
            original = getattr(cls, name)

            def wrapped(*args: Any, _original: Any = original) -> Any:
                self.longest = max(self.longest, len(args[-1]))
                return _original(*args)

            monkeypatch.setattr(cls, name, wrapped)


def hostile_inputs() -> list[Input]:
    """Two minutes of good 2026 traffic, and one contact each dated 1970-01-01 and
    2017-05-01 (a placeholder date and a wrong year), answered in 2026: a window row at its
    start, its waiting interval, and its 56- or 9-year wait."""
    events = [e for e in inputs(7) if e[0] < T0 + 3 * MIN]
    for i, iso in enumerate(["1970-01-01T00:00:00+00:00", "2017-05-01T08:00:00+00:00"]):
        start = ms(iso)
        c = WaitingContact("t1", f"old{i}", "chat", "billing", "normal", start, 30,
                           start + 30 * SEC)
        stop = T0 + 90 * SEC
        events += [
            (start + 59 * SEC, "row", (start, "t1", "chat", "billing", "normal", 1, 1,
                                       1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)),
            (start, "waiting", (c, None)),
            (stop, "waiting", (c, (stop, "answered"))),
            (stop, "wait", (c, stop, stop - start)),
        ]
    events.sort(key=lambda x: (x[0], x[1]))
    return events


@pytest.mark.parametrize("batches", ["one call", "1970 alone first", "every input"])
@pytest.mark.parametrize("policy", ["these rules", "the defaults"])
def test_a_1970_and_a_2017_event_cost_a_bounded_number_of_minutes(
    monkeypatch: pytest.MonkeyPatch, batches: str, policy: str,
) -> None:
    """With the rules above (anomalies on) and with the default policy (anomalies off: the
    detector once turned a loop 29 million times with nothing to observe)."""
    events = hostile_inputs()
    cuts = {"one call": [], "1970 alone first": [1, 2],
            "every input": list(range(1, len(events)))}[batches]
    counter = MinuteCounter(monkeypatch)
    config = {"rules": RULES, "anomalies": ANOMALIES} if policy == "these rules" else {}
    mon = AlertMonitor(parse_config(config))
    changes: list[AlertChange] = []
    start = 0
    for end in [*cuts, len(events)]:
        feed(mon, events[start:end])
        changes += mon.evaluate(events[end - 1][0], on_grid=True)
        start = end
    changes += mon.evaluate(T0 + 2 * DAY, on_grid=True)  # and a quiet tail of two days
    # 56 years are 29.5 million minutes: a few hundred are evaluated (each event's change
    # points, the two days' tail decaying the baselines until they are forgotten).
    assert len(counter.engine) < 1_000, len(counter.engine)
    assert len(counter.anomaly) < 2_000, len(counter.anomaly)
    assert counter.turns < 5_000, counter.turns
    assert counter.longest < 1_000
    assert min(counter.engine) < ms("1970-01-02T00:00:00+00:00")  # the 1970 event was seen
    # ... and warned about at its own (1970) times, like any contact.
    assert {c.started_at for c in changes if c.contact_id == "old0"} == {ms(
        "1970-01-01T00:00:24+00:00")}


def test_the_shard_sweeps_once_per_batch_however_far_its_watermark_jumps() -> None:
    """Eviction runs once per batch when the watermark's hour moved: a batch that takes a
    partition from 1970 to 2026 sweeps once, not once per hour in between."""
    store = DictStore()
    sweeps: list[int] = []
    keys = store.keys

    def counted(prefixes: tuple[str, ...]) -> Any:
        sweeps.append(1)
        return keys(prefixes)

    store.keys = counted  # type: ignore[method-assign]
    shard = Shard(0, store, ShardConfig())

    def event(i: int, at: int) -> EventRecord:
        return EventRecord(event_id=f"e{i}", type="contact.created", ts=at, tenant_id="t1",
                           contact_id=f"c{i}", customer_id="u1", channel="chat")

    shard.process([(0, [event(0, 0)])])
    shard.commit()
    shard.process([(1, [event(1, T0), event(2, T0 + 5 * MIN)])])
    shard.commit()
    assert len(sweeps) == 1
    assert shard.meta.low_watermark == T0 + 5 * MIN
