"""The alert state in parts: only what changed is written after a batch, and restoring from the
changelog (the latest record per key, as compaction keeps it, or every record in order, as a
recovery reads it) gives exactly the monitor that wrote it. The single-record format of earlier
versions is still read.

Traffic is random but seeded: four shards send window rows (with late corrections), waiting
contacts start and stop, a person acknowledges firing alerts, and the clock is event time.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from sqm.streams.core.alerting import AlertChange, AlertMonitor, WaitingContact, parse_config
from sqm.streams.core.alerting import partition as layout
from sqm.streams.core.alerting.monitor import META, PartKey
from sqm.streams.core.alerting.partition import AlertStateStore, PartitionAlerts, parse_key
from sqm.streams.core.partitions import KeyedBytesStore
from sqm.streams.core.rollup import ANSWERED, IN_SLA, N_COUNTERS, OFFERED
from sqm.streams.core.wire import ack_message
from tests.events import ms


def table_key(partition: int, part: PartKey) -> bytes:
    """A part's key as the table and its changelog hold it."""
    return layout.table_key(partition, part).encode()


def legacy_key(partition: int) -> bytes:
    return layout.legacy_key(partition).encode()

T0 = ms("2026-03-02T01:00:00+00:00")
MIN, SEC = 60_000, 1000
EACH_QUEUE = {"tenant": "*", "channel": "*", "queue": "*"}
CONFIG = parse_config({
    "rules": [
        {"id": "sl-low", "metric": "service_level", "scope": EACH_QUEUE, "window": "5m",
         "comparison": "<", "threshold": 0.8, "resolve_threshold": 0.85, "for": "1m"},
        {"id": "backlog", "metric": "backlog", "scope": EACH_QUEUE, "comparison": ">",
         "threshold": 2, "resolve_threshold": 1},
    ],
    "anomalies": [{"id": "spike", "metric": "volume", "scope": EACH_QUEUE, "threshold": 2,
                   "resolve_threshold": 1.5, "min_baseline": 5, "enabled": True}],
})
QUEUES = ("billing", "returns", "sales")


class Traffic:
    """Alert-input messages for steps of 20 s of event time, from four customer shards."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.version = 0
        self.waiting: list[tuple[str, int]] = []  # (contact, start) not yet stopped
        self.n = 0

    def counts(self, bad: bool) -> list[int]:
        c = [0] * N_COUNTERS
        n = self.rng.randint(1, 8)
        c[OFFERED], c[ANSWERED], c[IN_SLA] = n, n, self.rng.randint(0, n // 2) if bad else n
        return c

    def step(self, s: int) -> list[bytes]:
        rng, now = self.rng, T0 + s * 20 * SEC
        minute = now - now % MIN
        bad = (s // 30) % 2 == 1  # ten bad minutes, ten good ones
        out = []
        for shard in range(4):
            self.version += 1
            windows = [[minute, "t1", "chat", q, "normal", self.version, *self.counts(bad)]
                       for q in rng.sample(QUEUES, 2)]
            if rng.random() < 0.2:  # a late correction of an earlier minute
                windows.append([minute - rng.randint(1, 4) * MIN, "t1", "chat", "billing",
                                "normal", self.version, *self.counts(bad)])
            waiting = []
            if rng.random() < 0.5:
                self.n += 1
                self.waiting.append((f"c{self.n}", now))
                waiting.append(self.contact(f"c{self.n}", now, None))
            if self.waiting and rng.random() < 0.4:
                cid, start = self.waiting.pop(rng.randrange(len(self.waiting)))
                waiting.append(self.contact(cid, start, max(start, now - rng.randint(0, 9) * SEC)))
            out.append(orjson.dumps({"shard": shard, "wm": now - shard * SEC,
                                     "windows": windows, "waiting": waiting}))
        return out

    def contact(self, cid: str, start: int, stop: int | None) -> list[Any]:
        queue = QUEUES[int(cid[1:]) % 3]
        return ["t1", cid, "chat", queue, "normal", start, 30, stop,
                None if stop is None else "answered"]


def handle(part: PartitionAlerts, messages: list[bytes]) -> list[AlertChange]:
    """What the alert stage does with a batch on the event clock."""
    out: list[AlertChange] = []
    for m in messages:
        out += part.apply(m)
    if part.clock is not None:
        out += part.monitor.evaluate(part.clock)
    return out


def acks(changes: list[AlertChange], rng: random.Random, at: int) -> list[bytes]:
    return [ack_message(c.alert_id, at) for c in changes
            if c.state == "firing" and c.kind != "at_risk" and rng.random() < 0.5]


class Changelog:
    """What a stage writes: every record in order, and the latest value per key."""

    def __init__(self) -> None:
        self.records: list[tuple[int, bytes, bytes | None]] = []

    def send(self, p: int, key: bytes, value: bytes | None) -> None:
        self.records.append((p, key, value))

    def compacted(self) -> dict[bytes, bytes]:
        return self.replay(self.records)

    @staticmethod
    def replay(records: list[tuple[int, bytes, bytes | None]]) -> dict[bytes, bytes]:
        """Apply records in order as Faust's memory store does (None deletes)."""
        data: dict[bytes, bytes] = {}
        for _, key, value in records:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return data


