"""Rolling windows: replace-by-version per (window, shard), sums over shards, eviction."""

from __future__ import annotations

import json
import random

import pytest

from sqm.streams.core.alerting import RollingStore, Scope
from sqm.streams.core.alerting.samples import metric_sample
from sqm.streams.core.alerting.scope_keys import group_key
from tests.events import ms

T0 = ms("2026-03-02T01:00:00+00:00")
MIN = 60_000
ALL = Scope()
EACH_QUEUE = Scope(tenant="*", channel="*", queue="*")


def row(minute: int, shard: int, version: int, answered: int, in_sla: int,
        queue: str = "billing") -> tuple:
    return (T0 + minute * MIN, "t1", "chat", queue, "normal", shard, version,
            answered, answered, in_sla, 0, 0, 0, 0, 0)


def sl(store: RollingStore, scope: Scope = ALL, minutes: int = 5, end: int = 5):
    return store.samples("service_level", scope, minutes * MIN, T0 + end * MIN)


def test_the_latest_version_per_window_and_shard_replaces_and_shards_add_up():
    store = RollingStore()
    assert store.apply_row(row(0, 0, 1, 10, 4))
    assert store.apply_row(row(0, 0, 3, 10, 8))  # a correction replaces, never adds
    assert not store.apply_row(row(0, 0, 2, 99, 0))  # overtaken: ignored
    assert not store.apply_row(row(0, 0, 3, 10, 8))  # re-delivered: ignored
    assert store.apply_row(row(0, 1, 1, 10, 6))  # another shard's partial total adds
    # (8 + 6) / (10 + 10) = 0.7
    assert sl(store) == {("", "", "", "", ""): (0.7, 20)}
    assert len(store) == 2


def test_any_order_and_any_number_of_deliveries_give_the_same_sums():
    rows = [row(m, s, v, 10 + v, v, q) for m in range(6) for s in (0, 1) for v in (1, 2, 3)
            for q in ("billing", "returns")]
    reference = RollingStore()
    for r in rows:
        reference.apply_row(r)
    for seed in range(20):
        shuffled = rows * 2
        random.Random(seed).shuffle(shuffled)
        store = RollingStore()
        for r in shuffled:
            store.apply_row(r)
        assert store.to_state() == reference.to_state()
        assert sl(store, EACH_QUEUE, 6, 6) == sl(reference, EACH_QUEUE, 6, 6)


def test_window_bounds_are_whole_minutes_before_the_end():
    store = RollingStore()
    for m in range(6):
        store.apply_row(row(m, 0, 1, 10, m))
    # end T0+5m, 2 minutes: minutes 3 and 4 → (3 + 4) / 20; minute 5 is not complete yet.
    assert sl(store, minutes=2, end=5) == {("", "", "", "", ""): (0.35, 20)}
    assert sl(store, minutes=1, end=0) == {}


def test_eviction_drops_old_windows_and_ignores_rows_aimed_at_them():
    store = RollingStore()
    for m in range(6):
        store.apply_row(row(m, 0, 1, 10, 10))
    assert store.evict(T0 + 3 * MIN + 59_000) == 3  # minutes 0, 1, 2 (floor to the minute)
    assert store.horizon == T0 + 3 * MIN and len(store) == 3
    assert not store.apply_row(row(1, 0, 9, 10, 0))
    assert store.evict(T0) == 0  # the horizon never moves back
    assert sl(store, minutes=6, end=6) == {("", "", "", "", ""): (1.0, 30)}


def test_metric_samples_match_the_worked_example_of_docs_metrics():
    # One minute: answered after 20 s (met) and 45 s (missed), abandoned after 60 s, and a
    # short abandon after 3 s; two created, one of them a repeat.
    # Under the default policy: met 1, missed 1 answered late + 1 abandoned (the short one is
    # excluded). Three surveys: 5, 4 and 2.
    c = [4, 2, 1, 65_000, 2, 1, 2, 1, 1, 2, 3, 11, 2]
    assert metric_sample("service_level", c) == (1 / 3, 3)  # 1 / (1 + 2)
    assert metric_sample("abandonment_rate", c) == (1 / 3, 3)  # (2 − 1) / 3
    assert metric_sample("avg_wait_s", c) == (32.5, 2)  # 65 s / 2
    assert metric_sample("repeat_rate", c) == (0.5, 2)
    assert metric_sample("volume", c) == (4.0, 4)
    assert metric_sample("csat", c) == (11 / 3, 3)
    assert metric_sample("service_level", [0] * 13) == (None, 0)
    assert metric_sample("csat", [0] * 13) == (None, 0)
    # A policy that excludes abandons: met 1, missed 1.
    assert metric_sample("service_level", [*c[:8], 1, 1, 3, 11, 2]) == (0.5, 2)
    with pytest.raises(ValueError):
        metric_sample("wait_p90_s", c)


