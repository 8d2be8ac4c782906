"""The direct runner's alert stage, in worker processes or in the caller.

On the event clock the alert stage evaluates the rules at every minute where a window or a
waiting contact changes, for the whole history; it needs nothing from the customer stage but the
alert-input messages, which are bytes already. So its partitions can run in other processes
while the caller goes on with the next chunk's customers: a partition goes to a worker at the
first chunk with messages for it, to the one with the least input so far (bytes; a chunk's
partitions largest first), and lives there for the whole replay (its state never moves; the
same `AlertStage` on in-memory state as in the caller). By `p % processes` instead, the busy
partitions of a few tenants could all land in one worker while another idled. Each worker
takes its chunks in order (one process per pool: first in, first out), and the changes are
merged in `AlertStage.prepare`'s order: every partition's applied messages, then every
partition's evaluation, each in partition order. The output is the same with any number of
workers and any placement (tests/unit/test_direct_workers.py,
tests/integration/test_direct_workers.py).
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Future, ProcessPoolExecutor

from sqm.streams.core.alerting import AlertChange, AlertConfig
from sqm.streams.core.alerting.changes import ChangeColumns, change_columns, joined_columns
from sqm.streams.core.partitions import MemoryPartitions
from sqm.streams.core.ports import Rows
from sqm.streams.core.stages.alerts import AlertStage
from sqm.streams.gc_policy import GcPolicy
from sqm.streams.helper_processes import child_init, context

Inputs = dict[int, list[bytes]]  # partition -> its alert-input messages of one chunk
Split = dict[int, tuple[list[AlertChange], list[AlertChange]]]  # p -> (applied, evaluated)
ColumnSplit = dict[int, tuple[ChangeColumns, ChangeColumns]]  # the same, as columns
Pending = list[AlertChange] | list[Future[ColumnSplit]]

_stage: AlertStage | None = None  # a worker's stage (its own partitions only)
_gc = GcPolicy(0)


def step_split(stage: AlertStage, inputs: Inputs) -> Split:
    """`AlertStage.prepare(inputs, event_clock=True)` on in-memory state, with each
    partition's changes kept apart, so that several workers' can be merged in its order."""
    applied: dict[int, list[AlertChange]] = {}
    for p, values in inputs.items():
        part = stage.partition(p)
        applied[p] = [c for value in values for c in part.apply(value)]
    out: Split = {}
    for p in inputs:
        part = stage.partition(p)
        out[p] = (applied[p], part.evaluate_event_clock(stage.lateness_ms))
        monitor = part.monitor  # no changelog: drop the parts' change marks as they come
        monitor.rolling.take_changed()
        monitor.waiting.take_changed()
        monitor.waits.take_changed()
    return out


def merge(split: Split, partitions: int) -> list[AlertChange]:
    """The changes in `AlertStage.prepare`'s order."""
    present = [p for p in range(partitions) if p in split]
    return ([c for p in present for c in split[p][0]]
            + [c for p in present for c in split[p][1]])


def _init(parent: int, config: AlertConfig, lateness_ms: int,
          gc_every: tuple[float, float]) -> None:
    global _stage, _gc
    child_init(parent)
    _stage = AlertStage(config, MemoryPartitions(), lateness_ms=lateness_ms)
    _gc = GcPolicy(*gc_every)
    _gc.install()


def _step_owned(inputs: Inputs) -> ColumnSplit:
    assert _stage is not None
    out = step_split(_stage, inputs)
    _gc.tick()
    # Sent back as columns (the rows the caller writes): pickling the changes one object each,
    # and unpickling them in the caller, cost ten times as much.
    return {p: (change_columns(applied), change_columns(evaluated))
            for p, (applied, evaluated) in out.items()}


class AlertPartitions:
    """The alert stage's `n` partitions, in `processes` worker processes (0: in the caller,
    at once, through `AlertStage.prepare` itself)."""

    def __init__(self, n: int, config: AlertConfig, lateness_ms: int, processes: int,
                 gc_policy: GcPolicy | None = None) -> None:
        self.n = n
        self.local = AlertStage(config, MemoryPartitions(), lateness_ms=lateness_ms) if (
            processes <= 0) else None
        self.owner: dict[int, int] = {}  # partition -> its worker, from its first messages on
        self._load: list[int] = []  # per worker: the input bytes of its partitions so far
        self._pools: list[ProcessPoolExecutor] = []
        if processes > 0:
            # From the fork server, not a fork of this threaded process
            # (streams/helper_processes.py).
            mp_context = context()
            gc_every = (gc_policy.freeze_every_s, gc_policy.full_every_s) if gc_policy else (
                0.0, 600.0)
            for _ in range(min(processes, n)):
                self._load.append(0)
                self._pools.append(ProcessPoolExecutor(
                    1, mp_context=mp_context, initializer=_init,
                    initargs=(os.getpid(), config, lateness_ms, gc_every)))
            for pool in self._pools:  # start and import now, beside the first chunk's work
                pool.submit(_step_owned, {})

    def submit(self, inputs: list[list[bytes]]) -> Pending:
        """Start one chunk (inputs per partition); `result` gives its changes."""
        if self.local is not None:
            return self.local.prepare({p: inputs[p] for p in range(self.n)},
                                      event_clock=True).changes
        size = [sum(len(value) for value in values) for values in inputs]
        # A partition that never had a message has no state: nothing to apply or evaluate.
        new = sorted((p for p in range(self.n) if inputs[p] and p not in self.owner),
                     key=lambda p: -size[p])
        for p in new:
            self.owner[p] = min(range(len(self._pools)), key=lambda i: self._load[i])
            self._load[self.owner[p]] += size[p]
        owned: list[dict[int, list[bytes]]] = [{} for _ in self._pools]
        for p, worker in sorted(self.owner.items()):
            owned[worker][p] = inputs[p]
            if p not in new:
                self._load[worker] += size[p]
        return [pool.submit(_step_owned, chunk) for pool, chunk in zip(
            self._pools, owned, strict=True)]

    async def result(self, pending: Pending) -> ChangeColumns:
        """The chunk's changes in `AlertStage.prepare`'s order, as `sqm.alerts` columns."""
        if self.local is not None:
            return change_columns(pending)  # type: ignore[arg-type]
        split: ColumnSplit = {}
        for future in pending:
            assert isinstance(future, Future)
            done: ColumnSplit = await asyncio.wrap_future(future)
            split.update(done)
        present = [p for p in range(self.n) if p in split]
        return joined_columns([split[p][0] for p in present] + [split[p][1] for p in present])

    @staticmethod
    def rows(columns: ChangeColumns) -> Rows:
        """What the alert stage writes for these changes (`AlertStage`'s rows)."""
        return {"alerts": columns} if columns["alert_id"] else {}

    def pids(self) -> list[int]:
        """The worker processes' ids (for tests and measurements)."""
        return [pid for pool in self._pools for pid in (getattr(pool, "_processes", None) or ())]

    def close(self) -> None:
        pools, self._pools = self._pools, []
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)