def store(data: dict[bytes, Any], log: Changelog) -> AlertStateStore:
    return AlertStateStore(KeyedBytesStore(data, {}, log.send), CONFIG)


def roundtrip(parts: dict[PartKey, Any]) -> dict[PartKey, Any]:
    """The values as the changelog gives them back (JSON)."""
    return {k: orjson.loads(orjson.dumps(v)) for k, v in parts.items()}


def same(a: PartitionAlerts, b: PartitionAlerts) -> bool:
    return a.monitor.to_state() == b.monitor.to_state() and a.watermarks == b.watermarks


# -- the monitor's parts -------------------------------------------------------------------------

def test_changed_parts_applied_in_order_rebuild_exactly_the_monitor() -> None:
    traffic, rng = Traffic(seed=1), random.Random(2)
    part = PartitionAlerts(AlertMonitor(CONFIG, catch_up_ms=10 * MIN))
    kept: dict[PartKey, Any] = {}
    changes: list[AlertChange] = []
    for s in range(150):  # 50 minutes: windows evicted after 16, contacts come and go
        changes = handle(part, traffic.step(s) + acks(changes, rng, T0 + s * 20 * SEC))
        if s % 5 == 0 and traffic.waiting:  # the monitor's other ways in
            cid, _ = traffic.waiting.pop(0)
            part.monitor.stop_waiting("t1", cid, T0 + s * 20 * SEC, "abandoned")
        if s % 7 == 0:
            part.monitor.upsert_waiting(WaitingContact(
                "t1", f"u{s}", "chat", "sales", "normal", T0 + s * 20 * SEC, 30))
        for key, value in roundtrip(part.monitor.changed_parts()).items():
            if value is None:
                kept.pop(key, None)
            else:
                kept[key] = value
        assert kept == roundtrip(part.monitor.parts())
        restored = AlertMonitor.from_parts(kept, CONFIG, catch_up_ms=10 * MIN)
        assert restored.to_state() == part.monitor.to_state()
    m = part.monitor
    assert m.rolling.horizon is not None and m.rolling.minutes()[0] == m.rolling.horizon
    assert any(k[0] == "waiting" for k in kept) and m.engine.machines.tracks
    assert m.anomalies.baselines


def test_a_monitor_restored_from_parts_continues_with_identical_output() -> None:
    traffic, rng = Traffic(seed=3), random.Random(4)
    straight = PartitionAlerts(AlertMonitor(CONFIG, catch_up_ms=10 * MIN))
    steps = [traffic.step(s) for s in range(120)]
    changes: list[AlertChange] = []
    for s in range(60):
        changes = handle(straight, steps[s] + acks(changes, rng, T0 + s * 20 * SEC))
    monitor = AlertMonitor.from_parts(roundtrip(straight.monitor.parts()), CONFIG,
                                      catch_up_ms=10 * MIN)
    restored = PartitionAlerts(monitor, dict(straight.watermarks))
    after = [handle(p, steps[s]) for s in range(60, 120) for p in (straight, restored)]
    assert after[0::2] == after[1::2] and any(after)


