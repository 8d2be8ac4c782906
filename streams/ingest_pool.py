"""Where the ingest stage's validation runs: in a child process, or in the event loop.

Why a child process: a worker's Python runs on one core (the GIL), and validating and
re-encoding the input (`streams/core/ingest_batch.py`) was about a fifth of that core's work,
while the machine's other core sat mostly idle (the broker and chDB's inserts use a little of
it). In a child the loop goes on with the customer and alert stages while a batch is validated.
The child is a pure function server: it holds no state, reads no topic and commits nothing, so
delivery, offsets and rebalances stay the ingest consumer's (`ingest_consumer.py`), unchanged.

`SQM_INGEST_PROCESSES` = 0 validates in the event loop (no child).

The child runs the worker's garbage-collector policy (`streams/gc_policy.py`): a batch's
temporaries (parsed events, their wire lists) outlive 700 allocations, so the stock thresholds
scanned them again and again, and full collections rescanned every object inherited from the
fork server (~20% of the validation's CPU: 9.3 against 7.4 µs a line).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from sqm.streams import helper_processes
from sqm.streams.core.ingest_batch import RoutedBatch, route_batch
from sqm.streams.gc_policy import GcPolicy

log = logging.getLogger(__name__)

Routing = RoutedBatch | Future[RoutedBatch]  # done, or running in a child


class IngestRouter:
    """`route_batch` for the ingest stage, in `processes` child processes (0: in the caller)."""

    def __init__(self, processes: int = 0) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the children and have them import the validation code now (a second or so),
        so that the first batch does not wait for it. Idempotent."""
        if self.processes <= 0 or self._pool is not None:
            return
        # From the fork server, not a fork of this threaded process (streams/helper_processes.py).
        self._pool = ProcessPoolExecutor(
            self.processes, mp_context=helper_processes.context(),
            initializer=_child_init, initargs=(os.getpid(),))
        self._pool.submit(_route_in_child, [], [], 1, 0, 0)

    def submit(self, values: Sequence[bytes | None], sources: Sequence[int], partitions: int,
               horizon_ms: int, max_future_s: int, max_past_days: int = 0, *,
               encode: bool = True) -> Routing:
        """Start `route_batch` on these values; `result` awaits it. Without children it runs
        here, at once."""
        if self._pool is None:
            return route_batch(values, sources, partitions, horizon_ms, max_future_s,
                               max_past_days, encode=encode)
        return self._pool.submit(_route_in_child, values, sources, partitions, horizon_ms,
                                 max_future_s, max_past_days, encode=encode)

    @staticmethod
    async def result(routing: Routing) -> RoutedBatch:
        if isinstance(routing, RoutedBatch):
            return routing
        return await asyncio.wrap_future(routing)

    @property
    def pids(self) -> list[int]:
        """The child processes' ids (for measurements)."""
        return list(getattr(self._pool, "_processes", None) or ())

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)



_gc = GcPolicy(0)  # a child's (installed by _child_init)


def _child_init(parent: int) -> None:
    global _gc
    helper_processes.child_init(parent)
    _gc = GcPolicy()
    _gc.install()
    _gc.tick()  # what the fork server imported: never scanned again


def _route_in_child(values: Sequence[bytes | None], sources: Sequence[int], partitions: int,
                    horizon_ms: int, max_future_s: int, max_past_days: int = 0, *,
                    encode: bool = True) -> RoutedBatch:
    _gc.tick()  # between batches little is alive; a full collection when one is due
    return route_batch(values, sources, partitions, horizon_ms, max_future_s, max_past_days,
                       encode=encode)
