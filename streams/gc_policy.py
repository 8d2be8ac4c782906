"""Garbage-collector settings for a worker whose state is hundreds of thousands of live objects.

Why: the state (contact facts, customer states, window totals, alert parts) lives for hours of
event time and CPython's full collections scan all of it again, each time a little more. On a
200k-event run of `benchmarks/pipeline_throughput.py` the stock settings ran 36 full
collections taking 6.4–7.6 s of the ~25 s, the last ones 0.5–0.65 s each, and the rate fell as
the state grew. The state has no reference cycles: reference counting frees a replaced value at
once, so scanning it finds nothing.

The policy, while a worker runs:
- every `freeze_every_s` objects alive move to the permanent generation (`gc.freeze()`, O(1)),
  which collections skip. Reference counting still frees them; only garbage *cycles* among them
  (asyncio futures and exceptions make some) wait for the next full collection;
- full collections only every `full_every_s`: `gc.unfreeze()`, one full collection (logged with
  its duration), freeze again. That bounds the memory such cycles can hold;
- generation 0 collections after 100,000 net allocations instead of 700, which still free
  short-lived cycles: a batch's temporaries (its events, their wire lists, the rows) outlive
  700 allocations but not a batch, so each was scanned once before it died. In `sqm replay`'s
  direct runner that was 2,200 young collections taking ~0.2 s of the main thread; now about
  none. Generation 1 only after 10,000 of them instead of 10, and a full one after 1000 of
  generation 1. CPython scans every surviving object once in generation 0 and again in
  generation 1 before it settles; with freezes every second that second scan found nothing
  but cost ~0.4 s of a 10 s, 200k-event benchmark run (~330 collections of ~1.2 ms). Cycles
  that outlive one young collection now wait for the next full collection, as cycles in the
  frozen state do.
`uninstall()` restores the thresholds and unfreezes (tests run many workers in one process).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

THRESHOLDS = (100_000, 10_000, 1000)  # see the module docstring


class GcPolicy:
    def __init__(self, freeze_every_s: float = 1.0, full_every_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.freeze_every_s = freeze_every_s
        self.full_every_s = full_every_s
        self._clock = clock
        self._saved: tuple[int, int, int] | None = None
        self._last_full = 0.0
        self.full_collections = 0

    @property
    def enabled(self) -> bool:
        return self.freeze_every_s > 0

    def install(self) -> None:
        if not self.enabled or self._saved is not None:
            return
        self._saved = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)
        self._last_full = self._clock()

    def tick(self) -> float | None:
        """Freeze what is alive; when a full collection is due, run it first. Its duration (s),
        or None when none ran."""
        if self._saved is None:
            return None
        now = self._clock()
        took = None
        if now - self._last_full >= self.full_every_s:
            gc.unfreeze()
            started = time.perf_counter()
            gc.collect()
            took = time.perf_counter() - started
            self._last_full = now
            self.full_collections += 1
            log.info("full garbage collection took %.3f s", took)
        gc.freeze()
        return took

    def uninstall(self) -> None:
        if self._saved is None:
            return
        gc.unfreeze()
        gc.set_threshold(*self._saved)
        self._saved = None