def test_rows_from_before_the_policy_counters_read_as_contract_v1():
    # 8 counters (an older worker's row): met = answered_in_sla, missed = the rest of v1's
    # denominator; CSAT counters 0.
    store = RollingStore()
    store.apply((T0, "t1", "chat", "q", "normal"), 0, 1, [4, 2, 1, 65_000, 2, 1, 2, 1])
    assert sl(store, minutes=1, end=1) == {("", "", "", "", ""): (1 / 3, 3)}


def test_scope_grouping():
    dims = ("t1", "chat", "billing", "high")
    assert group_key(Scope().specs, dims) == ("", "", "", "", "")
    assert group_key(Scope(tenant="*", queue="*").specs, dims) == ("t1", "", "billing", "", "")
    assert group_key(Scope(tenant="t1", channel="chat").specs, dims) == (
        "t1", "chat", "", "", "")
    assert group_key(Scope(tenant="t2").specs, dims) is None
    assert group_key(Scope(priority="*").specs, dims) == ("", "", "", "high", "")


def test_rejects_malformed_rows():
    store = RollingStore()
    with pytest.raises(ValueError, match="whole UTC minute"):
        store.apply((T0 + 1, "t1", "chat", "q", "normal"), 0, 1, [0] * 8)
    with pytest.raises(ValueError, match="13 counters"):
        store.apply((T0, "t1", "chat", "q", "normal"), 0, 1, [0] * 14)


def test_state_round_trips():
    store = RollingStore()
    for m in range(4):
        store.apply_row(row(m, m % 2, m + 1, 10, m))
    store.evict(T0 + MIN)
    restored = RollingStore.from_state(json.loads(json.dumps(store.to_state())))
    assert restored.to_state() == store.to_state() and restored.horizon == T0 + MIN
    assert sl(restored) == sl(store)
    # Minute by minute, as the alert stage's changelog keeps it; the evicted minute is reported
    # as changed (to delete it) and holds nothing.
    assert store.take_changed() == {T0 + m * MIN for m in range(4)}
    assert store.minute_rows(T0) is None
    minutes = {m: json.loads(json.dumps(store.minute_rows(m))) for m in store.minutes()}
    by_minute = RollingStore.from_minutes(store.horizon, minutes)
    assert by_minute.to_state() == store.to_state() and sl(by_minute) == sl(store)
    assert store.take_changed() == set() == by_minute.take_changed()


def test_sums_sliding_minute_by_minute_equal_a_fresh_computation_despite_late_rows():
    rng = random.Random(7)
    store = RollingStore()
    for end in range(1, 40):
        # Rows for the minute just finished, plus now and then a late correction inside the
        # window (it must force a full recomputation) or an all-zero row.
        version = end
        store.apply_row(row(end - 1, rng.randint(0, 1), version, rng.randint(0, 9), 1,
                            rng.choice(["a", "b", "c"])))
        if rng.random() < 0.3:
            late = max(0, end - 1 - rng.randint(0, 6))
            store.apply_row(row(late, 0, version + 1000, rng.randint(0, 3), 0, "a"))
        if rng.random() < 0.2:
            store.apply_row(row(end - 1, 5, version, 0, 0, "z"))
        fresh = RollingStore.from_state(store.to_state())
        for scope in (ALL, EACH_QUEUE):
            for minutes in (1, 5, 15):
                got = {k: list(v) for k, v in store.sums(scope, T0 + (end - minutes) * MIN,
                                                        T0 + end * MIN).items()}
                assert got == fresh.sums(scope, T0 + (end - minutes) * MIN, T0 + end * MIN)


