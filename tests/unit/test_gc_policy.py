"""The worker's garbage-collector policy (streams/gc_policy.py), on CPython's real collector."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from sqm.streams.gc_policy import THRESHOLDS, GcPolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    before = gc.get_threshold()
    yield Clock()
    gc.unfreeze()
    gc.set_threshold(*before)


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_frozen_objects_are_skipped_until_the_full_collection_is_due(clock: Clock) -> None:
    policy = GcPolicy(freeze_every_s=1, full_every_s=600, clock=clock)
    before = gc.get_threshold()
    policy.install()
    assert gc.get_threshold() == THRESHOLDS

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    assert policy.tick() is None  # freezes: the cycle is alive now
    assert gc.get_freeze_count() > 0
    del a, b  # now garbage, but frozen
    gc.collect()
    assert ref() is not None, "a frozen cycle must wait for the policy's full collection"

    clock.now += 599
    assert policy.tick() is None
    assert ref() is not None
    clock.now += 1
    took = policy.tick()
    assert took is not None and took >= 0
    assert ref() is None, "the full collection frees the cycle"
    assert policy.full_collections == 1
    assert gc.get_freeze_count() > 0  # frozen again after it

    # Reference counting still frees frozen acyclic objects at once.
    leaf = Node()
    leaf_ref = weakref.ref(leaf)
    policy.tick()
    del leaf
    assert leaf_ref() is None

    policy.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    unfrozen = cycle()
    gc.collect()
    assert unfrozen() is None


def test_young_garbage_cycles_are_still_freed_automatically(clock: Clock) -> None:
    policy = GcPolicy(freeze_every_s=1, full_every_s=600, clock=clock)
    policy.install()
    try:
        policy.tick()
        ref = cycle()
        assert ref() is not None
        # Allocations alone (no explicit collect) trigger generation 0 collections.
        keep = [[] for _ in range(THRESHOLDS[0] * 5)]
        assert ref() is None, "a young cycle must not wait for the full collection"
        del keep
    finally:
        policy.uninstall()


def test_disabled_policy_leaves_the_collector_alone(clock: Clock) -> None:
    policy = GcPolicy(freeze_every_s=0, clock=clock)
    before = gc.get_threshold()
    policy.install()
    assert not policy.enabled
    assert policy.tick() is None
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
    policy.uninstall()
    assert gc.get_threshold() == before


def test_tick_before_install_does_nothing(clock: Clock) -> None:
    policy = GcPolicy(clock=clock)
    assert policy.tick() is None
    assert gc.get_freeze_count() == 0
