"""The state gauges' count (`sqm_state_*`): customers, contacts and windows in a worker's shards.

Counted on the event loop (the table may only be read there), over a copy of the table's keys
taken when a pass starts. A customer restored from the changelog and not touched since is
still its encoded bytes and is decoded to count its contacts: a pass over a million such
customers took 4.7 s of CPU (benchmarks/metrics_scrape.py), a pause of the whole loop. So a
pass runs in slices (`StateCount.step`, one per heartbeat) of at most a time budget each; its
totals are published when the pass ends, and a key removed since the copy is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from sqm.streams.core.state import SEP, CustomerState

StateTotals = tuple[int, int, int]  # customers, contacts, windows
SLICE_KEYS = 1_000  # keys counted between two looks at the clock
_CUSTOMER = f"c{SEP}".encode()
_WINDOW = f"w{SEP}".encode()


class StateCount:
    """One pass over a table's keys at a time, in slices."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self._keys: list[bytes] | None = None  # the pass's copy of the keys; None: no pass
        self._next = 0
        self._totals = [0, 0, 0]

    @property
    def counting(self) -> bool:
        """A pass has started and not ended."""
        return self._keys is not None

    def step(self, data: dict[bytes, Any], budget_s: float) -> StateTotals | None:
        """Count on (starting a pass if none runs) for about `budget_s` at most, at least one
        slice; the pass's totals once it ends, else None."""
        if self._keys is None:
            self._keys, self._next, self._totals = list(data), 0, [0, 0, 0]
        keys, totals = self._keys, self._totals
        deadline = self.clock() + budget_s
        while self._next < len(keys):
            end = min(self._next + SLICE_KEYS, len(keys))
            _count(data, keys[self._next:end], totals)
            self._next = end
            if self.clock() >= deadline:
                break
        if self._next < len(keys):
            return None
        self._keys = None
        customers, contacts, windows = totals
        return customers, contacts, windows


def count_state(data: dict[bytes, Any]) -> StateTotals:
    """The whole count at once (a benchmark's, a test's)."""
    totals = StateCount().step(data, float("inf"))
    assert totals is not None
    return totals


def _count(data: dict[bytes, Any], keys: list[bytes], totals: list[int]) -> None:
    customers = contacts = windows = 0
    for key in keys:
        if key.startswith(_CUSTOMER):
            value = data.get(key)
            if isinstance(value, CustomerState):
                contacts += len(value.contacts)
            elif isinstance(value, bytes):
                contacts += len(orjson.loads(value))
            else:
                continue  # removed since the copy
            customers += 1
        elif key.startswith(_WINDOW) and key in data:
            windows += 1
    totals[0] += customers
    totals[1] += contacts
    totals[2] += windows