def test_sums_sliding_over_an_unchanged_store_equal_a_fresh_computation():
    """Many minutes per evaluate call (the event clock over quiet hours): the store does not
    change between them, so the sums slide without checking their minutes; rows and evictions
    between calls must still be seen."""
    rng = random.Random(11)
    store = RollingStore()
    end = 1
    for call in range(25):
        for _ in range(rng.randint(0, 4)):  # rows between calls, some late, some zero
            minute = max(0, end - rng.randint(1, 20))
            store.apply_row(row(minute, rng.randint(0, 1), 100 * call + rng.randint(0, 99),
                                rng.randint(0, 9), rng.randint(0, 1),
                                rng.choice(["a", "b", "c"])))
        if call % 7 == 6:
            store.evict(T0 + (end - 30) * MIN)
        fresh = RollingStore.from_state(store.to_state())
        first = end
        for end in range(first, first + rng.randint(1, 30)):  # one call: many minutes
            for scope in (ALL, EACH_QUEUE):
                for minutes in (1, 5, 15):
                    got = {k: list(v) for k, v in store.sums(
                        scope, T0 + (end - minutes) * MIN, T0 + end * MIN).items()}
                    assert got == fresh.sums(scope, T0 + (end - minutes) * MIN,
                                             T0 + end * MIN), (call, end, minutes)
        end += 1


def test_a_shards_rows_at_once_as_one_by_one():
    rows = [row(0, 1, 1, 10, 4), row(0, 1, 3, 10, 8), row(0, 1, 2, 99, 0), row(1, 1, 1, 5, 5),
            row(1, 1, 1, 5, 5), row(2, 1, 1, 7, 1, queue="sales")]
    at_once, single = RollingStore(), RollingStore()
    # (window_start_ms, tenant, channel, queue, priority, version, *counts): no shard field
    at_once.apply_shard_rows(1, [[*r[:5], *r[6:]] for r in rows])
    for r in rows:
        single.apply_row(r)
    assert at_once.to_state() == single.to_state() and len(at_once) == 3
    assert sl(at_once, EACH_QUEUE) == sl(single, EACH_QUEUE)


def test_the_rows_by_dims_follow_the_rows_by_minute_through_corrections_and_evictions():
    store = RollingStore()
    rng = random.Random(3)
    for i in range(300):
        store.apply_row(row(rng.randrange(40), rng.randrange(2), rng.randrange(1, 4),
                            rng.randrange(5), 0, queue=rng.choice("abc")))
        if i % 50 == 49:
            store.evict(T0 + (i // 50) * 5 * MIN)
    transposed: dict = {}
    for m, totals in store._minutes.items():
        for dims, counts in totals.items():
            transposed.setdefault(dims, {})[m] = counts
    assert store._by_dims == transposed
    assert all(store._by_dims[d][m] is c for d, by in transposed.items() for m, c in by.items())


def test_key_series_gives_each_keys_nonzero_minutes_in_the_range_with_their_columns():
    store = RollingStore()
    store.apply_row(row(0, 0, 1, 4, 3))  # billing: before the range
    store.apply_row(row(2, 0, 1, 5, 1, queue="sales"))
    store.apply_row(row(3, 0, 1, 0, 0, queue="sales"))  # no contact: left out
    store.apply_row(row(4, 0, 1, 2, 2, queue="sales"))
    store.apply_row(row(4, 0, 1, 1, 0, queue="support"))
    store.apply_row(row(9, 0, 1, 7, 7, queue="support"))  # at the range's end: left out
    answered, in_sla = 1, 2  # positions in the count lists `row` writes
    got = store.key_series(EACH_QUEUE.specs, (answered, in_sla), T0 + MIN, T0 + 9 * MIN)
    assert got == {
        ("t1", "chat", "sales", "", ""): ([T0 + 2 * MIN, T0 + 4 * MIN], [[5, 2], [1, 2]]),
        ("t1", "chat", "support", "", ""): ([T0 + 4 * MIN], [[1], [0]])}
    # one key over several dims: their minutes merged in order, a minute once per dims
    every = store.key_series(ALL.specs, (answered,), T0, T0 + 10 * MIN)
    assert every == {("", "", "", "", ""): (
        [T0, T0 + 2 * MIN, T0 + 4 * MIN, T0 + 4 * MIN, T0 + 9 * MIN], [[4, 5, 2, 1, 7]])}
