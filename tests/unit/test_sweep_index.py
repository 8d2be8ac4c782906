"""The eviction sweep reads only what its index says is due (core/sweep_index.py): it must
evict exactly what reading every key of the shard evicts, batch by batch, across weeks of
history, late and duplicate events, small and large batches and recoveries from a changelog.

The reference is the sweep as it was before the index: a plain loop over every key."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from sqm.streams.core.archive import ArchivedContact, ContactKey
from sqm.streams.core.partitions import KeyedBytesStore
from sqm.streams.core.records import EventRecord
from sqm.streams.core.rollup import MINUTE_MS, WindowKey
from sqm.streams.core.shard import OFFSET_MASK, Message, Shard, ShardConfig, ShardResult
from sqm.streams.core.state import SEP, DictStore, shard_prefixes
from sqm.streams.core.sweep_index import HOUR_MS, SweepIndex
from tests.histories import DAY, HOUR, arrival, history


class FullScanShard(Shard):
    """The reference: every key of the shard read at every sweep."""

    def _sweep(self, horizon: int) -> None:
        last_minute = horizon - MINUTE_MS
        cprefix, wprefix = shard_prefixes(self.id)
        for key in self.store.keys((cprefix, wprefix)):
            if key.startswith(wprefix):
                if int(key.split(SEP, 3)[2]) <= last_minute and key not in self._dirty_windows:
                    if self.evictions is not None:
                        self._evict_window(self.evictions, key)
                    self._deleted.append(key)
            elif key not in self._dirty_customers:
                self._sweep_customer(key, horizon)


class Recorded:
    """What a shard evicts, as a multiset (the order of keys in a sweep is not the result)."""

    def __init__(self) -> None:
        self.seen: Counter[Any] = Counter()

    def evicted_contact(self, key: ContactKey, event_ids: Collection[str],
                        is_repeat: bool) -> None:
        self.seen[("contact", key, frozenset(event_ids), is_repeat)] += 1

    def evicted_window(self, shard: int, key: WindowKey, counts: list[int], stamp: int) -> None:
        self.seen[("window", shard, key, tuple(counts), stamp)] += 1


class Stored:
    """The archive over what the shard wrote, as the store's tables would hold it: every
    accepted event, each contact's last repeat flag, each window's row of highest version."""

    def __init__(self) -> None:
        self.events: dict[ContactKey, dict[str, EventRecord]] = {}
        self.repeat: dict[ContactKey, bool] = {}
        self.rows: dict[WindowKey, tuple[list[int], int]] = {}

    def absorb(self, res: ShardResult) -> None:
        for e in res.accepted:
            self.events.setdefault((e.tenant_id, e.contact_id), {})[e.event_id] = e
        for v, _ in res.contacts:
            self.repeat[(v.tenant_id, v.contact_id)] = v.is_repeat
        for key, counts, version in res.windows:
            if key not in self.rows or self.rows[key][1] <= version:
                self.rows[key] = (list(counts), version)

    def contacts(self, keys: Sequence[ContactKey]) -> dict[ContactKey, ArchivedContact]:
        return {k: ArchivedContact(sorted(self.events[k].values(),
                                          key=lambda e: (e.ts, e.event_id)),
                                   self.repeat.get(k, False))
                for k in keys if k in self.events}

    def windows(self, shard: int, keys: Sequence[WindowKey]) -> dict[
            WindowKey, tuple[list[int], int]]:
        return {k: self.rows[k] for k in keys if k in self.rows}


def summary(res: ShardResult) -> tuple[Any, ...]:
    return (
        sorted(e.event_id for e in res.accepted), res.duplicates,
        sorted((late.offset, late.index) for late in res.late),
        sorted(repr(v) for v, _ in res.contacts),  # versions carry the wall-clock generation
        sorted((k, tuple(c), version & OFFSET_MASK) for k, c, version in res.windows),
        sorted((k, tuple(d), offset) for k, d, offset in res.dropped),
    )


def encoded(store: DictStore) -> dict[str, bytes]:
    """The store's entries but the meta (its generation is the wall clock's)."""
    return {k: v if isinstance(v, bytes) else v.encode() for k, v in store.data.items()
            if not k.startswith("m")}


def replay(cls: type[Shard], batches: list[list[Message]], cfg: ShardConfig,
           recover_at: set[int], archive: bool) -> tuple[list[Any], DictStore, Counter[Any]]:
    store, seen, stored, out = DictStore(), Recorded(), Stored(), []
    restored = [0]
    for i, batch in enumerate(batches):
        if i in recover_at:  # a restart: the state read back from its changelog, as bytes
            store = DictStore.recover(store.changelog)
        shard = cls(0, store, cfg, stored if archive else None, seen)
        res = shard.process(batch)
        shard.commit()
        stored.absorb(res)
        restored[0] += res.restored_contacts
        out.append((summary(res), sorted(shard.pending())))
        out.append(("evicted so far", sorted(seen.seen.items(), key=repr)))
    out.append(("contacts read back", restored[0]))
    return out, store, seen.seen


@pytest.mark.parametrize(
    ("seed", "weeks", "message_size", "batch_messages", "disorder_h", "archive"), [
        (1, 3, 1, 1, 0.3, False),  # one event per message and batch: a sweep every event-hour
        (2, 4, 7, 3, 2.0, True),   # events later than the 1 h lateness (dead-lettered as late)
        (3, 5, 20, 10, 0.5, True),  # large batches: many customers dirty at each sweep
        (4, 3, 3, 2, 5.0, False),
        (5, 3, 2, 2, 3.0, True),
    ])
def test_the_index_evicts_exactly_what_reading_every_key_evicts(
        seed: int, weeks: int, message_size: int, batch_messages: int, disorder_h: float,
        archive: bool) -> None:
    events = arrival(history(seed, weeks=weeks, contacts=90 * weeks, customers=25), seed,
                     disorder_ms=int(disorder_h * HOUR), duplicates=0.08)
    messages: list[Message] = [(i, events[i * message_size:(i + 1) * message_size])
                               for i in range((len(events) + message_size - 1) // message_size)]
    rnd = random.Random(seed)
    batches: list[list[Message]] = []
    i = 0
    while i < len(messages):
        size = rnd.randint(1, batch_messages)
        batches.append(messages[i:i + size])
        i += size
    # A short state TTL: most of the state is evicted, and read back from the archive (or,
    # without one, dropped corrections) when a long-lived contact gets another event.
    cfg = ShardConfig(state_ttl_ms=2 * DAY, repeat_window_ms=DAY)
    recover_at = {len(batches) // 3, 2 * len(batches) // 3}

    got, got_store, got_evicted = replay(Shard, batches, cfg, recover_at, archive)
    want, want_store, want_evicted = replay(FullScanShard, batches, cfg, recover_at, archive)

    assert sum(want_evicted.values()) > 100, "the history must evict (else nothing is tested)"
    assert (want[-1][1] > 0) == archive, "with an archive, evicted contacts must be read back"
    assert any(k[0] == "window" for k in want_evicted) and any(
        k[0] == "contact" for k in want_evicted)
    for step, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"step {step} of {len(got)}"
    assert got_evicted == want_evicted
    assert encoded(got_store) == encoded(want_store)
    index = got_store.sweep_index
    assert index.built and len(index) == sum(not k.startswith("m") for k in got_store.data)
    assert Counter(k for k, v in got_store.changelog if v is None) == Counter(
        k for k, v in want_store.changelog if v is None)


def test_a_window_kept_dirty_is_due_again_at_the_next_sweep() -> None:
    index = SweepIndex()
    index.build([("w1", 10 * MINUTE_MS), ("w2", HOUR_MS + MINUTE_MS)], [])
    assert index.take_windows(HOUR_MS) == ["w1"]  # w2 (its hour, later minute) stays
    assert index.take_windows(HOUR_MS) == []
    index.add_window("w1", 10 * MINUTE_MS)
    assert sorted(index.take_windows(2 * HOUR_MS)) == ["w1", "w2"]


def test_customers_move_with_their_oldest_contact() -> None:
    index = SweepIndex()
    index.build([], [("c1", 5 * HOUR_MS + 1), ("c2", None)])
    assert index.customers_before(5 * HOUR_MS) == []
    assert index.customers_before(5 * HOUR_MS + 2) == ["c1"]
    index.note_customer("c1", 9 * HOUR_MS)  # its old contact evicted
    assert index.customers_before(6 * HOUR_MS) == []
    index.note_customer("c1", HOUR_MS)  # a contact read back from the archive
    assert index.customers_before(2 * HOUR_MS) == ["c1"]
    index.forget_customer("c1")
    assert index.customers_before(10 * HOUR_MS) == []


def test_an_index_not_built_ignores_changes_until_it_is_filled() -> None:
    index = SweepIndex()
    index.add_window("w", 0)
    index.note_customer("c", 0)
    assert index.take_windows(HOUR_MS) == [] and index.customers_before(HOUR_MS) == []


def test_a_recovery_by_the_engine_resets_the_partitions_indexes() -> None:
    """The engine writes a changelogged table's data itself when it recovers it: the store
    must index it again (the Faust adapter counts recoveries: engine/faust/recovery.py)."""
    ended = [0]
    store = KeyedBytesStore({}, {}, recoveries=lambda: ended[0])
    index = store.partition(3).sweep_index
    index.build([("w", 0)], [])
    assert store.partition(3).sweep_index is index and index.built
    ended[0] += 1
    assert store.partition(3).sweep_index is index and not index.built
    assert not store.partition(4).sweep_index.built