# -- the stage's changelog -----------------------------------------------------------------------

def run_stage(seed: int, steps: int, data: dict[bytes, Any], log: Changelog,
              check_every: int = 0) -> PartitionAlerts:
    """Batches through an AlertStateStore for partition 0, flushing after each one; every
    `check_every` batches, restore from the changelog both ways and compare."""
    traffic, rng = Traffic(seed), random.Random(seed + 100)
    states = store(data, log)
    changes: list[AlertChange] = []
    part = states.get(0)
    for s in range(steps):
        part = states.get(0)
        changes = handle(part, traffic.step(s) + acks(changes, rng, T0 + s * 20 * SEC))
        states.flush(0, part)
        if check_every and s % check_every == 0:
            for restored_data in (log.compacted(), Changelog.replay(log.records)):
                restored = store(dict(restored_data), Changelog()).get(0)
                assert same(restored, part)
            assert {k for k in data if k != table_key(0, META)} == set(log.compacted()) - {
                table_key(0, META)}
    return part


def test_restoring_from_the_changelog_gives_the_same_partition() -> None:
    # 80 minutes: with the default hour of catch-up the 5-minute windows start being evicted
    # after 66 (tombstones), and contacts stop waiting all along (tombstones too).
    log = Changelog()
    part = run_stage(seed=5, steps=240, data={}, log=log, check_every=7)
    deleted = [parse_key(k) for _, k, v in log.records if v is None]
    assert any(d is not None and d[1][0] == "minute" for d in deleted)
    assert any(d is not None and d[1][0] == "waiting" for d in deleted)
    restored = store(log.compacted(), Changelog()).get(0)
    assert same(restored, part)
    # and it carries on exactly as the original does
    traffic = Traffic(seed=99)
    for s in range(240, 300):
        batch = traffic.step(s)
        assert handle(restored, batch) == handle(part, batch)


def test_a_batch_writes_only_the_parts_it_changed() -> None:
    log = Changelog()
    data: dict[bytes, Any] = {}
    part = run_stage(seed=6, steps=150, data=data, log=log)
    states = store(data, log)
    minutes = part.monitor.rolling.minutes()
    assert len(minutes) > 30
    written = len(log.records)
    # One shard's row for the current minute, no evaluation (live, the timer evaluates):
    # that minute and the meta record (written with every flush that writes), nothing else.
    minute = minutes[-1]
    part.apply(orjson.dumps({"shard": 2, "wm": part.watermarks[2], "waiting": [],
                             "windows": [[minute, "t1", "chat", "billing", "normal", 10**6,
                                          *[1] * N_COUNTERS]]}))
    assert states.flush(0, part) == 2
    assert [parse_key(k) for _, k, _ in log.records[written:]] == [
        (0, ("minute", minute)), (0, META)]
    # A watermark moving: the meta record alone.
    part.apply(orjson.dumps({"shard": 2, "wm": part.watermarks[2] + SEC, "waiting": [],
                             "windows": []}))
    assert states.flush(0, part) == 1 and log.records[-1][1] == table_key(0, META)
    # Nothing new: nothing written.
    assert states.flush(0, part) == 0
    # A re-delivered message changes nothing either.
    part.apply(orjson.dumps({"shard": 2, "wm": part.watermarks[2], "waiting": [],
                             "windows": [[minute, "t1", "chat", "billing", "normal", 10**6,
                                          *[1] * N_COUNTERS]]}))
    assert states.flush(0, part) == 0


