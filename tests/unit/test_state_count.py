"""The state gauges' count in slices (streams/observe/state_count.py): a pass spread over many
heartbeats gives the totals of one whole count, worked out here by hand; keys removed during
the pass are not counted, keys added during it wait for the next pass."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sqm.streams.core.facts import ContactFacts
from sqm.streams.core.state import SEP, CustomerState
from sqm.streams.observe import state_count
from sqm.streams.observe.state_count import StateCount, count_state


def customer(contacts: int) -> CustomerState:
    st = CustomerState()
    for i in range(contacts):
        st.contacts[f"k{i}"] = ContactFacts("t", f"k{i}", "u")
    return st


def table() -> dict[bytes, Any]:
    """30 live customers of 2 contacts, 20 encoded ones of 3, 25 windows and a meta record:
    50 customers, 120 contacts, 25 windows."""
    data: dict[bytes, Any] = {}
    for i in range(30):
        data[f"c{SEP}0{SEP}t{SEP}live{i}".encode()] = customer(2)
    for i in range(20):  # as restored from the changelog: a JSON object of its contacts
        data[f"c{SEP}0{SEP}t{SEP}enc{i}".encode()] = orjson.dumps({"a": 1, "b": 2, "c": 3})
    for i in range(25):
        data[f"w{SEP}0{SEP}{i}".encode()] = object()
    data[f"m{SEP}0".encode()] = object()
    return data


class Ticks:
    """A clock that moves one second each time it is read: every slice spends the budget."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_a_whole_count_is_the_hand_count() -> None:
    assert count_state(table()) == (50, 120, 25)


def test_a_pass_in_slices_gives_the_same_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_count, "SLICE_KEYS", 7)
    counter = StateCount(clock=Ticks())
    data = table()
    results = []
    while True:
        results.append(counter.step(data, budget_s=0.5))
        if results[-1] is not None:
            break
        assert counter.counting
    assert len(results) == -(-len(data) // 7)  # one slice per step: 11 steps for 76 keys
    assert results[-1] == (50, 120, 25) and not counter.counting
    # The next pass starts afresh (not from the last totals).
    assert StateCount().step(data, float("inf")) == (50, 120, 25)


def test_keys_removed_during_a_pass_are_not_counted_and_new_ones_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_count, "SLICE_KEYS", 10)
    counter = StateCount(clock=Ticks())
    data = table()
    assert counter.step(data, 0) is None  # the first 10 keys: live customers
    del data[f"c{SEP}0{SEP}t{SEP}enc3".encode()]  # not reached yet: evicted meanwhile
    del data[f"w{SEP}0{SEP}7".encode()]
    data[f"c{SEP}0{SEP}t{SEP}new".encode()] = customer(5)  # after the pass's copy of the keys
    totals = None
    while totals is None:
        totals = counter.step(data, 0)
    assert totals == (49, 117, 24)
    assert counter.step(data, float("inf")) == (50, 122, 24)  # the next pass sees the new one