def test_a_recovery_that_rewrites_the_meta_record_rebuilds_from_the_parts() -> None:
    log = Changelog()
    data: dict[bytes, Any] = {}
    part = run_stage(seed=7, steps=60, data=data, log=log)
    states = store(data, log)
    assert states.get(0) is part  # the live object while nothing was re-read
    # A rebalance re-reads the changelog from some offset on: the keys it holds become bytes.
    last_meta = next(v for _, k, v in reversed(log.records) if k == table_key(0, META))
    data[table_key(0, META)] = last_meta
    rebuilt = states.get(0)
    assert rebuilt is not part and same(rebuilt, part)
    assert rebuilt.writes == part.writes and states.flush(0, rebuilt) == 0


def test_the_single_record_format_is_read_then_rewritten_as_parts() -> None:
    # A partition state as the previous version wrote it (key b"0", the whole state).
    log = Changelog()
    old = run_stage(seed=8, steps=90, data={}, log=log)
    legacy = Changelog()
    legacy.send(0, legacy_key(0), old.encode())
    data = legacy.compacted()
    states = store(data, legacy)
    upgraded = states.get(0)
    assert same(upgraded, old)
    # The first flush writes every part, then the meta, then deletes the old record.
    n = states.flush(0, upgraded)
    new = legacy.records[1:]
    assert {k for _, k, _ in new[:-1]} == {table_key(0, k) for k in upgraded.monitor.parts()}
    assert new[-2][1] == table_key(0, META) and new[-1] == (0, legacy_key(0), None)
    assert n == len(new)
    for restored_data in (legacy.compacted(), Changelog.replay(legacy.records)):
        assert same(store(dict(restored_data), Changelog()).get(0), old)
    # From then on, parts only.
    traffic = Traffic(seed=9)
    before = len(legacy.records)
    handle(upgraded, traffic.step(90))
    states.flush(0, upgraded)
    assert all(k != legacy_key(0) for _, k, _ in legacy.records[before:])


def test_an_upgrade_cut_short_restores_from_whichever_record_is_complete() -> None:
    log = Changelog()
    old = run_stage(seed=11, steps=40, data={}, log=log)
    legacy = Changelog()
    legacy.send(0, legacy_key(0), old.encode())
    states = store(legacy.compacted(), legacy)
    states.flush(0, states.get(0))
    meta_at = max(i for i, (_, k, _) in enumerate(legacy.records) if k == table_key(0, META))
    # Cut before the meta record: the old record is read again; after it (the old record not
    # yet deleted): the parts are read, and the next flush only deletes the old record.
    before_meta, after_meta = Changelog(), Changelog()
    before_meta.records = legacy.records[:meta_at]
    after_meta.records = legacy.records[:meta_at + 1]
    for cut in (before_meta, after_meta):
        data = cut.compacted()
        assert legacy_key(0) in data
        states = store(data, cut)
        part = states.get(0)
        assert same(part, old)
        states.flush(0, part)
        assert legacy_key(0) not in cut.compacted()
        assert same(store(cut.compacted(), Changelog()).get(0), old)
    assert after_meta.records[meta_at + 1:] == [(0, legacy_key(0), None)]


def test_parts_without_a_meta_record_are_cleared() -> None:
    # The first flush of a partition died before its meta record: the parts written are not a
    # state (the batch is processed again); the next flush deletes them.
    log = Changelog()
    run_stage(seed=10, steps=3, data={}, log=log)
    first_meta = next(i for i, (_, k, _) in enumerate(log.records) if k == table_key(0, META))
    torn = Changelog()
    torn.records = log.records[:first_meta]
    assert torn.records
    data = torn.compacted()
    states = store(data, torn)
    part = states.get(0)
    assert part.monitor.to_state() == AlertMonitor(CONFIG).to_state()
    states.flush(0, part)
    assert set(torn.compacted()) == {table_key(0, k) for k in part.monitor.parts()} == {
        table_key(0, k) for k in (("engine",), ("anomalies",), META)}


@pytest.mark.parametrize("key", [b"0", b"x", b"[1]", b'["a","meta"]'])
def test_keys_of_other_shapes_are_not_parts(key: bytes) -> None:
    assert parse_key(key) is None
    assert parse_key(table_key(3, ("waiting", "t1", "c|1"))) == (3, ("waiting", "t1", "c|1"))
